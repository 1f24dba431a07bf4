#include "core/gp_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlopt.hpp>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/sobol.h"

namespace lago::core {
namespace {

struct Objective {
  int dimension = 0;
  const GpOptions* gp_options = nullptr;
  const std::vector<GpPoint>* points = nullptr;
  bool isotropic = false;
  double gradient_noise = 0.0;
  // Fixed unless fitted, when it is the last entry of theta (log eta).
  double value_noise = 0.0;
  bool fit_value_noise = false;
  int evaluations = 0;
  // The best point seen, so that a refinement stopped by NLopt keeps it.
  double best_value = std::numeric_limits<double>::infinity();
  std::vector<double> best_theta;

  // theta's entry for log s2.
  int ScaleIndex() const { return isotropic ? 1 : dimension; }

  GpHyperparameters Unpack(const std::vector<double>& theta) const {
    GpHyperparameters h;
    h.lengthscales.resize(dimension);
    for (int i = 0; i < dimension; ++i)
      h.lengthscales[i] = std::exp(theta[isotropic ? 0 : i]);
    h.output_scale = std::exp(theta[ScaleIndex()]);
    h.gradient_noise = gradient_noise;
    h.value_noise = fit_value_noise ? std::exp(theta.back()) : value_noise;
    return h;
  }

  // Negative log marginal likelihood and its gradient in theta.
  double operator()(const std::vector<double>& theta, std::vector<double>& gradient) {
    ++evaluations;
    auto gp = GaussianProcess::Create(dimension, *gp_options, Unpack(theta), *points);
    if (!gp.ok()) {
      // Not positive definite here: a wall the optimiser backs away from.
      std::fill(gradient.begin(), gradient.end(), 0.0);
      return 1e300;
    }
    Eigen::VectorXd g;
    const double value = -gp->LogMarginalLikelihood(gradient.empty() ? nullptr : &g);
    if (!gradient.empty()) {
      if (isotropic) {
        gradient[0] = -g.head(dimension).sum();
      } else {
        for (int i = 0; i < dimension; ++i) gradient[i] = -g[i];
      }
      gradient[ScaleIndex()] = -g[dimension];
      // g has the entry for log eta only when eta > 0, as it is when fitted.
      if (fit_value_noise) gradient.back() = -g[dimension + 1];
    }
    if (value < best_value) {
      best_value = value;
      best_theta = theta;
    }
    return value;
  }
};

double Evaluate(const std::vector<double>& theta, std::vector<double>& gradient,
                void* data) {
  return (*static_cast<Objective*>(data))(theta, gradient);
}

}  // namespace

double FillDistance(const std::vector<GpPoint>& points, int dimension, int probes) {
  if (points.empty()) return std::sqrt(static_cast<double>(dimension));
  auto sobol = SobolSequence::Create(dimension, /*seed=*/0x5EED);
  if (!sobol.ok()) return std::sqrt(static_cast<double>(dimension));
  double fill = 0.0;
  for (int i = 0; i < probes; ++i) {
    const Eigen::VectorXd probe = sobol->Point(i);
    double nearest = std::numeric_limits<double>::infinity();
    for (const GpPoint& p : points)
      nearest = std::min(nearest, (probe - p.x).squaredNorm());
    fill = std::max(fill, nearest);
  }
  return std::sqrt(fill);
}

absl::StatusOr<FitResult> FitGaussianProcess(int dimension, const GpOptions& gp_options,
                                             const std::vector<GpPoint>& points,
                                             const FitOptions& options) {
  if (dimension < 1 || options.starts < 1 || options.max_evaluations < 1 ||
      !(options.min_lengthscale > 0.0) ||
      !(options.max_lengthscale > options.min_lengthscale) ||
      !(options.min_output_scale > 0.0) ||
      !(options.max_output_scale > options.min_output_scale)) {
    return absl::InvalidArgumentError("fit options: inconsistent bounds or counts");
  }
  std::vector<double> noises = options.gradient_noise_grid;
  if (noises.empty()) {
    noises.push_back(options.warm_start.has_value() ? options.warm_start->gradient_noise
                                                    : 0.0);
  }
  for (double noise : noises) {
    if (!(noise >= 0.0 && std::isfinite(noise))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fit options: gradient noise ", noise, " is not a finite number >= 0"));
    }
  }
  if (options.fit_value_noise && !(options.min_value_noise > 0.0 &&
                                   options.max_value_noise > options.min_value_noise &&
                                   std::isfinite(options.max_value_noise))) {
    return absl::InvalidArgumentError("fit options: inconsistent value noise bounds");
  }
  const double fixed_value_noise =
      options.warm_start.has_value() ? options.warm_start->value_noise : 0.0;
  if (!(fixed_value_noise >= 0.0 && std::isfinite(fixed_value_noise))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fit options: value noise ", fixed_value_noise, " is not a finite number >= 0"));
  }
  FitReport report;
  report.fill_distance = FillDistance(points, dimension);
  report.lengthscale_floor =
      std::clamp(options.lengthscale_floor_factor * report.fill_distance,
                 options.min_lengthscale, 0.5 * options.max_lengthscale);

  const int scale_index = options.isotropic ? 1 : dimension;
  const int n = scale_index + 1 + (options.fit_value_noise ? 1 : 0);
  std::vector<double> lower(n, std::log(report.lengthscale_floor));
  std::vector<double> upper(n, std::log(options.max_lengthscale));
  lower[scale_index] = std::log(options.min_output_scale);
  upper[scale_index] = std::log(options.max_output_scale);
  if (options.fit_value_noise) {
    lower.back() = std::log(options.min_value_noise);
    upper.back() = std::log(options.max_value_noise);
  }

  auto clamp_into = [&](std::vector<double> theta) {
    for (int i = 0; i < n; ++i) theta[i] = std::clamp(theta[i], lower[i], upper[i]);
    return theta;
  };
  std::vector<std::vector<double>> starts;
  {
    const GpHyperparameters first = options.warm_start.value_or(GpHyperparameters{
        Eigen::VectorXd::Constant(dimension, 0.3 * std::sqrt(double(dimension))), 1.0});
    std::vector<double> theta(n);
    if (options.isotropic) {
      theta[0] = std::log(first.lengthscales.mean());
    } else {
      for (int i = 0; i < dimension; ++i) theta[i] = std::log(first.lengthscales[i]);
    }
    theta[scale_index] = std::log(first.output_scale);
    if (options.fit_value_noise) {
      // Near its lower bound the likelihood has next to no slope in log eta
      // (its derivative there is proportional to eta), so a fit started
      // there would stay: the first start is at least 1e-3.
      theta.back() = std::log(std::max(first.value_noise, 1e-3));
    }
    starts.push_back(clamp_into(theta));
  }
  std::mt19937_64 rng(options.seed);
  for (int s = 1; s < options.starts; ++s) {
    std::vector<double> theta(n);
    for (int i = 0; i < n; ++i) {
      theta[i] = lower[i] + (upper[i] - lower[i]) * ((rng() >> 11) * 0x1.0p-53);
    }
    starts.push_back(theta);
  }

  Objective objective;  // The most likely fit over the noise values.
  for (double noise : noises) {
    Objective o;
    o.dimension = dimension;
    o.gp_options = &gp_options;
    o.points = &points;
    o.isotropic = options.isotropic;
    o.gradient_noise = noise;
    o.value_noise = fixed_value_noise;
    o.fit_value_noise = options.fit_value_noise;
    for (std::vector<double> theta : starts) {
      nlopt::opt opt(nlopt::LD_LBFGS, n);
      opt.set_lower_bounds(lower);
      opt.set_upper_bounds(upper);
      opt.set_min_objective(Evaluate, &o);
      opt.set_maxeval(options.max_evaluations);
      opt.set_ftol_rel(1e-10);
      opt.set_xtol_rel(1e-8);
      try {
        double value = 0.0;
        const nlopt::result result = opt.optimize(theta, value);
        if (result > 0) ++report.starts_converged;
      } catch (const std::exception&) {
        // Round-off or a failed line search: the best point seen is kept.
      }
    }
    report.evaluations += o.evaluations;
    if (o.best_value < objective.best_value) objective = o;
  }
  if (objective.best_theta.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no hyperparameters give a positive definite covariance for ",
                     points.size(), " points"));
  }
  auto gp = GaussianProcess::Create(dimension, gp_options,
                                    objective.Unpack(objective.best_theta), points);
  if (!gp.ok()) return gp.status();
  report.log_likelihood = -objective.best_value;
  report.gradient_noise = gp->hyperparameters().gradient_noise;
  report.value_noise = gp->hyperparameters().value_noise;
  return FitResult{*std::move(gp), report};
}

}  // namespace lago::core
