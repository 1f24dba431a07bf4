// Stationary kernels for Gaussian processes over values and gradients.
//
// Both kernels are radial in the scaled distance: with delta = a - b,
// Lambda = diag(1 / l_i^2), rho = delta' Lambda delta, r = sqrt(rho), q = Lambda delta,
//
//   k(a, b) = s2 g(rho),
//   Matern-5/2:  g = (1 + sqrt5 r + 5 rho / 3) exp(-sqrt5 r)
//   SE:          g = exp(-rho / 2).
//
// Differentiating k through rho gives every block of the joint covariance of
// [f, grad f] (LAGO.md section 2; Rasmussen & Williams (2006) section 9.4):
//
//   cov(f(a), f(b))          = s2 g
//   cov(f(a), d_j f(b))      = -2 s2 g'  q_j
//   cov(d_i f(a), f(b))      =  2 s2 g'  q_i
//   cov(d_i f(a), d_j f(b))  = -4 s2 g'' q_i q_j - 2 s2 g' delta_ij Lambda_i
//
// with g' = dg/drho. For Matern-5/2, g' = -(5/6)(1 + sqrt5 r) E and
// g'' = (25/12) E (E = exp(-sqrt5 r)) are smooth at r = 0; only g''' =
// -(25 sqrt5 / 24) E / r is singular there, and it only appears multiplied by
// terms of order r^2 or higher. Below r = kTaylorRadius those products are
// replaced by their limit 0 (the leading term of the Taylor expansion).
#ifndef LAGO_CORE_KERNEL_H_
#define LAGO_CORE_KERNEL_H_

#include "Eigen/Core"

namespace lago::core {

enum class KernelType { kMatern52, kSquaredExponential };

class Kernel {
 public:
  // Scaled distance below which g''' terms take their r -> 0 limit.
  static constexpr double kTaylorRadius = 1e-100;

  // `lengthscales` has one positive entry per dimension; `output_scale` (s2) > 0.
  Kernel(KernelType type, Eigen::VectorXd lengthscales, double output_scale);

  KernelType type() const { return type_; }
  int dimension() const { return static_cast<int>(lengthscales_.size()); }
  const Eigen::VectorXd& lengthscales() const { return lengthscales_; }
  double output_scale() const { return output_scale_; }

  // Number of outputs of a point: 1 (value) or 1 + d (value and gradient).
  int Outputs(bool gradient) const { return gradient ? 1 + dimension() : 1; }

  // The covariance of the outputs of `a` (its value, then its gradient when
  // `a_gradient`) with those of `b`, written into `out`, which must be
  // Outputs(a_gradient) x Outputs(b_gradient).
  void Covariance(const Eigen::Ref<const Eigen::VectorXd>& a, bool a_gradient,
                  const Eigen::Ref<const Eigen::VectorXd>& b, bool b_gradient,
                  Eigen::Ref<Eigen::MatrixXd> out) const;

  // The covariance of the outputs of `a` with f at each column of `x` (d x m),
  // written into `out` (Outputs(a_gradient) x m): the batched form of
  // Covariance(a, a_gradient, x.col(c), false), with array operations.
  void CovarianceWithValues(const Eigen::Ref<const Eigen::VectorXd>& a, bool a_gradient,
                            const Eigen::MatrixXd& x,
                            Eigen::Ref<Eigen::MatrixXd> out) const;

  // For theta = (log l_1, ..., log l_d, log s2), adds
  //   sum_{r,c} weights(r, c) d Covariance(a, b)(r, c) / d theta_m
  // to gradient[m]. `weights` has the shape of the block; `gradient` has d + 1
  // entries. An isotropic kernel's log l derivative is the sum of the first d.
  void AccumulateHyperGradient(const Eigen::Ref<const Eigen::VectorXd>& a,
                               bool a_gradient,
                               const Eigen::Ref<const Eigen::VectorXd>& b,
                               bool b_gradient,
                               const Eigen::Ref<const Eigen::MatrixXd>& weights,
                               Eigen::Ref<Eigen::VectorXd> gradient) const;

  // Adds sum_c weights(c) d^2 cov(f(a), output_c(b)) / da da' to `hessian`
  // (d x d); `weights` has Outputs(b_gradient) entries.
  void AccumulateValueHessian(const Eigen::Ref<const Eigen::VectorXd>& a,
                              const Eigen::Ref<const Eigen::VectorXd>& b, bool b_gradient,
                              const Eigen::Ref<const Eigen::VectorXd>& weights,
                              Eigen::Ref<Eigen::MatrixXd> hessian) const;

 private:
  // g and its first three derivatives in rho; for Matern-5/2, g3 is 0 below
  // kTaylorRadius (see the file comment).
  struct Radial {
    double g, g1, g2, g3;
  };
  Radial Evaluate(double rho) const;

  KernelType type_;
  Eigen::VectorXd lengthscales_;
  Eigen::VectorXd inv_sq_;  // Lambda
  double output_scale_;
};

}  // namespace lago::core

#endif  // LAGO_CORE_KERNEL_H_
