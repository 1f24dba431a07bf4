#include "core/acquisition.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlopt.hpp>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/sobol.h"

namespace lago::core {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kLogSqrt2Pi = 0.91893853320467274178;
// Depth of the continued fraction; at t = 3, its slowest point, 200 terms
// agree with the long-double direct formula to 1e-15 (see the tests).
constexpr int kFractionDepth = 200;
// Below this z, h(z) is computed by the continued fraction.
constexpr double kSwitch = -3.0;

}  // namespace

double LogH(double z, double* dlogh_dz) {
  if (z > kSwitch) {
    const double big_phi = 0.5 * std::erfc(-z * kInvSqrt2);
    const double small_phi = std::exp(-0.5 * z * z - kLogSqrt2Pi);
    const double h = z * big_phi + small_phi;
    if (dlogh_dz != nullptr) *dlogh_dz = big_phi / h;
    return std::log(h);
  }
  const double t = -z;
  double v = 0.0;
  for (int k = kFractionDepth; k >= 2; --k) v = k / (t + v);
  const double c = 1.0 / (t + v);
  if (dlogh_dz != nullptr) *dlogh_dz = 1.0 / c;
  // h = phi(t) c R with R = 1 / (t + c).
  return -0.5 * t * t - kLogSqrt2Pi + std::log(c) - std::log(t + c);
}

Acquisition::Acquisition(const GaussianProcess& gp, AcquisitionType type, double target,
                         double beta)
    : gp_(gp),
      type_(type),
      target_(target),
      beta_(beta),
      sigma_floor_(1e-9 * gp.output_std()) {}

double Acquisition::FromMoments(double mean, double variance,
                                const Eigen::VectorXd* dmean,
                                const Eigen::VectorXd* dvariance,
                                Eigen::VectorXd* gradient) const {
  double sigma = std::sqrt(std::max(variance, 0.0));
  bool floored = false;
  if (sigma < sigma_floor_) {
    sigma = sigma_floor_;
    floored = true;
  }
  Eigen::VectorXd dsigma;
  if (gradient != nullptr) {
    dsigma = floored ? Eigen::VectorXd::Zero(dmean->size())
                     : Eigen::VectorXd(*dvariance / (2 * sigma));
  }
  if (type_ == AcquisitionType::kUpperConfidence) {
    if (gradient != nullptr) *gradient = -*dmean + beta_ * dsigma;
    return -mean + beta_ * sigma;
  }
  const double z = (target_ - mean) / sigma;
  if (type_ == AcquisitionType::kExpectedImprovement) {
    const double big_phi = 0.5 * std::erfc(-z * kInvSqrt2);
    const double small_phi = std::exp(-0.5 * z * z - kLogSqrt2Pi);
    if (gradient != nullptr) *gradient = -big_phi * *dmean + small_phi * dsigma;
    return sigma * (z * big_phi + small_phi);
  }
  double dlogh = 0.0;
  const double log_h = LogH(z, gradient != nullptr ? &dlogh : nullptr);
  if (gradient != nullptr) {
    // d z = (-d mu - z d sigma) / sigma.
    *gradient = dsigma / sigma + dlogh * (-*dmean - z * dsigma) / sigma;
  }
  return std::log(sigma) + log_h;
}

Eigen::VectorXd Acquisition::Evaluate(const Eigen::MatrixXd& x) const {
  const Prediction p = gp_.Predict(x);
  Eigen::VectorXd out(x.cols());
  for (int i = 0; i < x.cols(); ++i) {
    out[i] = FromMoments(p.mean[i], p.variance[i], nullptr, nullptr, nullptr);
  }
  return out;
}

double Acquisition::EvaluateWithGradient(const Eigen::VectorXd& x,
                                         Eigen::VectorXd* gradient) const {
  double mean, variance;
  Eigen::VectorXd dmean, dvariance;
  gp_.PredictWithGradients(x, &mean, &variance, &dmean, &dvariance);
  return FromMoments(mean, variance, &dmean, &dvariance, gradient);
}

namespace {

// An infeasible ball.
struct Ball {
  Eigen::VectorXd center;
  double radius = 0.0;
};

struct Refinement {
  const Acquisition* acquisition = nullptr;
  std::vector<Ball> balls;
  // Balls the result stays out of without constraining the refinement.
  std::vector<Ball> repeats;
  int evaluations = 0;
  // Whether the refinement's own points may become the result (not when
  // only snapped points may).
  bool track_best = true;
  double best_value = -std::numeric_limits<double>::infinity();
  Eigen::VectorXd best_x;

  bool Feasible(const Eigen::VectorXd& x) const {
    return Outside(balls, x) && Outside(repeats, x);
  }

  static bool Outside(const std::vector<Ball>& set, const Eigen::VectorXd& x) {
    for (const Ball& b : set) {
      if ((x - b.center).norm() < b.radius) return false;
    }
    return true;
  }
};

double RefineObjective(const std::vector<double>& x, std::vector<double>& gradient,
                       void* data) {
  auto* r = static_cast<Refinement*>(data);
  ++r->evaluations;
  const Eigen::VectorXd point = Eigen::Map<const Eigen::VectorXd>(x.data(), x.size());
  Eigen::VectorXd g;
  const double value = r->acquisition->EvaluateWithGradient(point, &g);
  if (!gradient.empty()) Eigen::Map<Eigen::VectorXd>(gradient.data(), x.size()) = g;
  if (r->track_best && std::isfinite(value) && value > r->best_value &&
      r->Feasible(point)) {
    r->best_value = value;
    r->best_x = point;
  }
  return value;
}

// r^2 - ||x - c||^2 <= 0: outside the ball.
double BallConstraint(const std::vector<double>& x, std::vector<double>& gradient,
                      void* data) {
  const auto* ball = static_cast<const Ball*>(data);
  const Eigen::VectorXd delta =
      Eigen::Map<const Eigen::VectorXd>(x.data(), x.size()) - ball->center;
  if (!gradient.empty())
    Eigen::Map<Eigen::VectorXd>(gradient.data(), x.size()) = -2.0 * delta;
  return ball->radius * ball->radius - delta.squaredNorm();
}

}  // namespace

absl::StatusOr<AcquisitionOptimum> MaximizeAcquisition(
    const Acquisition& acquisition, const AcquisitionSearchOptions& options) {
  const int d = acquisition.gp().dimension();
  auto sobol = SobolSequence::Create(d, options.seed);
  if (!sobol.ok()) return sobol.status();
  Refinement refinement;
  refinement.acquisition = &acquisition;
  refinement.track_best = !options.snap;
  if (options.excluded_center.has_value() && options.excluded_radius > 0.0) {
    refinement.balls.push_back({*options.excluded_center, options.excluded_radius});
  }
  if (options.avoid_radius > 0.0) {
    for (const Eigen::VectorXd& c : options.avoid)
      refinement.balls.push_back({c, options.avoid_radius});
  }
  if (options.repeat_radius > 0.0) {
    for (const Eigen::VectorXd& c : options.observed)
      refinement.repeats.push_back({c, options.repeat_radius});
  }
  std::vector<Eigen::VectorXd> feasible;
  feasible.reserve(options.candidates);
  for (int i = 0; i < options.candidates; ++i) {
    Eigen::VectorXd x = sobol->Point(i);
    if (options.snap) x = options.snap(x);
    if (refinement.Feasible(x)) feasible.push_back(std::move(x));
  }
  if (feasible.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no candidate lies outside the excluded ball of radius ", options.excluded_radius,
        " and the ", options.avoid.size(), " balls of radius ", options.avoid_radius,
        " around points in flight, at least ", options.repeat_radius,
        " from every observed point"));
  }
  Eigen::MatrixXd x(d, feasible.size());
  for (size_t i = 0; i < feasible.size(); ++i) x.col(i) = feasible[i];
  const Eigen::VectorXd values = acquisition.Evaluate(x);
  std::vector<int> order(feasible.size());
  std::iota(order.begin(), order.end(), 0);
  const int keep = std::min<int>(options.refine, order.size());
  std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                    [&](int a, int b) { return values[a] > values[b]; });
  refinement.best_value = values[order[0]];
  refinement.best_x = x.col(order[0]);

  for (int k = 0; k < keep; ++k) {
    nlopt::opt opt(nlopt::LD_SLSQP, d);
    opt.set_lower_bounds(std::vector<double>(d, 0.0));
    opt.set_upper_bounds(std::vector<double>(d, 1.0));
    opt.set_max_objective(RefineObjective, &refinement);
    for (Ball& ball : refinement.balls) {
      opt.add_inequality_constraint(BallConstraint, &ball, 1e-12);
    }
    opt.set_maxeval(options.max_evaluations);
    opt.set_xtol_rel(1e-10);
    std::vector<double> start(x.col(order[k]).data(), x.col(order[k]).data() + d);
    try {
      double value = 0.0;
      opt.optimize(start, value);
    } catch (const std::exception&) {
      // A refinement that stops early keeps the best feasible point it saw.
    }
    if (options.snap) {
      // NLopt leaves `start` at the best point it found.
      const Eigen::VectorXd end =
          options.snap(Eigen::Map<const Eigen::VectorXd>(start.data(), d));
      if (refinement.Feasible(end)) {
        const double value = acquisition.Evaluate(end)(0);
        ++refinement.evaluations;
        if (std::isfinite(value) && value > refinement.best_value) {
          refinement.best_value = value;
          refinement.best_x = end;
        }
      }
    }
  }
  return AcquisitionOptimum{refinement.best_x, refinement.best_value,
                            static_cast<int>(feasible.size()) + refinement.evaluations};
}

}  // namespace lago::core
