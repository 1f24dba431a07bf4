// Time of one lago suggestion (Strategy::Suggest, the server's work per
// SuggestTrials apart from storage) against the number of observations and d,
// in gradient-enhanced mode on a shifted sphere. Prints a Markdown table of the
// median and maximum per block of observations.
//
//   build/bench/optimizers/suggest_time [--dims 2,6,10] [--evaluations 100]
//       [--options key=value,...] [--baseline key=value,...]
//
// --options sets strategy options. With --baseline a second study with those
// options runs beside the first, one suggestion each in turn, so that both
// see the same load; the table then has its columns too and the ratio of the
// medians (baseline / options), and the memory the strategies keep models in
// (lago_strategy.h: ModelCacheBytes).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/lago_strategy.h"
#include "core/strategy.h"

namespace {

using lago::core::CompletedPoint;
using lago::core::Problem;
using lago::core::StrategyInput;
using lago::core::Suggestion;

// "key=value,key=value" into strategy options; false on a malformed entry.
bool ParseOptions(const char* text, std::map<std::string, std::string>* options) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> kv = absl::StrSplit(part, '=');
    if (kv.first.empty() || part.find('=') == absl::string_view::npos) return false;
    (*options)[kv.first] = kv.second;
  }
  return true;
}

// One study driven on the sphere, with the times of its current block.
struct Run {
  std::unique_ptr<lago::core::Strategy> strategy;
  std::string state;
  std::vector<CompletedPoint> done;
  std::vector<double> block;
  int refits = 0;

  bool Step() {
    StrategyInput input;
    input.state = state;
    input.completed = done;
    const auto start = std::chrono::steady_clock::now();
    auto out = strategy->Suggest(input);
    const double ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    if (!out.ok()) {
      std::fprintf(stderr, "suggest_time: %s\n", out.status().ToString().c_str());
      return false;
    }
    state = out->state;
    refits += out->report.summary.find("refit") != std::string::npos;
    const Suggestion& s = out->suggestions[0];
    CompletedPoint p;
    p.trial_id = static_cast<int64_t>(done.size()) + 1;
    p.x = s.x;
    p.value = (s.x.array() - 0.3).square().sum();
    p.gradient = (2.0 * (s.x.array() - 0.3)).matrix();
    p.kind = s.kind;
    p.sequence_index = s.why.sequence_index;
    done.push_back(p);
    block.push_back(ms);
    return true;
  }

  // Median and maximum of the block, then a new block.
  std::pair<double, double> Close() {
    std::sort(block.begin(), block.end());
    const std::pair<double, double> out = {block[block.size() / 2], block.back()};
    block.clear();
    return out;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> dims = {2, 6, 10};
  int evaluations = 100;
  std::map<std::string, std::string> options;
  std::optional<std::map<std::string, std::string>> baseline;
  for (int i = 1; i < argc; i += 2) {
    const bool has_value = i + 1 < argc;
    bool ok = has_value;
    if (std::strcmp(argv[i], "--dims") == 0 && has_value) {
      dims.clear();
      for (absl::string_view part : absl::StrSplit(argv[i + 1], ',')) {
        int d = 0;
        ok = ok && absl::SimpleAtoi(part, &d) && d >= 1;
        dims.push_back(d);
      }
    } else if (std::strcmp(argv[i], "--evaluations") == 0 && has_value) {
      ok = absl::SimpleAtoi(argv[i + 1], &evaluations) && evaluations >= 20;
    } else if (std::strcmp(argv[i], "--options") == 0 && has_value) {
      ok = ParseOptions(argv[i + 1], &options);
    } else if (std::strcmp(argv[i], "--baseline") == 0 && has_value) {
      baseline.emplace();
      ok = ParseOptions(argv[i + 1], &*baseline);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(
          stderr,
          "suggest_time: bad argument \"%s\"; usage: suggest_time [--dims 2,6,10] "
          "[--evaluations N >= 20] [--options k=v,...] [--baseline k=v,...]\n",
          argv[i]);
      return 2;
    }
  }
  if (baseline.has_value()) {
    std::printf(
        "| d | observations | median ms | max ms | refits in block | baseline: median ms "
        "| "
        "baseline: max ms | baseline: refits | baseline / options: median | kept models "
        "MB "
        "|\n|---|---|---|---|---|---|---|---|---|---|\n");
  } else {
    std::printf(
        "| d | observations | median ms | max ms | refits in block "
        "|\n|---|---|---|---|---|\n");
  }
  for (int d : dims) {
    Problem problem;
    problem.dimension = d;
    problem.gradient_mode = lago::core::GradientMode::kEnhanced;
    problem.seed = 1;
    std::vector<Run> runs(baseline.has_value() ? 2 : 1);
    for (size_t r = 0; r < runs.size(); ++r) {
      problem.options = r == 0 ? options : *baseline;
      auto strategy = lago::core::MakeStrategy("lago", problem);
      if (!strategy.ok()) {
        std::fprintf(stderr, "suggest_time: %s\n", strategy.status().ToString().c_str());
        return 2;
      }
      runs[r].strategy = *std::move(strategy);
    }
    for (int i = 0; i < evaluations; ++i) {
      for (Run& run : runs) {
        if (!run.Step()) return 1;
      }
      if ((i + 1) % 20 != 0) continue;
      std::printf("| %d | %d-%d", d, i - 18, i + 1);
      std::vector<double> medians;
      for (Run& run : runs) {
        const auto [median, max] = run.Close();
        std::printf(" | %.1f | %.1f | %d", median, max, run.refits);
        medians.push_back(median);
        run.refits = 0;
      }
      if (runs.size() == 2) {
        if (medians[0] > 0.0) {
          std::printf(" | %.2f", medians[1] / medians[0]);
        } else {
          std::printf(" | -");
        }
        std::printf(" | %.1f",
                    static_cast<double>(lago::core::ModelCacheBytes()) / (1 << 20));
      }
      std::printf(" |\n");
      std::fflush(stdout);
    }
  }
  return 0;
}
