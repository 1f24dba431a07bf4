// Time of one lago suggestion (Strategy::Suggest, the server's work per
// SuggestTrials apart from storage) against the number of observations and d,
// in gradient-enhanced mode on a shifted sphere. Prints a Markdown table of the
// median and maximum per block of observations.
//
//   build/bench/optimizers/suggest_time [--dims 2,6,10] [--evaluations 100]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/strategy.h"

using lago::core::CompletedPoint;
using lago::core::Problem;
using lago::core::StrategyInput;
using lago::core::Suggestion;

int main(int argc, char** argv) {
  std::vector<int> dims = {2, 6, 10};
  int evaluations = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--dims") == 0) {
      dims.clear();
      for (absl::string_view part : absl::StrSplit(argv[i + 1], ',')) {
        int d = 0;
        if (absl::SimpleAtoi(part, &d)) dims.push_back(d);
      }
    } else if (std::strcmp(argv[i], "--evaluations") == 0) {
      absl::SimpleAtoi(argv[i + 1], &evaluations);
    }
  }
  std::printf(
      "| d | observations | median ms | max ms | refits in block "
      "|\n|---|---|---|---|---|\n");
  for (int d : dims) {
    Problem problem;
    problem.dimension = d;
    problem.gradient_mode = lago::core::GradientMode::kEnhanced;
    problem.seed = 1;
    auto strategy = lago::core::MakeStrategy("lago", problem);
    if (!strategy.ok()) return 1;
    std::string state;
    std::vector<CompletedPoint> done;
    std::vector<double> block;
    int refits = 0;
    for (int i = 0; i < evaluations; ++i) {
      StrategyInput input;
      input.state = state;
      input.completed = done;
      const auto start = std::chrono::steady_clock::now();
      auto out = (*strategy)->Suggest(input);
      const double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count();
      if (!out.ok()) return 1;
      state = out->state;
      refits += out->report.summary.find("refit") != std::string::npos;
      const Suggestion& s = out->suggestions[0];
      CompletedPoint p;
      p.trial_id = i + 1;
      p.x = s.x;
      p.value = (s.x.array() - 0.3).square().sum();
      p.gradient = (2.0 * (s.x.array() - 0.3)).matrix();
      p.kind = s.kind;
      p.sequence_index = s.why.sequence_index;
      done.push_back(p);
      block.push_back(ms);
      if ((i + 1) % 20 == 0) {
        std::vector<double> sorted = block;
        std::sort(sorted.begin(), sorted.end());
        std::printf("| %d | %d-%d | %.1f | %.1f | %d |\n", d, i - 18, i + 1,
                    sorted[sorted.size() / 2], sorted.back(), refits);
        std::fflush(stdout);
        block.clear();
        refits = 0;
      }
    }
  }
  return 0;
}
