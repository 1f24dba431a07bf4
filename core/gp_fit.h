// Hyperparameters by maximum marginal likelihood (LAGO.md section 2).
//
// theta = (log l, log s2) for an isotropic kernel or (log l_1..l_d, log s2)
// for ARD, in bounds: the lengthscale floor is a fraction (default 0.1) of the
// fill distance of the data, so that the model cannot shrink its lengthscales
// below the resolution the data has. Several starts: the first at the given
// warm start (or a default), the others drawn from the seed; each is refined
// by NLopt's L-BFGS with the analytic gradient. Deterministic for a seed.
// Optionally the value noise too, as one more hyperparameter (log eta), and
// the gradient noise, over a grid of values (profile likelihood: a full fit
// for each).
#ifndef LAGO_CORE_GP_FIT_H_
#define LAGO_CORE_GP_FIT_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/gp.h"

namespace lago::core {

struct FitOptions {
  bool isotropic = false;
  // Refinements from different starting points, >= 1.
  int starts = 5;
  // Likelihood evaluations per start.
  int max_evaluations = 60;
  // Lengthscale bounds in the unit cube: [floor_factor * fill distance, max].
  double lengthscale_floor_factor = 0.1;
  double min_lengthscale = 1e-3;
  double max_lengthscale = 10.0;
  // Bounds of the standardised output scale.
  double min_output_scale = 1e-2;
  double max_output_scale = 1e2;
  // The first start; default lengthscales 0.3 sqrt(d) and output scale 1.
  std::optional<GpHyperparameters> warm_start;
  // Gradient noise (GpHyperparameters::gradient_noise) by profile likelihood:
  // every value here gets the full fit, and the most likely wins. Empty: the
  // warm start's gradient noise (0 without one), not fitted.
  std::vector<double> gradient_noise_grid;
  // Fit the value noise (GpHyperparameters::value_noise, eta) with the
  // lengthscales and output scale, in log space within [min_value_noise,
  // max_value_noise]; its first start is the warm start's, but at least
  // 1e-3. false: the warm start's value noise (0 without one), not fitted.
  bool fit_value_noise = false;
  double min_value_noise = 1e-6;
  double max_value_noise = 1e2;
  uint64_t seed = 0;
};

struct FitReport {
  double log_likelihood = 0.0;
  // Likelihood evaluations over all starts.
  int evaluations = 0;
  // Starts whose refinement ended normally.
  int starts_converged = 0;
  double fill_distance = 0.0;
  double lengthscale_floor = 0.0;
  double gradient_noise = 0.0;
  double value_noise = 0.0;
};

struct FitResult {
  GaussianProcess gp;
  FitReport report;
};

// Fits hyperparameters to `points` and returns the GP conditioned on them.
// INVALID_ARGUMENT for bad points or options; FAILED_PRECONDITION when no
// start gives a positive definite covariance.
absl::StatusOr<FitResult> FitGaussianProcess(int dimension, const GpOptions& gp_options,
                                             const std::vector<GpPoint>& points,
                                             const FitOptions& options);

// max over the cube of the distance to the nearest point, estimated on
// `probes` scrambled Sobol points; sqrt(d), the diameter, when there are none.
double FillDistance(const std::vector<GpPoint>& points, int dimension, int probes = 1024);

}  // namespace lago::core

#endif  // LAGO_CORE_GP_FIT_H_
