// The local half of LAGO (LAGO.md section 3): the trust-region subproblem with
// a possibly indefinite quasi-Newton matrix, the SR1 update, the ratio test
// and the radius rules.
//
// Subproblem: min_s m(s) = g's + s'Bs/2 subject to ||s|| <= radius and
// lower <= s <= upper (the box, as offsets from the centre).
// Without the box it is solved exactly (Nocedal & Wright (2006), section 4.3;
// More & Sorensen (1983)): with B = Q diag(lambda) Q', find lambda* >=
// max(0, -lambda_min) with ||s(lambda*)|| = radius by Newton's method on the
// secular equation 1/radius - 1/||s(lambda)|| = 0, s(lambda) = -(B + lambda I)^-1 g,
// or take the interior Newton step when B is positive definite and it fits;
// the hard case (g orthogonal to the eigenspace of lambda_min) adds the
// eigenvector that reaches the boundary. When that step leaves the box, the
// violated coordinates are fixed at their bounds and the subproblem is solved
// again in the others (an active-set loop). The Cauchy point (steepest
// descent to the model minimiser along -g, inside the box) is the fallback,
// and the better of the two by model value is returned; the zero step when
// neither decreases the model.
#ifndef LAGO_CORE_TRUST_REGION_H_
#define LAGO_CORE_TRUST_REGION_H_

#include "Eigen/Core"

namespace lago::core {

// g's + s'Bs/2: the change of the quadratic model.
double ModelChange(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                   const Eigen::VectorXd& s);

enum class StepMethod { kInterior, kBoundary, kHardCase, kBoxActiveSet, kCauchy, kZero };

struct TrustRegionStep {
  Eigen::VectorXd step;
  // I = -(g's + s'Bs/2) >= 0.
  double predicted_improvement = 0.0;
  StepMethod method = StepMethod::kZero;
};

// Precondition: b symmetric, radius > 0, lower <= 0 <= upper (the centre is
// inside the box). Infinite bounds mean no box in that coordinate.
TrustRegionStep SolveTrustRegion(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                                 double radius, const Eigen::VectorXd& lower,
                                 const Eigen::VectorXd& upper);
// The same without a box.
TrustRegionStep SolveTrustRegion(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                                 double radius);

// The minimiser of the model along -g within the radius and the box.
Eigen::VectorXd CauchyPoint(const Eigen::VectorXd& g, const Eigen::MatrixXd& b,
                            double radius, const Eigen::VectorXd& lower,
                            const Eigen::VectorXd& upper);

// rho = (f(centre) - f(trial)) / predicted improvement.
double ImprovementRatio(double f_center, double f_trial, double predicted_improvement);

// SR1: with v = y - Bs, B += v v' / (v's) unless |v's| <= skip ||s|| ||v||,
// or v is only rounding in y - Bs (||v|| <= 64 eps (||y|| + ||Bs||)): then
// B already maps s to y. Returns whether B changed.
bool Sr1Update(Eigen::MatrixXd* b, const Eigen::VectorXd& s, const Eigen::VectorXd& y,
               double skip = 1e-8);

// The limited-memory BFGS matrix of the pairs (s_k, y_k), the rows of `s`
// and `y`, oldest first (Nocedal & Wright (2006), section 7.2, in its direct
// form): B_0 = (y'y / s'y) I from the newest pair, then one BFGS update per
// pair. Pairs without curvature (s'y <= skip ||s|| ||y||) are passed over.
// Symmetric positive definite; the empty matrix when no pair has curvature.
Eigen::MatrixXd LbfgsMatrix(const Eigen::MatrixXd& s, const Eigen::MatrixXd& y,
                            double skip = 1e-8);

struct RadiusRules {
  double shrink_below = 0.25;  // rho below: radius / 2.
  double expand_above = 0.75;  // rho above and ||s|| > boundary_fraction r: 2 r.
  double boundary_fraction = 0.8;
  double max_radius = 1.0;
};

// The next radius after a step of length `step_norm` with ratio `rho`.
double UpdateRadius(double radius, double rho, double step_norm,
                    const RadiusRules& rules);

}  // namespace lago::core

#endif  // LAGO_CORE_TRUST_REGION_H_
