#include "core/trust_region.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "Eigen/Eigenvalues"

namespace lago::core {
namespace {

// Relative tolerance of the boundary condition ||s|| = radius.
constexpr double kBoundaryTolerance = 1e-12;
constexpr int kMaxSecularIterations = 200;

// The exact solution of min m(s) s.t. ||s|| <= radius (no box).
TrustRegionStep SolveBall(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                          double radius) {
  const int n = static_cast<int>(g.size());
  TrustRegionStep out;
  out.step = Eigen::VectorXd::Zero(n);
  if (n == 0 || !(radius > 0.0)) return out;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(b);
  const Eigen::VectorXd lambda = eig.eigenvalues();  // Ascending.
  const Eigen::MatrixXd& q = eig.eigenvectors();
  const Eigen::VectorXd gh = q.transpose() * g;
  const double lambda_min = lambda[0];
  const double scale = std::max(1.0, lambda.cwiseAbs().maxCoeff());
  const double g_norm = g.norm();

  // In eigen coordinates s(l) = -gh / (lambda + l).
  auto coords = [&](double l) {
    return Eigen::VectorXd(-gh.array() / (lambda.array() + l));
  };

  if (lambda_min > 1e-14 * scale) {
    Eigen::VectorXd c = coords(0.0);
    if (c.norm() <= radius) {
      out.step = q * c;
      out.method = StepMethod::kInterior;
      return out;
    }
  }
  // The eigenspace of lambda_min and whether g has no component in it.
  const double low = std::max(0.0, -lambda_min);
  std::vector<int> min_space;
  for (int i = 0; i < n; ++i) {
    if (lambda[i] - lambda_min <= 1e-10 * scale) min_space.push_back(i);
  }
  bool orthogonal = true;
  for (int i : min_space)
    orthogonal &= std::abs(gh[i]) <= 1e-12 * std::max(g_norm, 1e-300);
  if (orthogonal && lambda_min <= 1e-14 * scale) {
    Eigen::VectorXd c = Eigen::VectorXd::Zero(n);
    for (int i = 0; i < n; ++i) {
      if (std::find(min_space.begin(), min_space.end(), i) == min_space.end()) {
        c[i] = -gh[i] / (lambda[i] + low);
      }
    }
    if (c.norm() < radius) {
      // Hard case: s(-lambda_min) plus the eigenvector that reaches the boundary.
      c[min_space[0]] = std::sqrt(radius * radius - c.squaredNorm());
      out.step = q * c;
      out.method = StepMethod::kHardCase;
      return out;
    }
  }
  if (g_norm == 0.0) {
    // g = 0 and B not positive definite: the most negative curvature direction.
    if (lambda_min < 0.0) {
      out.step = radius * q.col(0);
      out.method = StepMethod::kHardCase;
    }
    return out;
  }
  // Safeguarded Newton on 1/radius - 1/||s(l)|| over the bracket (lo, hi);
  // ||s(l)|| decreases in l, and ||s(hi)|| <= radius for hi = low + ||g|| / radius.
  double lo = low, hi = low + g_norm / radius + 1e-300;
  double l = hi;
  {
    // Start just right of the pole when g touches the min eigenspace.
    const double start = low + 1e-12 * (1.0 + low);
    if (coords(start).norm() > radius) l = start;
  }
  for (int it = 0; it < kMaxSecularIterations; ++it) {
    const Eigen::ArrayXd denom = lambda.array() + l;
    const double norm = (gh.array() / denom).matrix().norm();
    if (std::abs(norm - radius) <= kBoundaryTolerance * radius) break;
    if (norm > radius) {
      lo = l;
    } else {
      hi = l;
    }
    const double s3 = (gh.array().square() / denom.cube()).sum();
    double next = l + (norm / radius - 1.0) * norm * norm / s3;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (next == l) break;
    l = next;
  }
  out.step = q * coords(l);
  out.method = StepMethod::kBoundary;
  return out;
}

bool InBox(const Eigen::VectorXd& s, const Eigen::VectorXd& lower,
           const Eigen::VectorXd& upper) {
  return ((s.array() >= lower.array()) && (s.array() <= upper.array())).all();
}

}  // namespace

double ModelChange(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                   const Eigen::VectorXd& s) {
  return g.dot(s) + 0.5 * s.dot(b * s);
}

Eigen::VectorXd CauchyPoint(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                            double radius, const Eigen::VectorXd& lower,
                            const Eigen::VectorXd& upper) {
  const double g_norm = g.norm();
  if (g_norm == 0.0 || !(radius > 0.0)) return Eigen::VectorXd::Zero(g.size());
  const Eigen::VectorXd d = -g / g_norm;
  double t_max = radius;
  for (int i = 0; i < d.size(); ++i) {
    if (d[i] > 0.0) t_max = std::min(t_max, upper[i] / d[i]);
    if (d[i] < 0.0) t_max = std::min(t_max, lower[i] / d[i]);
  }
  t_max = std::max(t_max, 0.0);
  // m(t d) = -t ||g|| + t^2 d'Bd / 2.
  const double curvature = d.dot(b * d);
  const double t = curvature > 0.0 ? std::min(g_norm / curvature, t_max) : t_max;
  return t * d;
}

TrustRegionStep SolveTrustRegion(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                                 double radius) {
  const int n = static_cast<int>(g.size());
  const Eigen::VectorXd inf =
      Eigen::VectorXd::Constant(n, std::numeric_limits<double>::infinity());
  return SolveTrustRegion(g, b, radius, -inf, inf);
}

TrustRegionStep SolveTrustRegion(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                                 double radius, const Eigen::VectorXd& lower,
                                 const Eigen::VectorXd& upper) {
  const int n = static_cast<int>(g.size());
  TrustRegionStep best = SolveBall(g, b, radius);
  if (!InBox(best.step, lower, upper)) {
    // Active set: fix the violated coordinates at their bounds and solve the
    // ball problem again in the others, until the step fits the box.
    Eigen::VectorXd s = best.step;
    std::vector<bool> fixed(n, false);
    for (int round = 0; round < n && !InBox(s, lower, upper); ++round) {
      for (int i = 0; i < n; ++i) {
        if (fixed[i]) continue;
        if (s[i] < lower[i]) {
          fixed[i] = true;
          s[i] = lower[i];
        } else if (s[i] > upper[i]) {
          fixed[i] = true;
          s[i] = upper[i];
        }
      }
      std::vector<int> free;
      for (int i = 0; i < n; ++i) {
        if (!fixed[i]) free.push_back(i);
      }
      double fixed_sq = 0.0;
      for (int i = 0; i < n; ++i) {
        if (fixed[i]) fixed_sq += s[i] * s[i];
      }
      const double rest = radius * radius - fixed_sq;
      if (free.empty() || rest <= 0.0) {
        for (int i : free) s[i] = 0.0;
        break;
      }
      Eigen::VectorXd g_free(free.size());
      Eigen::MatrixXd b_free(free.size(), free.size());
      for (size_t a = 0; a < free.size(); ++a) {
        double gi = g[free[a]];
        for (int j = 0; j < n; ++j) {
          if (fixed[j]) gi += b(free[a], j) * s[j];
        }
        g_free[a] = gi;
        for (size_t c = 0; c < free.size(); ++c) b_free(a, c) = b(free[a], free[c]);
      }
      const TrustRegionStep sub = SolveBall(g_free, b_free, std::sqrt(rest));
      for (size_t a = 0; a < free.size(); ++a) s[free[a]] = sub.step[a];
    }
    best.step = InBox(s, lower, upper) ? s : Eigen::VectorXd::Zero(n);
    best.method = StepMethod::kBoxActiveSet;
  }
  const Eigen::VectorXd cauchy = CauchyPoint(g, b, radius, lower, upper);
  if (ModelChange(g, b, cauchy) < ModelChange(g, b, best.step)) {
    best.step = cauchy;
    best.method = StepMethod::kCauchy;
  }
  best.predicted_improvement = -ModelChange(g, b, best.step);
  if (!(best.predicted_improvement > 0.0)) {
    best.step = Eigen::VectorXd::Zero(n);
    best.predicted_improvement = 0.0;
    best.method = StepMethod::kZero;
  }
  return best;
}

double ImprovementRatio(double f_center, double f_trial, double predicted_improvement) {
  return (f_center - f_trial) / predicted_improvement;
}

bool Sr1Update(Eigen::MatrixXd* b, const Eigen::VectorXd& s, const Eigen::VectorXd& y,
               double skip) {
  const Eigen::VectorXd bs = *b * s;
  const Eigen::VectorXd v = y - bs;
  // Rounding in B s alone (which the BLAS kernel sets) must not become a
  // rank-one update of size up to ||v|| / (skip ||s||).
  constexpr double kRounding = 64.0 * std::numeric_limits<double>::epsilon();
  if (v.norm() <= kRounding * (y.norm() + bs.norm())) return false;
  const double denominator = v.dot(s);
  if (std::abs(denominator) <= skip * s.norm() * v.norm()) return false;
  b->noalias() += v * v.transpose() / denominator;
  return true;
}

Eigen::MatrixXd LbfgsMatrix(const Eigen::MatrixXd& s, const Eigen::MatrixXd& y,
                            double skip) {
  auto curved = [&](int k) {
    return s.row(k).dot(y.row(k)) > skip * s.row(k).norm() * y.row(k).norm();
  };
  int newest = static_cast<int>(s.rows()) - 1;
  while (newest >= 0 && !curved(newest)) --newest;
  if (newest < 0) return Eigen::MatrixXd();
  const double sy = s.row(newest).dot(y.row(newest));
  Eigen::MatrixXd b =
      Eigen::MatrixXd::Identity(s.cols(), s.cols()) * (y.row(newest).squaredNorm() / sy);
  for (int k = 0; k < s.rows(); ++k) {
    if (!curved(k)) continue;
    const Eigen::VectorXd bs = b * s.row(k).transpose();
    b.noalias() -= bs * bs.transpose() / s.row(k).dot(bs);
    b.noalias() += y.row(k).transpose() * y.row(k) / s.row(k).dot(y.row(k));
  }
  return 0.5 * (b + b.transpose());
}

double UpdateRadius(double radius, double rho, double step_norm,
                    const RadiusRules& rules) {
  if (rho < rules.shrink_below) return 0.5 * radius;
  if (rho > rules.expand_above && step_norm > rules.boundary_fraction * radius) {
    return std::min(2.0 * radius, rules.max_radius);
  }
  return radius;
}

}  // namespace lago::core
