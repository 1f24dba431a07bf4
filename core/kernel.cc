#include "core/kernel.h"

#include <cassert>
#include <cmath>

namespace lago::core {
namespace {
constexpr double kSqrt5 = 2.23606797749978969641;
}  // namespace

Kernel::Kernel(KernelType type, Eigen::VectorXd lengthscales, double output_scale)
    : type_(type),
      lengthscales_(std::move(lengthscales)),
      inv_sq_(lengthscales_.array().square().inverse().matrix()),
      output_scale_(output_scale) {
  assert((lengthscales_.array() > 0.0).all() && output_scale_ > 0.0);
}

Kernel::Radial Kernel::Evaluate(double rho) const {
  Radial out;
  if (type_ == KernelType::kSquaredExponential) {
    out.g = std::exp(-0.5 * rho);
    out.g1 = -0.5 * out.g;
    out.g2 = 0.25 * out.g;
    out.g3 = -0.125 * out.g;
    return out;
  }
  const double r = std::sqrt(rho);
  const double e = std::exp(-kSqrt5 * r);
  out.g = (1.0 + kSqrt5 * r + (5.0 / 3.0) * rho) * e;
  out.g1 = -(5.0 / 6.0) * (1.0 + kSqrt5 * r) * e;
  out.g2 = (25.0 / 12.0) * e;
  // g''' = -(25 sqrt5 / 24) E / r multiplies only O(r^2) terms: at r -> 0
  // their product tends to 0, the limit used below kTaylorRadius.
  out.g3 = r < kTaylorRadius ? 0.0 : -(25.0 * kSqrt5 / 24.0) * e / r;
  return out;
}

void Kernel::Covariance(const Eigen::Ref<const Eigen::VectorXd>& a, bool a_gradient,
                        const Eigen::Ref<const Eigen::VectorXd>& b, bool b_gradient,
                        Eigen::Ref<Eigen::MatrixXd> out) const {
  const int d = dimension();
  const Eigen::VectorXd delta = a - b;
  const Eigen::VectorXd q = delta.cwiseProduct(inv_sq_);
  const Radial k = Evaluate(delta.dot(q));
  const double s2 = output_scale_;
  out(0, 0) = s2 * k.g;
  if (b_gradient) out.block(0, 1, 1, d) = (-2.0 * s2 * k.g1) * q.transpose();
  if (a_gradient) out.block(1, 0, d, 1) = (2.0 * s2 * k.g1) * q;
  if (a_gradient && b_gradient) {
    auto gg = out.block(1, 1, d, d);
    gg.noalias() = (-4.0 * s2 * k.g2) * q * q.transpose();
    gg.diagonal() -= (2.0 * s2 * k.g1) * inv_sq_;
  }
}

void Kernel::CovarianceWithValues(const Eigen::Ref<const Eigen::VectorXd>& a,
                                  bool a_gradient, const Eigen::MatrixXd& x,
                                  Eigen::Ref<Eigen::MatrixXd> out) const {
  // delta = a - x_c: the entries are s2 g(rho) and, for a gradient row,
  // cov(d_i f(a), f(x_c)) = 2 s2 g'(rho) q_i.
  const Eigen::ArrayXd inv_sq = inv_sq_.array();
  Eigen::ArrayXXd q = (-x.array()).colwise() + a.array();
  const Eigen::ArrayXd rho = (q.square().colwise() * inv_sq).colwise().sum().transpose();
  q.colwise() *= inv_sq;
  Eigen::ArrayXd g, g1;
  if (type_ == KernelType::kSquaredExponential) {
    g = (-0.5 * rho).exp();
    g1 = -0.5 * g;
  } else {
    const Eigen::ArrayXd r = rho.sqrt();
    const Eigen::ArrayXd e = (-kSqrt5 * r).exp();
    g = (1.0 + kSqrt5 * r + (5.0 / 3.0) * rho) * e;
    g1 = -(5.0 / 6.0) * (1.0 + kSqrt5 * r) * e;
  }
  out.row(0) = output_scale_ * g.transpose();
  if (a_gradient) {
    out.bottomRows(dimension()) =
        (q.rowwise() * (2.0 * output_scale_ * g1).transpose()).matrix();
  }
}

void Kernel::AccumulateHyperGradient(const Eigen::Ref<const Eigen::VectorXd>& a,
                                     bool a_gradient,
                                     const Eigen::Ref<const Eigen::VectorXd>& b,
                                     bool b_gradient,
                                     const Eigen::Ref<const Eigen::MatrixXd>& weights,
                                     Eigen::Ref<Eigen::VectorXd> gradient) const {
  const int d = dimension();
  const Eigen::VectorXd delta = a - b;
  const Eigen::VectorXd q = delta.cwiseProduct(inv_sq_);
  // rho_m = delta_m^2 / l_m^2, and d rho / d log l_m = -2 rho_m.
  const Eigen::VectorXd rho_m = delta.cwiseProduct(q);
  const Radial k = Evaluate(rho_m.sum());
  const double s2 = output_scale_;
  auto dl = gradient.head(d);
  double ds2 = 0.0;  // d / d log s2 of every entry is the entry itself.

  const double w00 = weights(0, 0);
  dl += (-2.0 * s2 * k.g1 * w00) * rho_m;
  ds2 += w00 * s2 * k.g;
  if (b_gradient) {
    // d/dlog l_m of -2 s2 g' q_j = 4 s2 q_j (g'' rho_m + g' [j == m]).
    const Eigen::VectorXd w = weights.block(0, 1, 1, d).transpose();
    dl += (4.0 * s2 * k.g2 * w.dot(q)) * rho_m;
    dl += (4.0 * s2 * k.g1) * w.cwiseProduct(q);
    ds2 += -2.0 * s2 * k.g1 * w.dot(q);
  }
  if (a_gradient) {
    const Eigen::VectorXd w = weights.block(1, 0, d, 1);
    dl -= (4.0 * s2 * k.g2 * w.dot(q)) * rho_m;
    dl -= (4.0 * s2 * k.g1) * w.cwiseProduct(q);
    ds2 += 2.0 * s2 * k.g1 * w.dot(q);
  }
  if (a_gradient && b_gradient) {
    // d/dlog l_m of -4 s2 g'' q_i q_j - 2 s2 g' [i == j] Lambda_i
    //   = 8 s2 (g''' rho_m q_i q_j + g'' q_i q_j ([i == m] + [j == m]))
    //     + 4 s2 [i == j] Lambda_i (g'' rho_m + g' [i == m]).
    const auto w = weights.block(1, 1, d, d);
    const Eigen::VectorXd wq = w * q;
    const Eigen::VectorXd wtq = w.transpose() * q;
    const double qwq = q.dot(wq);
    const Eigen::VectorXd w_diag = w.diagonal();
    dl += (8.0 * s2 * k.g3 * qwq) * rho_m;
    dl += (8.0 * s2 * k.g2) * q.cwiseProduct(wq + wtq);
    dl += (4.0 * s2 * k.g2 * w_diag.dot(inv_sq_)) * rho_m;
    dl += (4.0 * s2 * k.g1) * w_diag.cwiseProduct(inv_sq_);
    ds2 += -4.0 * s2 * k.g2 * qwq - 2.0 * s2 * k.g1 * w_diag.dot(inv_sq_);
  }
  gradient(d) += ds2;
}

void Kernel::AccumulateValueHessian(const Eigen::Ref<const Eigen::VectorXd>& a,
                                    const Eigen::Ref<const Eigen::VectorXd>& b,
                                    bool b_gradient,
                                    const Eigen::Ref<const Eigen::VectorXd>& weights,
                                    Eigen::Ref<Eigen::MatrixXd> hessian) const {
  const Eigen::VectorXd delta = a - b;
  const Eigen::VectorXd q = delta.cwiseProduct(inv_sq_);
  const Radial k = Evaluate(delta.dot(q));
  const double s2 = output_scale_;
  // d^2 (s2 g) / da da' = s2 (4 g'' q q' + 2 g' Lambda).
  const double w0 = weights(0);
  hessian.noalias() += (4.0 * s2 * k.g2 * w0) * q * q.transpose();
  hessian.diagonal() += (2.0 * s2 * k.g1 * w0) * inv_sq_;
  if (b_gradient) {
    // d^2 (-2 s2 g' q_j) / da_x da_y
    //   = -2 s2 (4 g''' q_x q_y q_j + 2 g'' ([x == y] Lambda_x q_j + [y == j] Lambda_j
    //   q_x
    //                                        + [x == j] Lambda_j q_y)),
    // summed against w_j: with u = w'q and v = w .* Lambda,
    //   -2 s2 (4 g''' u q q' + 2 g'' (u Lambda + q v' + v q')).
    const Eigen::VectorXd w = weights.tail(dimension());
    const double u = w.dot(q);
    const Eigen::VectorXd v = w.cwiseProduct(inv_sq_);
    hessian.noalias() += (-8.0 * s2 * k.g3 * u) * q * q.transpose();
    hessian.noalias() += (-4.0 * s2 * k.g2) * (q * v.transpose() + v * q.transpose());
    hessian.diagonal() += (-4.0 * s2 * k.g2 * u) * inv_sq_;
  }
}

}  // namespace lago::core
