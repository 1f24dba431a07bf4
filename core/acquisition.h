// Acquisition functions for minimisation and their optimiser over the box
// with an excluded ball (LAGO.md section 3, step 2).
//
// With posterior mean mu(x), standard deviation sigma(x), target f* (the
// incumbent value) and z = (f* - mu) / sigma:
//   EI     = sigma h(z),  h(z) = z Phi(z) + phi(z)        (Jones et al. 1998)
//   LogEI  = log sigma + log h(z)                          (Ament et al. 2023)
//   UCB    = -mu + beta sigma   (the lower confidence bound, negated)
// log h is evaluated directly for z > -3 and, below, through the continued
// fraction of the Mills ratio R(t) = Q(t) / phi(t), t = -z:
//   h(z) = phi(t) c R,  R = 1 / (t + c),  c = 1 / (t + 2 / (t + 3 / (t + ...))),
// which has no cancellation, so LogEI stays finite and accurate where EI
// underflows to 0 (z below about -38).
#ifndef LAGO_CORE_ACQUISITION_H_
#define LAGO_CORE_ACQUISITION_H_

#include <cstdint>
#include <functional>
#include <optional>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "core/gp.h"

namespace lago::core {

// log h(z) and d log h / dz = Phi(z) / h(z).
double LogH(double z, double* dlogh_dz = nullptr);

enum class AcquisitionType {
  kExpectedImprovement,
  kLogExpectedImprovement,
  kUpperConfidence
};

class Acquisition {
 public:
  // `target` is the incumbent value f*; `beta` is used by UCB only. The GP
  // must outlive this object.
  Acquisition(const GaussianProcess& gp, AcquisitionType type, double target,
              double beta = 2.0);

  // Values at the columns of x (d x m), computed together.
  Eigen::VectorXd Evaluate(const Eigen::MatrixXd& x) const;
  // The value at x and its gradient.
  double EvaluateWithGradient(const Eigen::VectorXd& x, Eigen::VectorXd* gradient) const;

  AcquisitionType type() const { return type_; }
  const GaussianProcess& gp() const { return gp_; }

 private:
  double FromMoments(double mean, double variance, const Eigen::VectorXd* dmean,
                     const Eigen::VectorXd* dvariance, Eigen::VectorXd* gradient) const;

  const GaussianProcess& gp_;
  AcquisitionType type_;
  double target_;
  double beta_;
  // sigma below this counts as zero (relative to the output std).
  double sigma_floor_;
};

struct AcquisitionSearchOptions {
  // Scrambled Sobol candidates scored in one batch.
  int candidates = 2048;
  // The best candidates refined by a bounded gradient method.
  int refine = 10;
  // Objective evaluations per refinement.
  int max_evaluations = 100;
  // Points within `excluded_radius` of `excluded_center` are infeasible.
  std::optional<Eigen::VectorXd> excluded_center;
  double excluded_radius = 0.0;
  // Points within `avoid_radius` of any of these (the points in flight) are
  // infeasible too.
  std::vector<Eigen::VectorXd> avoid;
  double avoid_radius = 0.0;
  // The result is never within `repeat_radius` of these (the points already
  // observed). Unlike the balls above they do not constrain the refinement:
  // a refinement that runs into one of them (as into a box corner observed
  // before, once EI is flat) leaves the best point found away from them.
  std::vector<Eigen::VectorXd> observed;
  double repeat_radius = 0.0;
  uint64_t seed = 0;
  // When set (a study with integer parameters, Problem::snap), only snapped
  // points are scored and returned: the candidates are snapped before they
  // are scored, and each refinement, which runs on the continuous
  // relaxation, counts by the score of its snapped end point.
  std::function<Eigen::VectorXd(const Eigen::VectorXd&)> snap;
};

struct AcquisitionOptimum {
  Eigen::VectorXd x;
  double value = 0.0;
  int evaluations = 0;
};

// Maximises the acquisition over [0, 1]^d outside the excluded balls.
// FAILED_PRECONDITION when no candidate lies outside them.
absl::StatusOr<AcquisitionOptimum> MaximizeAcquisition(
    const Acquisition& acquisition, const AcquisitionSearchOptions& options);

}  // namespace lago::core

#endif  // LAGO_CORE_ACQUISITION_H_
