// A Gaussian process over values and gradients (LAGO.md section 2).
//
// Data: n points in the unit cube; each contributes its value and, when it has
// one, its gradient, so the covariance matrix K has N = sum_i (1 + g [i has a
// gradient]) rows, with g = d, or fewer when GpOptions::gradient_coordinates
// says which coordinates a gradient covers. The prior mean is a constant for values and
// zero for gradients; outputs are standardised (values minus the mean, values and
// gradients divided by the standard deviation of the values) unless told not
// to. K carries a nugget on its diagonal; when the Cholesky factorisation still
// fails, jitter is escalated and reported. With a gradient noise nu > 0 the
// gradient rows' diagonal is (1 + nu) times the kernel's, and with a value
// noise eta > 0 the value rows' diagonal is (1 + eta / m) times the kernel's:
// observations of f carry noise of variance eta s2, and a point that is the
// mean of m of them (GpPoint::replicates) eta s2 / m. A point's known noise
// variance (GpPoint::noise_variance) adds to its value row's diagonal, divided
// by the square of the standardisation's scale.
//
// Conditioning on one more point extends the Cholesky factor in O(N^2 (1 + d))
// without refactorising; removing a point is a rank update of the trailing
// factor. Only a change of hyperparameters refactorises (O(N^3)).
//
// Predictions are in the units of the observed values. Rasmussen & Williams
// (2006), eqs. (2.25)-(2.26) and (5.8)-(5.9) for the marginal likelihood and
// its gradient.
#ifndef LAGO_CORE_GP_H_
#define LAGO_CORE_GP_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/kernel.h"

namespace lago::core {

struct GpPoint {
  Eigen::VectorXd x;  // Unit cube.
  double value = 0.0;
  // Absent for a value-only point.
  std::optional<Eigen::VectorXd> gradient;
  // The variance of the value's observation noise when it is known, in the
  // values' own units (a noise standard deviation squared); 0 for an exact
  // value, or one whose noise only the fitted value noise describes.
  double noise_variance = 0.0;
  // How many measurements `value` is the mean of (>= 1): the fitted value
  // noise of that mean is eta s2 / replicates. Without a value noise,
  // measurements with known noises may be merged by the caller into their
  // precision-weighted mean, with noise_variance the variance of that mean;
  // with one, their weights would depend on eta, so each is a point.
  int replicates = 1;
  // The sum of squared deviations of those measurements from `value`, in the
  // values' units. Only the marginal likelihood reads it, and only for a
  // point without a known noise and with a value noise eta > 0: it is the
  // evidence on eta that the mean alone does not carry, so that a merged
  // point's likelihood equals that of its measurements taken one by one.
  double replicate_scatter = 0.0;
};

struct GpHyperparameters {
  // One entry per dimension; an isotropic fit keeps them equal.
  Eigen::VectorXd lengthscales;
  // Variance of the standardised outputs (s2).
  double output_scale = 1.0;
  // nu >= 0: the prior variance of every gradient observation is (1 + nu)
  // times the kernel's, as if the gradients carried variation of their own
  // that the kernel does not model (ripples finer than the lengthscales).
  // 0: gradients are exact, as in LAGO.md.
  double gradient_noise = 0.0;
  // eta >= 0: every observed value carries independent noise of variance
  // eta times the output scale (a noise-to-signal ratio, so that it keeps its
  // meaning when the outputs are standardised afresh). 0: values are exact,
  // as in LAGO.md. Predictions are of the latent f, without the noise.
  double value_noise = 0.0;
};

// GpOptions::quadratic_trend needs this many points per term of the trend.
inline constexpr int kTrendPointsPerTerm = 2;

struct GpOptions {
  KernelType kernel = KernelType::kMatern52;
  // Added to the diagonal of K, in standardised units.
  double nugget = 1e-9;
  // Subtract the mean of the values and divide by their standard deviation.
  bool standardize = true;
  // Prior mean of the values in their own units; default the mean of the data.
  std::optional<double> prior_mean;
  // A separable quadratic trend as the prior mean (our extension): with at
  // least kTrendPointsPerTerm times as many points as its 2d + 1 terms, the
  // values' prior mean is c + sum_i (b_i u_i + a_i u_i^2), u = x - 1/2,
  // fitted to the values by least squares with every a_i >= 0 (a bowl or a
  // slope in each coordinate, never a ridge, so that it never sends the
  // search to the box's faces), and the gradients' prior mean is its
  // gradient. The GP then models what the trend leaves. Ignored with
  // prior_mean or without standardize. Predictions include the trend.
  bool quadratic_trend = false;
  // Jitter tries after the nugget: 1e-8, 1e-7, ... times the output scale.
  int max_jitter_steps = 6;
  // The coordinates a gradient observation covers, increasing; empty means
  // all. A point's gradient still has d entries, and those of the other
  // coordinates (an integer or categorical parameter's) are not read: its
  // outputs are its value and the derivatives along these coordinates only.
  // Predictions of the gradient cover every coordinate.
  std::vector<int> gradient_coordinates;
};

struct Prediction {
  Eigen::VectorXd mean;
  // Of the latent f, without observation noise.
  Eigen::VectorXd variance;
};

class GaussianProcess {
 public:
  // Conditions on `points` (any of them may lack a gradient).
  // INVALID_ARGUMENT for a point of the wrong dimension or a non-finite entry;
  // FAILED_PRECONDITION when K stays indefinite after every jitter step.
  static absl::StatusOr<GaussianProcess> Create(int dimension, const GpOptions& options,
                                                const GpHyperparameters& hyperparameters,
                                                std::vector<GpPoint> points);

  int dimension() const { return kernel_.dimension(); }
  int num_points() const { return static_cast<int>(points_.size()); }
  // Rows of K.
  int num_outputs() const { return n_; }
  // The coordinates an observed gradient covers (all d unless
  // GpOptions::gradient_coordinates says otherwise).
  int num_gradient_coordinates() const {
    return static_cast<int>(gradient_index_.size()) - 1;
  }
  // The memory the model holds, in bytes (the factor with its spare
  // capacity, the output vectors and the points).
  int64_t MemoryBytes() const;
  const std::vector<GpPoint>& points() const { return points_; }
  const Kernel& kernel() const { return kernel_; }
  GpHyperparameters hyperparameters() const;
  // Jitter added beyond the nugget (0 when none was needed).
  double jitter() const { return jitter_; }
  // The constant of the prior mean (the trend's, when one was fitted).
  double prior_mean() const { return mean_; }
  // The trend's linear and quadratic coefficients (zero without a trend).
  const Eigen::VectorXd& trend_linear() const { return trend_lin_; }
  const Eigen::VectorXd& trend_quadratic() const { return trend_quad_; }
  double output_std() const { return scale_; }

  // Conditions on one more point without refactorising. The standardisation
  // stays as it was. FAILED_PRECONDITION (and nothing changes) when the point
  // makes K numerically singular even with jitter: the caller keeps it out of
  // the model.
  absl::Status AddPoint(GpPoint point);
  // Removes point `index` by a rank update of the factor.
  void RemovePoint(int index);
  // Standardises the outputs afresh from every point, as Create would. K is
  // in standardised units, so only the outputs and K^-1 y change (two
  // triangular solves, O(N^2)), unless some point has a known noise variance
  // and the scale changed: that noise is in the values' units, so K changes
  // and is refactorised (with the errors of Create).
  absl::Status Restandardize();
  // Refactorises with new hyperparameters (and new standardisation).
  absl::Status SetHyperparameters(const GpHyperparameters& hyperparameters);

  // Mean and variance of f at the columns of `x` (d x m), computed together.
  Prediction Predict(const Eigen::MatrixXd& x) const;
  // Only the mean at the columns of `x`: O(N) per point instead of O(N^2).
  Eigen::VectorXd PredictMean(const Eigen::MatrixXd& x) const;
  // Mean, variance and their gradients at one point.
  void PredictWithGradients(const Eigen::VectorXd& x, double* mean, double* variance,
                            Eigen::VectorXd* mean_gradient,
                            Eigen::VectorXd* variance_gradient) const;
  // The same at the columns of `x` (d x m): the means and variances (m), and
  // their gradients as the columns of d x m matrices. The triangular solves
  // take many columns at once (matrix products) rather than one point's
  // vector at a time.
  void PredictWithGradients(const Eigen::MatrixXd& x, Eigen::VectorXd* mean,
                            Eigen::VectorXd* variance, Eigen::MatrixXd* mean_gradient,
                            Eigen::MatrixXd* variance_gradient) const;
  // Hessian of the posterior mean of f at x (d x d).
  Eigen::MatrixXd MeanHessian(const Eigen::VectorXd& x) const;
  // Posterior of grad f(x): mean (d) and covariance (d x d).
  void GradientPosterior(const Eigen::VectorXd& x, Eigen::VectorXd* mean,
                         Eigen::MatrixXd* covariance) const;

  // log p(y | theta) of the standardised outputs, and its gradient in
  // theta = (log l_1, ..., log l_d, log s2), and log eta as entry d + 1 when
  // the value noise eta is above 0. With eta > 0 a point of m replicates
  // (without a known noise) counts as its m measurements, with their scatter.
  double LogMarginalLikelihood(Eigen::VectorXd* gradient = nullptr) const;

 private:
  GaussianProcess(const GpOptions& options, Kernel kernel);

  // Rebuilds K from points_ and factorises it with nugget, then jitter.
  absl::Status Refactorize();
  void Standardize();
  // Fits mean_, trend_lin_ and trend_quad_ when the options ask for a trend
  // and there are enough points; false (nothing changed) otherwise.
  bool FitTrend();
  // The trend beyond mean_ at x, and its gradient (0 without a trend).
  double Trend(const Eigen::VectorXd& x) const;
  Eigen::VectorXd TrendGradient(const Eigen::VectorXd& x) const;
  // Adds the trend at the columns of x to `means` (nothing without a trend).
  void AddTrend(const Eigen::MatrixXd& x, Eigen::Ref<Eigen::VectorXd> means) const;
  // z and alpha from scratch (two passes over L).
  void UpdateAlpha();
  // alpha from z (one pass over L).
  void BackSubstitute();
  // Cross-covariance of f(x) (and grad f(x) when `gradient`) with every
  // training output: Outputs(gradient) x N.
  Eigen::MatrixXd CrossCovariance(const Eigen::VectorXd& x, bool gradient) const;
  // cov(training outputs, f(x_c)) for the columns of `x`: N x m.
  Eigen::MatrixXd CrossCovarianceWithValues(const Eigen::MatrixXd& x) const;
  // K^-1 from the factor, in the lower triangle (the upper one is not set).
  Eigen::MatrixXd KInverseLower() const;
  // A point's known noise variance in standardised units.
  double KnownNoise(const GpPoint& p) const {
    return p.noise_variance / (scale_ * scale_);
  }
  // Standardised outputs of point i.
  void StandardizedOutputs(const GpPoint& p, Eigen::Ref<Eigen::VectorXd> out) const;
  // Rows of K for a training point: 1, or 1 + num_gradient_coordinates().
  int Outputs(bool gradient) const {
    return gradient ? static_cast<int>(gradient_index_.size()) : 1;
  }
  // The covariance of two training points' outputs (Outputs(a_gradient) x
  // Outputs(b_gradient)), and of f(x) (and grad f(x), all d, when
  // `x_gradient`) with a training point's outputs.
  void TrainingCovariance(const GpPoint& a, const GpPoint& b,
                          Eigen::Ref<Eigen::MatrixXd> out) const;
  void QueryCovariance(const Eigen::VectorXd& x, bool x_gradient, const GpPoint& p,
                       Eigen::Ref<Eigen::MatrixXd> out) const;
  // A weight block over training outputs, spread onto the kernel's full
  // outputs (1 + d for a gradient point) with zeros elsewhere.
  Eigen::MatrixXd FullWeights(const Eigen::Ref<const Eigen::MatrixXd>& w, bool a_gradient,
                              bool b_gradient) const;
  auto L() const { return factor_.topLeftCorner(n_, n_); }
  auto L() { return factor_.topLeftCorner(n_, n_); }
  void Reserve(int rows);

  GpOptions options_;
  Kernel kernel_;
  std::vector<GpPoint> points_;
  std::vector<int> offsets_;  // First row of each point in K.
  // Kernel outputs a gradient point keeps: 0 (the value), then 1 + c for
  // every gradient coordinate c.
  std::vector<int> gradient_index_;
  // A value-only point's one output, for the same gathers.
  std::vector<int> value_index_ = {0};
  bool partial_ = false;  // Some coordinates have no observed derivative.
  int n_ = 0;
  // The lower Cholesky factor lives in the top-left n_ x n_ corner of a
  // buffer with spare capacity, so that adding rows does not copy it.
  Eigen::MatrixXd factor_;
  Eigen::VectorXd y_;      // Standardised outputs (N).
  Eigen::VectorXd z_;      // L^-1 y (N): adding rows only appends to it.
  Eigen::VectorXd alpha_;  // K^-1 y = L^-T z (N).
  double mean_ = 0.0;
  // GpOptions::quadratic_trend beyond mean_: lin' u + quad' u^2 (d each),
  // when trend_ (a trend was fitted at the last standardisation).
  bool trend_ = false;
  Eigen::VectorXd trend_lin_;
  Eigen::VectorXd trend_quad_;
  double scale_ = 1.0;
  double jitter_ = 0.0;
  double gradient_noise_ = 0.0;
  double value_noise_ = 0.0;
};

// INVALID_ARGUMENT naming `field` unless `coordinates` (as
// GpOptions::gradient_coordinates) increase and lie in [0, dimension).
absl::Status CheckCoordinates(const std::vector<int>& coordinates, int dimension,
                              absl::string_view field);

// The smallest scaled distance ||(x - p) / l|| from x to any of `points`
// (infinity when there are none): the minimum-distance rule keeps a point out
// of the global model when this is below nu (authors: 0.1).
double MinScaledDistance(const Eigen::VectorXd& x, const std::vector<GpPoint>& points,
                         const Eigen::VectorXd& lengthscales);

}  // namespace lago::core

#endif  // LAGO_CORE_GP_H_
