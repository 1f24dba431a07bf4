#include "core/strategy.h"

#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/lago_strategy.h"
#include "core/sobol.h"
#include "core/status_macros.h"

namespace lago::core {
namespace {

// Both simple strategies keep one counter, stored as "next_index=<n>".
absl::StatusOr<uint64_t> ReadNextIndex(const std::string& state) {
  if (state.empty()) return 0;
  absl::string_view rest = state;
  uint64_t index = 0;
  if (!absl::ConsumePrefix(&rest, "next_index=") || !absl::SimpleAtoi(rest, &index)) {
    return absl::InvalidArgumentError(
        absl::StrCat("strategy state \"", state.substr(0, 64), "\" cannot be read"));
  }
  return index;
}

std::string WriteNextIndex(uint64_t index) { return absl::StrCat("next_index=", index); }

absl::Status CheckNoOptions(const std::string& name, const Problem& problem) {
  if (!problem.options.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("spec.strategy_options: strategy \"",
                                                   name, "\" takes no options; got \"",
                                                   problem.options.begin()->first, "\""));
  }
  return absl::OkStatus();
}

// Scrambled Sobol points in sequence; the state is the next index.
class SobolStrategy : public Strategy {
 public:
  SobolStrategy(SobolSequence sequence, const Problem& problem)
      : sequence_(std::move(sequence)), snap_(problem.snap) {}

  absl::StatusOr<StrategyOutput> Suggest(const StrategyInput& input) const override {
    ASSIGN_OR_RETURN(uint64_t next, ReadNextIndex(input.state));
    StrategyOutput out;
    for (int i = 0; i < input.count; ++i, ++next) {
      Suggestion s;
      s.x = sequence_.Point(next);
      if (snap_) s.x = snap_(s.x);
      s.kind = TrialKind::kInitial;
      s.why.winner = "sobol";
      s.why.sequence_index = static_cast<int64_t>(next);
      out.suggestions.push_back(std::move(s));
    }
    out.state = WriteNextIndex(next);
    out.report.summary = absl::StrCat("sobol next_index=", next);
    return out;
  }

 private:
  SobolSequence sequence_;
  std::function<Eigen::VectorXd(const Eigen::VectorXd&)> snap_;
};

// Independent uniform points; point i comes from its own generator seeded by
// (seed, i), so the sequence resumes exactly from the stored index.
class RandomStrategy : public Strategy {
 public:
  explicit RandomStrategy(const Problem& problem)
      : dimension_(problem.dimension), seed_(problem.seed), snap_(problem.snap) {}

  absl::StatusOr<StrategyOutput> Suggest(const StrategyInput& input) const override {
    ASSIGN_OR_RETURN(uint64_t next, ReadNextIndex(input.state));
    StrategyOutput out;
    for (int i = 0; i < input.count; ++i, ++next) {
      std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32),
                        static_cast<uint32_t>(next), static_cast<uint32_t>(next >> 32)};
      std::mt19937_64 rng(seq);
      Suggestion s;
      s.x.resize(dimension_);
      // 53 random bits per coordinate: uniform on a grid of [0, 1).
      for (int j = 0; j < dimension_; ++j) s.x[j] = (rng() >> 11) * 0x1.0p-53;
      if (snap_) s.x = snap_(s.x);
      s.kind = TrialKind::kInitial;
      s.why.winner = "random";
      s.why.sequence_index = static_cast<int64_t>(next);
      out.suggestions.push_back(std::move(s));
    }
    out.state = WriteNextIndex(next);
    out.report.summary = absl::StrCat("random next_index=", next);
    return out;
  }

 private:
  int dimension_;
  uint64_t seed_;
  std::function<Eigen::VectorXd(const Eigen::VectorXd&)> snap_;
};

}  // namespace

absl::StatusOr<ModelPrediction> Strategy::Predict(const StrategyInput& /*input*/,
                                                  absl::Span<const Eigen::VectorXd> /*x*/,
                                                  bool /*optimum*/) const {
  return absl::UnimplementedError("the strategy keeps no model");
}

std::vector<std::string> StrategyNames() {
  return {"bo", "lago", "random", "sobol", "trust-region"};
}

absl::StatusOr<std::unique_ptr<Strategy>> MakeStrategy(const std::string& name,
                                                       const Problem& problem) {
  if (name == "sobol") {
    RETURN_IF_ERROR(CheckNoOptions(name, problem));
    ASSIGN_OR_RETURN(SobolSequence sequence,
                     SobolSequence::Create(problem.dimension, problem.seed));
    return std::make_unique<SobolStrategy>(std::move(sequence), problem);
  }
  if (name == "random") {
    RETURN_IF_ERROR(CheckNoOptions(name, problem));
    return std::make_unique<RandomStrategy>(problem);
  }
  if (name == "lago") return MakeLagoStrategy(LagoVariant::kLago, problem);
  if (name == "bo") return MakeLagoStrategy(LagoVariant::kBo, problem);
  if (name == "trust-region") return MakeLagoStrategy(LagoVariant::kTrustRegion, problem);
  return absl::InvalidArgumentError(absl::StrCat(
      "spec.strategy: \"", name.substr(0, 64),
      "\" is not a strategy; known: ", absl::StrJoin(StrategyNames(), ", ")));
}

}  // namespace lago::core
