#include "core/gp.h"

#include <cmath>
#include <limits>

#include "Eigen/Cholesky"
#include "Eigen/QR"
#ifdef EIGEN_USE_LAPACKE
#include <lapacke.h>
#endif
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "core/triangular_solve.h"

namespace lago::core {
namespace {

constexpr double kLog2Pi = 1.83787706640934548356;

absl::Status CheckPoint(const GpPoint& p, int d, size_t index) {
  if (p.x.size() != d) {
    return absl::InvalidArgumentError(
        absl::StrCat("point ", index, " has ", p.x.size(), " coordinates; expected ", d));
  }
  if (!p.x.allFinite() || !std::isfinite(p.value)) {
    return absl::InvalidArgumentError(absl::StrCat("point ", index, " is not finite"));
  }
  if (p.gradient.has_value() && (p.gradient->size() != d || !p.gradient->allFinite())) {
    return absl::InvalidArgumentError(
        absl::StrCat("point ", index, " has a gradient of the wrong size or not finite"));
  }
  if (!(p.noise_variance >= 0.0 && std::isfinite(p.noise_variance))) {
    return absl::InvalidArgumentError(
        absl::StrCat("point ", index, " has a noise variance ", p.noise_variance,
                     "; it must be finite and >= 0"));
  }
  if (p.replicates < 1 || (p.gradient.has_value() && p.replicates != 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("point ", index, " has ", p.replicates,
                     " replicates; it must be 1 for a point with a gradient, else >= 1"));
  }
  if (!(p.replicate_scatter >= 0.0 && std::isfinite(p.replicate_scatter)) ||
      (p.replicates == 1 && p.replicate_scatter != 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("point ", index, " has a replicate scatter ", p.replicate_scatter,
                     "; it must be finite and >= 0, and 0 for a single measurement"));
  }
  return absl::OkStatus();
}

// L L' + v v' for lower-triangular L, in place (v is overwritten).
// Golub & Van Loan (2013), section 6.5.4.
void RankOneUpdate(Eigen::Ref<Eigen::MatrixXd> l, Eigen::Ref<Eigen::VectorXd> v) {
  const int n = static_cast<int>(l.rows());
  for (int k = 0; k < n; ++k) {
    const double lkk = l(k, k);
    const double r = std::hypot(lkk, v(k));
    const double c = r / lkk;
    const double s = v(k) / lkk;
    l(k, k) = r;
    const int rest = n - k - 1;
    if (rest > 0) {
      l.col(k).tail(rest) = (l.col(k).tail(rest) + s * v.tail(rest)) / c;
      v.tail(rest) = c * v.tail(rest) - s * l.col(k).tail(rest);
    }
  }
}

bool ValidHyperparameters(const GpHyperparameters& h, int dimension) {
  auto finite_non_negative = [](double v) { return v >= 0.0 && std::isfinite(v); };
  return h.lengthscales.size() == dimension && (h.lengthscales.array() > 0.0).all() &&
         h.output_scale > 0.0 && finite_non_negative(h.gradient_noise) &&
         finite_non_negative(h.value_noise);
}

}  // namespace

GaussianProcess::GaussianProcess(const GpOptions& options, Kernel kernel)
    : options_(options), kernel_(std::move(kernel)) {
  const int d = kernel_.dimension();
  gradient_index_.push_back(0);
  if (options_.gradient_coordinates.empty()) {
    for (int c = 0; c < d; ++c) gradient_index_.push_back(1 + c);
  } else {
    for (int c : options_.gradient_coordinates) gradient_index_.push_back(1 + c);
  }
  partial_ = static_cast<int>(gradient_index_.size()) != d + 1;
}

absl::StatusOr<GaussianProcess> GaussianProcess::Create(
    int dimension, const GpOptions& options, const GpHyperparameters& hyperparameters,
    std::vector<GpPoint> points) {
  if (!ValidHyperparameters(hyperparameters, dimension)) {
    return absl::InvalidArgumentError(
        "hyperparameters: need one positive lengthscale per dimension, a positive "
        "output scale and finite gradient and value noises >= 0");
  }
  for (size_t i = 0; i < points.size(); ++i) {
    RETURN_IF_ERROR(CheckPoint(points[i], dimension, i));
  }
  RETURN_IF_ERROR(
      CheckCoordinates(options.gradient_coordinates, dimension, "gradient_coordinates"));
  GaussianProcess gp(options, Kernel(options.kernel, hyperparameters.lengthscales,
                                     hyperparameters.output_scale));
  gp.points_ = std::move(points);
  gp.gradient_noise_ = hyperparameters.gradient_noise;
  gp.value_noise_ = hyperparameters.value_noise;
  RETURN_IF_ERROR(gp.Refactorize());
  return gp;
}

GpHyperparameters GaussianProcess::hyperparameters() const {
  return {kernel_.lengthscales(), kernel_.output_scale(), gradient_noise_, value_noise_};
}

int64_t GaussianProcess::MemoryBytes() const {
  int64_t doubles = factor_.size() + y_.size() + z_.size() + alpha_.size();
  for (const GpPoint& p : points_) {
    doubles += p.x.size() + (p.gradient.has_value() ? p.gradient->size() : 0) + 1;
  }
  return doubles * static_cast<int64_t>(sizeof(double)) +
         static_cast<int64_t>(offsets_.size() * sizeof(int));
}

void GaussianProcess::Reserve(int rows) {
  // Keeps the current n_ x n_ factor.
  if (factor_.rows() >= rows) return;
  const int capacity = std::max(rows, static_cast<int>(factor_.rows() * 3 / 2) + 16);
  Eigen::MatrixXd grown(capacity, capacity);
  grown.topLeftCorner(n_, n_) = factor_.topLeftCorner(n_, n_);
  factor_.swap(grown);
}

void GaussianProcess::Standardize() {
  const int n = num_points();
  double average = 0.0;
  for (const GpPoint& p : points_) average += p.value;
  average = n > 0 ? average / n : 0.0;
  mean_ = options_.prior_mean.value_or(average);
  trend_lin_.setZero(dimension());
  trend_quad_.setZero(dimension());
  // The scale of what the prior mean leaves: the values about their average,
  // or about the trend.
  trend_ = FitTrend();
  const double centre = trend_ ? mean_ : average;
  scale_ = 1.0;
  if (options_.standardize && n >= 2) {
    double ss = 0.0;
    for (const GpPoint& p : points_) {
      const double r = p.value - centre - Trend(p.x);
      ss += r * r;
    }
    const double sd = std::sqrt(ss / n);
    if (sd > 0.0 && std::isfinite(sd)) scale_ = sd;
  }
}

double GaussianProcess::Trend(const Eigen::VectorXd& x) const {
  if (!trend_) return 0.0;
  const Eigen::ArrayXd u = x.array() - 0.5;
  return (trend_lin_.array() * u + trend_quad_.array() * u * u).sum();
}

Eigen::VectorXd GaussianProcess::TrendGradient(const Eigen::VectorXd& x) const {
  if (!trend_) return Eigen::VectorXd::Zero(x.size());
  const Eigen::ArrayXd u = x.array() - 0.5;
  return (trend_lin_.array() + 2.0 * trend_quad_.array() * u).matrix();
}

bool GaussianProcess::FitTrend() {
  const int d = dimension();
  const int n = num_points();
  if (!options_.quadratic_trend || options_.prior_mean.has_value() ||
      !options_.standardize || n < kTrendPointsPerTerm * (2 * d + 1)) {
    return false;
  }
  // Least squares on the columns 1, u_i and the u_i^2 still free. A negative
  // curvature fixes its a_i at 0 and the rest is fitted again (at most d
  // rounds; the others' signs may change, so this is a heuristic, not an
  // exact non-negative fit).
  std::vector<bool> free(d, true);
  for (int round = 0; round <= d; ++round) {
    std::vector<int> quadratic;
    for (int i = 0; i < d; ++i) {
      if (free[i]) quadratic.push_back(i);
    }
    const int q = static_cast<int>(quadratic.size());
    Eigen::MatrixXd a(n, 1 + d + q);
    Eigen::VectorXd b(n);
    for (int r = 0; r < n; ++r) {
      const Eigen::ArrayXd u = points_[r].x.array() - 0.5;
      a(r, 0) = 1.0;
      a.row(r).segment(1, d) = u.matrix().transpose();
      for (int j = 0; j < q; ++j) a(r, 1 + d + j) = u(quadratic[j]) * u(quadratic[j]);
      b(r) = points_[r].value;
    }
    // Column-pivoting QR: degenerate points (all on a face, say) still give
    // a solution.
    const Eigen::VectorXd beta = a.colPivHouseholderQr().solve(b);
    if (!beta.allFinite()) return false;
    bool negative = false;
    for (int j = 0; j < q; ++j) {
      if (beta(1 + d + j) < 0.0) {
        free[quadratic[j]] = false;
        negative = true;
      }
    }
    if (negative) continue;
    mean_ = beta(0);
    trend_lin_ = beta.segment(1, d);
    for (int j = 0; j < q; ++j) trend_quad_(quadratic[j]) = beta(1 + d + j);
    return true;
  }
  return false;
}

void GaussianProcess::AddTrend(const Eigen::MatrixXd& x,
                               Eigen::Ref<Eigen::VectorXd> means) const {
  if (!trend_) return;
  for (int c = 0; c < x.cols(); ++c) means(c) += Trend(x.col(c));
}

void GaussianProcess::StandardizedOutputs(const GpPoint& p,
                                          Eigen::Ref<Eigen::VectorXd> out) const {
  out(0) = (p.value - mean_ - Trend(p.x)) / scale_;
  if (!p.gradient.has_value()) return;
  const Eigen::VectorXd t = TrendGradient(p.x);
  for (size_t k = 1; k < gradient_index_.size(); ++k) {
    const int c = gradient_index_[k] - 1;
    out(k) = ((*p.gradient)[c] - t[c]) / scale_;
  }
}

void GaussianProcess::TrainingCovariance(const GpPoint& a, const GpPoint& b,
                                         Eigen::Ref<Eigen::MatrixXd> out) const {
  const bool ga = a.gradient.has_value();
  const bool gb = b.gradient.has_value();
  if (!partial_ || (!ga && !gb)) {
    kernel_.Covariance(a.x, ga, b.x, gb, out);
    return;
  }
  Eigen::MatrixXd full(kernel_.Outputs(ga), kernel_.Outputs(gb));
  kernel_.Covariance(a.x, ga, b.x, gb, full);
  out = full(ga ? gradient_index_ : value_index_, gb ? gradient_index_ : value_index_);
}

void GaussianProcess::QueryCovariance(const Eigen::VectorXd& x, bool x_gradient,
                                      const GpPoint& p,
                                      Eigen::Ref<Eigen::MatrixXd> out) const {
  const bool g = p.gradient.has_value();
  if (!partial_ || !g) {
    kernel_.Covariance(x, x_gradient, p.x, g, out);
    return;
  }
  Eigen::MatrixXd full(kernel_.Outputs(x_gradient), kernel_.Outputs(true));
  kernel_.Covariance(x, x_gradient, p.x, true, full);
  out = full(Eigen::all, gradient_index_);
}

Eigen::MatrixXd GaussianProcess::FullWeights(const Eigen::Ref<const Eigen::MatrixXd>& w,
                                             bool a_gradient, bool b_gradient) const {
  Eigen::MatrixXd full =
      Eigen::MatrixXd::Zero(kernel_.Outputs(a_gradient), kernel_.Outputs(b_gradient));
  full(a_gradient ? gradient_index_ : value_index_,
       b_gradient ? gradient_index_ : value_index_) = w;
  return full;
}

void GaussianProcess::UpdateAlpha() {
  z_ = y_;
  SolveLowerVector(L(), false, z_);
  BackSubstitute();
}

void GaussianProcess::BackSubstitute() {
  alpha_ = z_;
  SolveLowerVector(L(), true, alpha_);
}

absl::Status GaussianProcess::Restandardize() {
  const double previous_scale = scale_;
  Standardize();
  if (scale_ != previous_scale) {
    for (const GpPoint& p : points_) {
      if (p.noise_variance > 0.0) return Refactorize();
    }
  }
  for (int i = 0; i < num_points(); ++i) {
    StandardizedOutputs(
        points_[i], y_.segment(offsets_[i], Outputs(points_[i].gradient.has_value())));
  }
  UpdateAlpha();
  return absl::OkStatus();
}

absl::Status GaussianProcess::Refactorize() {
  Standardize();
  offsets_.clear();
  int rows = 0;
  for (const GpPoint& p : points_) {
    offsets_.push_back(rows);
    rows += Outputs(p.gradient.has_value());
  }
  n_ = 0;  // Nothing of the old factor is kept.
  // Room for the points added before the next refit without reallocating.
  Reserve(rows + std::max(rows / 8, 16 * (dimension() + 1)));
  n_ = rows;
  y_.resize(n_);
  for (int i = 0; i < num_points(); ++i) {
    StandardizedOutputs(
        points_[i], y_.segment(offsets_[i], Outputs(points_[i].gradient.has_value())));
  }
  const double s2 = kernel_.output_scale();
  for (int step = 0; step <= options_.max_jitter_steps; ++step) {
    const double jitter = step == 0 ? 0.0 : s2 * std::pow(10.0, step - 9);
    auto k = L();
    // Lower triangle of K, block by block.
    for (int i = 0; i < num_points(); ++i) {
      const GpPoint& a = points_[i];
      const int mi = Outputs(a.gradient.has_value());
      for (int j = 0; j <= i; ++j) {
        const GpPoint& b = points_[j];
        TrainingCovariance(
            a, b, k.block(offsets_[i], offsets_[j], mi, Outputs(b.gradient.has_value())));
      }
    }
    for (int i = 0; i < num_points(); ++i) {
      if (gradient_noise_ > 0.0 && points_[i].gradient.has_value()) {
        k.diagonal().segment(offsets_[i] + 1, num_gradient_coordinates()) *=
            1.0 + gradient_noise_;
      }
      k(offsets_[i], offsets_[i]) *= 1.0 + value_noise_ / points_[i].replicates;
      k(offsets_[i], offsets_[i]) += KnownNoise(points_[i]);
    }
    k.diagonal().array() += options_.nugget + jitter;
    Eigen::Ref<Eigen::MatrixXd> ref(k);
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> llt(ref);
    if (llt.info() == Eigen::Success) {
      jitter_ = jitter;
      UpdateAlpha();
      return absl::OkStatus();
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the covariance matrix (", n_, " rows) is not positive definite even with jitter ",
      s2 * std::pow(10.0, options_.max_jitter_steps - 9)));
}

absl::Status GaussianProcess::SetHyperparameters(
    const GpHyperparameters& hyperparameters) {
  if (!ValidHyperparameters(hyperparameters, dimension())) {
    return absl::InvalidArgumentError(
        "hyperparameters: invalid lengthscales, output scale, gradient noise or value "
        "noise");
  }
  Kernel previous = kernel_;
  const double previous_noise = gradient_noise_;
  const double previous_value_noise = value_noise_;
  kernel_ =
      Kernel(options_.kernel, hyperparameters.lengthscales, hyperparameters.output_scale);
  gradient_noise_ = hyperparameters.gradient_noise;
  value_noise_ = hyperparameters.value_noise;
  absl::Status status = Refactorize();
  if (!status.ok()) {
    kernel_ = previous;
    gradient_noise_ = previous_noise;
    value_noise_ = previous_value_noise;
    RETURN_IF_ERROR(Refactorize());
    return status;
  }
  return absl::OkStatus();
}

absl::Status GaussianProcess::AddPoint(GpPoint point) {
  RETURN_IF_ERROR(CheckPoint(point, dimension(), points_.size()));
  const bool g = point.gradient.has_value();
  const int m = Outputs(g);
  // Cross-covariance of the existing outputs with the new ones.
  Eigen::MatrixXd b(n_, m);
  for (int i = 0; i < num_points(); ++i) {
    const GpPoint& p = points_[i];
    TrainingCovariance(p, point,
                       b.middleRows(offsets_[i], Outputs(p.gradient.has_value())));
  }
  Eigen::MatrixXd c(m, m);
  TrainingCovariance(point, point, c);
  if (g) c.diagonal().tail(m - 1) *= 1.0 + gradient_noise_;
  c(0, 0) *= 1.0 + value_noise_ / point.replicates;
  c(0, 0) += KnownNoise(point);
  c.diagonal().array() += options_.nugget + jitter_;
  // [L11 0; W' L22] with L11 W = B and L22 L22' = C - W'W.
  if (n_ > 0) SolveLower(L(), b);
  Eigen::MatrixXd schur = c;
  if (n_ > 0) schur.noalias() -= b.transpose() * b;
  Eigen::LLT<Eigen::MatrixXd> llt(schur);
  double extra = 0.0;
  for (int step = 1; llt.info() != Eigen::Success && step <= options_.max_jitter_steps;
       ++step) {
    extra = kernel_.output_scale() * std::pow(10.0, step - 9);
    Eigen::MatrixXd s = schur;
    s.diagonal().array() += extra;
    llt.compute(s);
  }
  if (llt.info() != Eigen::Success) {
    return absl::FailedPreconditionError(
        "the new point makes the covariance matrix singular; it stays out of the model");
  }
  jitter_ = std::max(jitter_, extra);
  Reserve(n_ + m);
  factor_.block(n_, 0, m, n_) = b.transpose();
  factor_.block(n_, n_, m, m) = llt.matrixL();
  factor_.block(0, n_, n_, m).setZero();
  offsets_.push_back(n_);
  // The new entries of z = L^-1 y: L22 z2 = y2 - W' z1 (W' is the new L21).
  Eigen::VectorXd y2(m);
  StandardizedOutputs(point, y2);
  Eigen::VectorXd z2 = y2;
  if (n_ > 0) z2.noalias() -= b.transpose() * z_;
  llt.matrixL().solveInPlace(z2);
  n_ += m;
  y_.conservativeResize(n_);
  y_.tail(m) = y2;
  z_.conservativeResize(n_);
  z_.tail(m) = z2;
  points_.push_back(std::move(point));
  BackSubstitute();
  return absl::OkStatus();
}

void GaussianProcess::RemovePoint(int index) {
  const int o = offsets_[index];
  const int m = Outputs(points_[index].gradient.has_value());
  const int tail = n_ - o - m;
  if (tail > 0) {
    // L33' L33'^T = L33 L33^T + L32 L32^T.
    Eigen::MatrixXd l32 = factor_.block(o + m, o, tail, m);
    for (int c = 0; c < m; ++c) {
      Eigen::VectorXd v = l32.col(c);
      RankOneUpdate(factor_.block(o + m, o + m, tail, tail), v);
    }
    factor_.block(o, 0, tail, o) = factor_.block(o + m, 0, tail, o).eval();
    factor_.block(o, o, tail, tail) = factor_.block(o + m, o + m, tail, tail).eval();
  }
  points_.erase(points_.begin() + index);
  offsets_.clear();
  n_ = 0;
  for (const GpPoint& p : points_) {
    offsets_.push_back(n_);
    n_ += Outputs(p.gradient.has_value());
  }
  y_.resize(n_);
  for (int i = 0; i < num_points(); ++i) {
    StandardizedOutputs(
        points_[i], y_.segment(offsets_[i], Outputs(points_[i].gradient.has_value())));
  }
  UpdateAlpha();
}

Eigen::MatrixXd GaussianProcess::CrossCovariance(const Eigen::VectorXd& x,
                                                 bool gradient) const {
  Eigen::MatrixXd k(kernel_.Outputs(gradient), n_);
  for (int i = 0; i < num_points(); ++i) {
    const GpPoint& p = points_[i];
    QueryCovariance(x, gradient, p,
                    k.middleCols(offsets_[i], Outputs(p.gradient.has_value())));
  }
  return k;
}

Eigen::MatrixXd GaussianProcess::CrossCovarianceWithValues(
    const Eigen::MatrixXd& x) const {
  Eigen::MatrixXd kx(n_, x.cols());
  for (int i = 0; i < num_points(); ++i) {
    const GpPoint& p = points_[i];
    const bool g = p.gradient.has_value();
    if (partial_ && g) {
      Eigen::MatrixXd full(kernel_.Outputs(true), x.cols());
      kernel_.CovarianceWithValues(p.x, true, x, full);
      kx.middleRows(offsets_[i], Outputs(true)) = full(gradient_index_, Eigen::all);
      continue;
    }
    kernel_.CovarianceWithValues(p.x, g, x, kx.middleRows(offsets_[i], Outputs(g)));
  }
  return kx;
}

Eigen::VectorXd GaussianProcess::PredictMean(const Eigen::MatrixXd& x) const {
  Eigen::VectorXd out =
      (CrossCovarianceWithValues(x).transpose() * alpha_).array() * scale_ + mean_;
  AddTrend(x, out);
  return out;
}

Prediction GaussianProcess::Predict(const Eigen::MatrixXd& x) const {
  // Column c: cov(training outputs, f(x_c)), for all candidates at once.
  Eigen::MatrixXd kx = CrossCovarianceWithValues(x);
  const double s2 = kernel_.output_scale();
  Prediction out;
  out.mean = (kx.transpose() * alpha_).array() * scale_ + mean_;
  AddTrend(x, out.mean);
  SolveLower(L(), kx);
  out.variance = ((s2 - kx.colwise().squaredNorm().array()).max(0.0) * (scale_ * scale_))
                     .matrix()
                     .transpose();
  return out;
}

void GaussianProcess::PredictWithGradients(const Eigen::VectorXd& x, double* mean,
                                           double* variance,
                                           Eigen::VectorXd* mean_gradient,
                                           Eigen::VectorXd* variance_gradient) const {
  const int d = dimension();
  const Eigen::MatrixXd k = CrossCovariance(x, true);
  *mean = mean_ + Trend(x) + scale_ * k.row(0).dot(alpha_);
  *mean_gradient = scale_ * (k.bottomRows(d) * alpha_) + TrendGradient(x);
  Eigen::VectorXd v = k.row(0).transpose();
  SolveLowerVector(L(), false, v);
  *variance = std::max(0.0, kernel_.output_scale() - v.squaredNorm()) * scale_ * scale_;
  // d var / dx = -2 (d k / dx) K^-1 k, since the prior variance is constant.
  SolveLowerVector(L(), true, v);
  *variance_gradient = (-2.0 * scale_ * scale_) * (k.bottomRows(d) * v);
}

void GaussianProcess::PredictWithGradients(const Eigen::MatrixXd& x,
                                           Eigen::VectorXd* mean,
                                           Eigen::VectorXd* variance,
                                           Eigen::MatrixXd* mean_gradient,
                                           Eigen::MatrixXd* variance_gradient) const {
  // Columns per pass, so that the N x m blocks stay small.
  constexpr int kColumns = 256;
  const int d = dimension();
  const int m = static_cast<int>(x.cols());
  mean->resize(m);
  variance->resize(m);
  mean_gradient->resize(d, m);
  variance_gradient->resize(d, m);
  const double s2 = kernel_.output_scale();
  for (int start = 0; start < m; start += kColumns) {
    const int c = std::min(kColumns, m - start);
    // w = L^-1 k for the value columns k of the block, then K^-1 k = L^-T w.
    Eigen::MatrixXd w = CrossCovarianceWithValues(x.middleCols(start, c));
    mean->segment(start, c) = (w.transpose() * alpha_).array() * scale_ + mean_;
    AddTrend(x.middleCols(start, c), mean->segment(start, c));
    SolveLower(L(), w);
    variance->segment(start, c) =
        ((s2 - w.colwise().squaredNorm().array()).max(0.0) * (scale_ * scale_))
            .matrix()
            .transpose();
    L().transpose().triangularView<Eigen::Upper>().solveInPlace(w);
    for (int j = 0; j < c; ++j) {
      // Only the derivative rows of the point's cross-covariance are needed.
      const Eigen::MatrixXd k = CrossCovariance(x.col(start + j), true);
      mean_gradient->col(start + j) =
          scale_ * (k.bottomRows(d) * alpha_) + TrendGradient(x.col(start + j));
      variance_gradient->col(start + j) =
          (-2.0 * scale_ * scale_) * (k.bottomRows(d) * w.col(j));
    }
  }
}

Eigen::MatrixXd GaussianProcess::MeanHessian(const Eigen::VectorXd& x) const {
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(dimension(), dimension());
  for (int i = 0; i < num_points(); ++i) {
    const GpPoint& p = points_[i];
    const bool g = p.gradient.has_value();
    if (partial_ && g) {
      const Eigen::MatrixXd w = FullWeights(
          alpha_.segment(offsets_[i], Outputs(true)).transpose(), false, true);
      kernel_.AccumulateValueHessian(x, p.x, true, w.row(0).transpose(), h);
      continue;
    }
    kernel_.AccumulateValueHessian(x, p.x, g, alpha_.segment(offsets_[i], Outputs(g)), h);
  }
  h *= scale_;
  if (trend_) h.diagonal() += 2.0 * trend_quad_;
  return h;
}

void GaussianProcess::GradientPosterior(const Eigen::VectorXd& x, Eigen::VectorXd* mean,
                                        Eigen::MatrixXd* covariance) const {
  const int d = dimension();
  const Eigen::MatrixXd k = CrossCovariance(x, true);
  *mean = scale_ * (k.bottomRows(d) * alpha_) + TrendGradient(x);
  Eigen::MatrixXd prior(d + 1, d + 1);
  kernel_.Covariance(x, true, x, true, prior);
  Eigen::MatrixXd w = k.bottomRows(d).transpose();
  if (n_ > 0) SolveLower(L(), w);
  *covariance = (prior.bottomRightCorner(d, d) - w.transpose() * w) * (scale_ * scale_);
}

Eigen::MatrixXd GaussianProcess::KInverseLower() const {
  Eigen::MatrixXd inverse = L();
  if (n_ == 0) return inverse;
#ifdef EIGEN_USE_LAPACKE
  // L^-1 in place, then L^-T L^-1 (LAPACK dpotri): 2 N^3 / 3 flops.
  const lapack_int info =
      LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'L', n_, inverse.data(), n_);
  // dpotri fails only on a zero diagonal, which a factor never has.
  if (info != 0) inverse.setConstant(std::numeric_limits<double>::quiet_NaN());
#else
  // The same two steps with Eigen: W = L^-1, then W'W in the lower triangle.
  Eigen::MatrixXd w = Eigen::MatrixXd::Identity(n_, n_);
  L().triangularView<Eigen::Lower>().solveInPlace(w);
  inverse.setZero();
  inverse.selfadjointView<Eigen::Lower>().rankUpdate(w.transpose());
#endif
  return inverse;
}

double GaussianProcess::LogMarginalLikelihood(Eigen::VectorXd* gradient) const {
  const double log_det_half = L().diagonal().array().log().sum();
  double value = -0.5 * y_.dot(alpha_) - log_det_half - 0.5 * n_ * kLog2Pi;
  // A mean of m measurements y_k without a known noise: their density is that
  // of the mean (above) times (2 pi v)^-((m-1)/2) m^-1/2 exp(-S / (2 v)), with
  // v = eta s2 the noise variance and S the scatter, both standardised. Its
  // derivative in log v, and so in log s2 and in log eta, is
  // (S / v - (m - 1)) / 2.
  double replicate_derivative = 0.0;
  for (int i = 0; value_noise_ > 0.0 && i < num_points(); ++i) {
    const GpPoint& p = points_[i];
    if (p.replicates == 1 || p.noise_variance > 0.0) continue;
    const double v = value_noise_ * kernel_.output_scale();
    const double scatter = p.replicate_scatter / (scale_ * scale_);
    const double m = p.replicates;
    value -= 0.5 * ((m - 1.0) * (kLog2Pi + std::log(v)) + std::log(m) + scatter / v);
    replicate_derivative += 0.5 * (scatter / v - (m - 1.0));
  }
  if (gradient == nullptr) return value;
  const int d = dimension();
  gradient->setZero(value_noise_ > 0.0 ? d + 2 : d + 1);
  // d log p / d theta = 1/2 tr((alpha alpha' - K^-1) dK/dtheta), with the
  // lower triangle of w holding alpha alpha' - K^-1. Both matrices are
  // symmetric, so block (j, i) adds what block (i, j) adds: the blocks below
  // the diagonal count twice and those above are never read.
  Eigen::MatrixXd w = KInverseLower();
  for (int c = 0; c < n_; ++c) {
    w.col(c).tail(n_ - c) = alpha_(c) * alpha_.tail(n_ - c) - w.col(c).tail(n_ - c);
  }
  // A kernel block's derivatives weighted by a block of w (spread onto the
  // kernel's outputs when some coordinates have no observed derivative).
  auto accumulate = [&](const GpPoint& a, const GpPoint& b,
                        const Eigen::Ref<const Eigen::MatrixXd>& weights,
                        Eigen::Ref<Eigen::VectorXd> out) {
    const bool ga = a.gradient.has_value();
    const bool gb = b.gradient.has_value();
    if (partial_ && (ga || gb)) {
      kernel_.AccumulateHyperGradient(a.x, ga, b.x, gb, FullWeights(weights, ga, gb),
                                      out);
    } else {
      kernel_.AccumulateHyperGradient(a.x, ga, b.x, gb, weights, out);
    }
  };
  Eigen::VectorXd below = Eigen::VectorXd::Zero(d + 1);
  for (int i = 0; i < num_points(); ++i) {
    const GpPoint& a = points_[i];
    const int mi = Outputs(a.gradient.has_value());
    for (int j = 0; j < i; ++j) {
      const GpPoint& b = points_[j];
      accumulate(a, b,
                 w.block(offsets_[i], offsets_[j], mi, Outputs(b.gradient.has_value())),
                 below);
    }
    auto diagonal = w.block(offsets_[i], offsets_[i], mi, mi);
    diagonal.triangularView<Eigen::StrictlyUpper>() = diagonal.transpose();
    accumulate(a, a, diagonal, gradient->head(d + 1));
  }
  gradient->head(d + 1) += 2.0 * below;
  // With gradient noise nu, a gradient row's diagonal is (1 + nu) k_rr, and
  // the kernel above accumulated only k_rr's derivatives: k_rr is
  // s2 c / l_r^2, so d/d log l_r = -2 k_rr and d/d log s2 = k_rr.
  for (int i = 0; gradient_noise_ > 0.0 && i < num_points(); ++i) {
    const GpPoint& a = points_[i];
    if (!a.gradient.has_value()) continue;
    Eigen::MatrixXd prior(d + 1, d + 1);
    kernel_.Covariance(a.x, true, a.x, true, prior);
    for (int k = 1; k < Outputs(true); ++k) {
      const int r = gradient_index_[k] - 1;  // The coordinate.
      const int row = offsets_[i] + k;
      const double extra = w(row, row) * gradient_noise_ * prior(r + 1, r + 1);
      (*gradient)(r) -= 2.0 * extra;
      (*gradient)(d) += extra;
    }
  }
  // With value noise eta, a value row's diagonal is (1 + eta / m) s2: the
  // extra eta s2 / m has that derivative in both log s2 and log eta.
  // A known noise variance is data, not a hyperparameter: no derivative.
  for (int i = 0; value_noise_ > 0.0 && i < num_points(); ++i) {
    const int row = offsets_[i];
    const double extra =
        w(row, row) * value_noise_ * kernel_.output_scale() / points_[i].replicates;
    (*gradient)(d) += extra;
    (*gradient)(d + 1) += extra;
  }
  *gradient *= 0.5;
  if (value_noise_ > 0.0) {
    (*gradient)(d) += replicate_derivative;
    (*gradient)(d + 1) += replicate_derivative;
  }
  return value;
}

absl::Status CheckCoordinates(const std::vector<int>& coordinates, int dimension,
                              absl::string_view field) {
  for (size_t k = 0; k < coordinates.size(); ++k) {
    if (coordinates[k] < 0 || coordinates[k] >= dimension ||
        (k > 0 && coordinates[k] <= coordinates[k - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", coordinates[k], " at position ", k,
                       " is not an increasing coordinate below ", dimension));
    }
  }
  return absl::OkStatus();
}

double MinScaledDistance(const Eigen::VectorXd& x, const std::vector<GpPoint>& points,
                         const Eigen::VectorXd& lengthscales) {
  double best = std::numeric_limits<double>::infinity();
  for (const GpPoint& p : points) {
    best = std::min(best, ((x - p.x).array() / lengthscales.array()).matrix().norm());
  }
  return best;
}

}  // namespace lago::core
