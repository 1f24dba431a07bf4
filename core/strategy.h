// The strategy interface: how the server asks any optimiser for points.
//
// A strategy is a pure function of (problem, stored state, completed and
// pending points, count): it returns suggestions, a report and its new state.
// All randomness derives from problem.seed and the state, so a server that
// restarts from the stored state continues the same run. No I/O, no clocks.
//
// Every point a strategy sees or returns is in the unit cube, and every value
// and gradient is in the minimisation sense (a maximisation study negates).
#ifndef LAGO_CORE_STRATEGY_H_
#define LAGO_CORE_STRATEGY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace lago::core {

enum class TrialKind {
  kInitial,
  kInformed,
  kGlobal,
  kLocal,
  kGradientAtIncumbent,
  kImported
};
enum class GradientMode { kNone, kEnhanced, kOnRequest };

struct Problem {
  // Coordinates of the unit cube: one per parameter, and one per choice of a
  // categorical parameter.
  int dimension = 1;
  // The number of parameters, when a categorical one spans several
  // coordinates; 0 means `dimension`. The initial design's size, which the
  // LAGO paper gives per dimension (5d), counts parameters.
  int parameters = 0;
  GradientMode gradient_mode = GradientMode::kNone;
  // Cost of one gradient in units of one value (kappa), > 0.
  double gradient_cost = 1.0;
  uint64_t seed = 0;
  std::map<std::string, std::string> options;
  // The nearest unit-cube point the study allows (its integer parameters at
  // whole numbers; SearchSpace::Snap), idempotent; unset when every
  // parameter is continuous. Every suggestion is snapped, and searches score
  // snapped points.
  std::function<Eigen::VectorXd(const Eigen::VectorXd&)> snap;
  // The coordinates an observed gradient covers, increasing: those of the
  // continuous parameters. Empty means every coordinate. In a gradient mode,
  // the others (an integer or categorical parameter's) have no derivative:
  // the model learns them from values.
  std::vector<int> gradient_coordinates;
  // The integer parameters' coordinates, increasing, none of them in
  // gradient_coordinates. In a gradient mode the trust region moves them with
  // the local model's entries along them taken from the GP mean, and holds
  // the other uncovered coordinates (a categorical parameter's choice).
  std::vector<int> integer_coordinates;
};

struct CompletedPoint {
  int64_t trial_id = 0;
  Eigen::VectorXd x;
  double value = 0.0;
  // Absent when the observation had no gradient.
  std::optional<Eigen::VectorXd> gradient;
  // The standard deviation of the value's noise when the client knows it
  // (v1::Trial::noise_std); 0 when it did not say.
  double noise_std = 0.0;
  TrialKind kind = TrialKind::kInitial;
  // The Why::sequence_index the strategy gave the point; absent for imports.
  std::optional<int64_t> sequence_index;
};

struct PendingPoint {
  int64_t trial_id = 0;
  Eigen::VectorXd x;
  TrialKind kind = TrialKind::kInitial;
  std::optional<int64_t> sequence_index;
};

struct StrategyInput {
  // Empty before the first suggestion of a study.
  std::string state;
  // In the order their results arrived.
  absl::Span<const CompletedPoint> completed;
  absl::Span<const PendingPoint> pending;
  // Number of suggestions wanted, >= 1.
  int count = 1;
};

// Why a point was chosen; absent fields were not computed.
struct Why {
  std::optional<double> acquisition_value;
  // The weight the competition gave acquisition_value (v1::TrialWhy).
  std::optional<double> acquisition_weight;
  std::optional<double> predicted_improvement;
  std::optional<double> radius;
  std::optional<int64_t> sequence_index;
  std::string winner;
};

struct Suggestion {
  Eigen::VectorXd x;
  TrialKind kind = TrialKind::kInitial;
  bool need_gradient = false;
  Why why;
};

// What the server logs about one call.
struct StrategyReport {
  std::string summary;
  // Things the operator should see (the server logs them as warnings).
  std::vector<std::string> warnings;
};

struct StrategyOutput {
  // Exactly input.count suggestions, or none when `finished` is set.
  std::vector<Suggestion> suggestions;
  std::string state;
  StrategyReport report;
  // Set when the strategy ends the study early (it has nothing left worth
  // evaluating): why, for the study's error message.
  std::optional<std::string> finished;
};

// The posterior of a strategy's model at one point: the objective's value
// (minimisation sense), its standard deviation (without observation noise)
// and their gradients with respect to the unit-cube coordinates.
struct PointPrediction {
  double mean = 0.0;
  double std = 0.0;
  Eigen::VectorXd mean_gradient;
  Eigen::VectorXd std_gradient;
};

// Where the model's mean is lowest over the unit cube, and its posterior
// there.
struct ModelOptimum {
  Eigen::VectorXd x;
  PointPrediction prediction;
};

struct ModelPrediction {
  // One per point asked for, in order.
  std::vector<PointPrediction> points;
  // When asked for.
  std::optional<ModelOptimum> optimum;
  // The completed points the model holds.
  int model_points = 0;
  // The kernel's lengthscales in unit-cube coordinates.
  Eigen::VectorXd lengthscales;
  // When the input state had no hyperparameters and they were fitted for
  // this prediction: the input state with them (else empty). Passed as the
  // state of a later prediction on the same completed points, it gives the
  // same model without fitting again.
  std::string fitted_state;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // INVALID_ARGUMENT when `input.state` cannot be read (a corrupt store).
  virtual absl::StatusOr<StrategyOutput> Suggest(const StrategyInput& input) const = 0;
  // The model's posterior at `x` (unit-cube points) given `input.completed`
  // and the stored state; reads the state, never changes it, and ignores
  // `input.pending` and `input.count`. With `optimum` it also searches the
  // cube for the lowest mean, as the informed step does. UNIMPLEMENTED for a
  // strategy that keeps no model; FAILED_PRECONDITION before the first result.
  virtual absl::StatusOr<ModelPrediction> Predict(const StrategyInput& input,
                                                  absl::Span<const Eigen::VectorXd> x,
                                                  bool optimum) const;
};

// The strategy called `name` for `problem`. INVALID_ARGUMENT naming the field
// for an unknown name or an option the strategy does not take.
absl::StatusOr<std::unique_ptr<Strategy>> MakeStrategy(const std::string& name,
                                                       const Problem& problem);

// The names MakeStrategy accepts, in a stable order.
std::vector<std::string> StrategyNames();

}  // namespace lago::core

#endif  // LAGO_CORE_STRATEGY_H_
