#include "core/trust_region.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "Eigen/Eigenvalues"
#include "Eigen/LU"
#include "gtest/gtest.h"

namespace lago::core {
namespace {

// Reference numbers from the LAGO authors' Julia implementation, published as
// test data in their public port (repository evandieren/LAGO, folder
// reference/data, file lago_trust_region_reference.toml, MIT licence): one
// trust-region iteration in 2-D from centre (0, 0) with f(centre) = 1.
const Eigen::Vector2d kG(-1.0, 2.0);
Eigen::Matrix2d RefB() {
  Eigen::Matrix2d b;
  b << 2.0, 0.3, 0.3, 1.0;
  return b;
}
const Eigen::Vector2d kStep(0.2, -0.1);
const Eigen::Vector2d kTrialGradient(-0.5, 1.7);

// The reference values are printed to ~16 digits; 1e-12 allows the last-digit
// differences of a different summation order.
constexpr double kTol = 1e-12;

TEST(TrustRegionTest, ReproducesTheReferenceQuadraticModel) {
  const double change = ModelChange(kG, RefB(), kStep);
  EXPECT_NEAR(1.0 + change, 0.639, kTol);  // model_value
  EXPECT_NEAR(-change, 0.361, kTol);       // predicted_improvement
}

TEST(TrustRegionTest, ReproducesTheReferenceCauchyPoint) {
  const Eigen::Vector2d inf =
      Eigen::Vector2d::Constant(std::numeric_limits<double>::infinity());
  const Eigen::VectorXd s = CauchyPoint(kG, RefB(), 1.0, -inf, inf);
  EXPECT_NEAR(s[0], 0.4472135954999579, kTol);
  EXPECT_NEAR(s[1], -0.8944271909999159, kTol);
  EXPECT_NEAR(s.norm(), 0.9999999999999999, kTol);
}

TEST(TrustRegionTest, ReproducesTheReferenceRatioSr1AndRadius) {
  const double predicted = -ModelChange(kG, RefB(), kStep);
  EXPECT_NEAR(ImprovementRatio(1.0, 0.8, predicted), 0.5540166204986149, kTol);

  // Rejected: rho = -0.277..., SR1 still applied, radius halved, centre kept.
  const double f_rejected = 1.0 + 0.2770083102493077 * predicted;
  const double rho_rejected = ImprovementRatio(1.0, f_rejected, predicted);
  EXPECT_NEAR(rho_rejected, -0.2770083102493077, kTol);
  Eigen::MatrixXd b = RefB();
  ASSERT_TRUE(Sr1Update(&b, kStep, kTrialGradient - kG));
  Eigen::Matrix2d expected;
  expected << 2.325, -0.35000000000000003, -0.35000000000000003, 2.3;
  EXPECT_LT((b - expected).cwiseAbs().maxCoeff(), kTol);
  RadiusRules rules;
  rules.max_radius = 4.0;
  EXPECT_DOUBLE_EQ(UpdateRadius(1.0, rho_rejected, kStep.norm(), rules), 0.5);
  // Accepted: rho = 0.554, the same SR1 matrix, the radius unchanged.
  EXPECT_DOUBLE_EQ(UpdateRadius(1.0, 0.5540166204986149, kStep.norm(), rules), 1.0);
}

TEST(TrustRegionTest, ReproducesTheReferenceRadiusFactors) {
  RadiusRules rules;
  rules.max_radius = 10.0;
  EXPECT_DOUBLE_EQ(UpdateRadius(1.0, 0.5, 1.0, rules), 1.0 * 1.0);   // unchanged
  EXPECT_DOUBLE_EQ(UpdateRadius(1.0, 0.9, 0.5, rules), 1.0 * 1.0);   // good_interior
  EXPECT_DOUBLE_EQ(UpdateRadius(1.0, 0.1, 1.0, rules), 1.0 * 0.5);   // shrink
  EXPECT_DOUBLE_EQ(UpdateRadius(1.0, 0.9, 0.95, rules), 1.0 * 2.0);  // expand
  rules.max_radius = 1.5;
  EXPECT_DOUBLE_EQ(UpdateRadius(1.0, 0.9, 0.95, rules), 1.5);  // capped
}

TEST(TrustRegionTest, Sr1SkipsWhenTheCurvatureConditionFails) {
  Eigen::MatrixXd b = RefB();
  // y = B s exactly: v = 0, nothing to learn.
  EXPECT_FALSE(Sr1Update(&b, kStep, RefB() * kStep));
  EXPECT_EQ(b, Eigen::MatrixXd(RefB()));
  // y = B s to rounding (in B s as another BLAS kernel computes it): v is
  // along s, so the curvature condition alone would pass it, but it is
  // noise.
  const Eigen::VectorXd rounded = (1.0 + 1e-15) * (RefB() * kStep);
  EXPECT_FALSE(Sr1Update(&b, kStep, rounded));
  EXPECT_EQ(b, Eigen::MatrixXd(RefB()));
}

// H q by the two-loop recursion (Nocedal & Wright (2006), algorithm 7.4):
// the inverse of the limited-memory BFGS matrix, computed the other way.
Eigen::VectorXd TwoLoop(const Eigen::MatrixXd& s, const Eigen::MatrixXd& y,
                        Eigen::VectorXd q) {
  const int m = static_cast<int>(s.rows());
  std::vector<double> a(m);
  for (int k = m - 1; k >= 0; --k) {
    a[k] = s.row(k).dot(q) / s.row(k).dot(y.row(k));
    q -= a[k] * y.row(k).transpose();
  }
  Eigen::VectorXd r = q * s.row(m - 1).dot(y.row(m - 1)) / y.row(m - 1).squaredNorm();
  for (int k = 0; k < m; ++k) {
    const double beta = y.row(k).dot(r) / s.row(k).dot(y.row(k));
    r += s.row(k).transpose() * (a[k] - beta);
  }
  return r;
}

TEST(TrustRegionTest, LbfgsMatrixIsTheInverseOfTheTwoLoopRecursion) {
  // Pairs from the gradient of a convex quadratic, y = H s.
  Eigen::MatrixXd h(4, 4);
  h << 9, 1, 0, 2, 1, 4, 1, 0, 0, 1, 3, 1, 2, 0, 1, 6;
  Eigen::MatrixXd s(3, 4);
  s << 0.3, -0.1, 0.2, 0.05, -0.2, 0.4, 0.1, 0.3, 0.1, 0.1, -0.5, 0.2;
  const Eigen::MatrixXd y = s * h;
  const Eigen::MatrixXd b = LbfgsMatrix(s, y);
  ASSERT_EQ(b.rows(), 4);
  EXPECT_LT((b - b.transpose()).norm(), 1e-12 * b.norm());
  EXPECT_GT(Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(b).eigenvalues().minCoeff(),
            0.0);
  // The newest secant condition holds exactly.
  EXPECT_LT((b * s.row(2).transpose() - y.row(2).transpose()).norm(), 1e-12);
  for (int i = 0; i < 4; ++i) {
    const Eigen::VectorXd e = Eigen::VectorXd::Unit(4, i);
    EXPECT_LT((b * TwoLoop(s, y, e) - e).norm(), 1e-10) << "column " << i;
  }
}

TEST(TrustRegionTest, LbfgsMatrixPassesOverPairsWithoutCurvature) {
  Eigen::MatrixXd s(2, 2), y(2, 2);
  s << 1.0, 0.0, 0.0, 1.0;
  y << 2.0, 0.5, 0.0, -3.0;  // The second pair has s'y < 0.
  const Eigen::MatrixXd b = LbfgsMatrix(s, y);
  const Eigen::MatrixXd only_first = LbfgsMatrix(s.topRows(1), y.topRows(1));
  ASSERT_EQ(b.rows(), 2);
  EXPECT_LT((b - only_first).norm(), 1e-15);
  EXPECT_EQ(LbfgsMatrix(s.bottomRows(1), y.bottomRows(1)).size(), 0);
}

// The best model value over a fine sampling of the disc (and box): what the
// exact solver must match or beat.
double BruteForce(const Eigen::Vector2d& g, const Eigen::Matrix2d& b, double radius,
                  const Eigen::Vector2d& lower, const Eigen::Vector2d& upper) {
  double best = 0.0;
  for (int i = 0; i <= 2000; ++i) {
    for (int k = 0; k <= 200; ++k) {
      const double angle = 2 * M_PI * i / 2000.0, r = radius * k / 200.0;
      const Eigen::Vector2d s(r * std::cos(angle), r * std::sin(angle));
      if ((s.array() < lower.array()).any() || (s.array() > upper.array()).any())
        continue;
      best = std::min(best, ModelChange(g, b, s));
    }
  }
  return best;
}

TEST(TrustRegionTest, ExactSolverMatchesBruteForceForIndefiniteMatrices) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  const Eigen::Vector2d inf =
      Eigen::Vector2d::Constant(std::numeric_limits<double>::infinity());
  for (int trial = 0; trial < 20; ++trial) {
    Eigen::Matrix2d a;
    a << normal(rng), normal(rng), normal(rng), normal(rng);
    const Eigen::Matrix2d b = a + a.transpose();
    const Eigen::Vector2d g(normal(rng), normal(rng));
    const double radius = 0.1 + std::abs(normal(rng));
    const TrustRegionStep step = SolveTrustRegion(g, b, radius);
    EXPECT_LE(step.step.norm(), radius * (1 + 1e-10));
    // The sampling is within ~1e-4 of the true minimum; the exact step must
    // be at least that good.
    EXPECT_LE(ModelChange(g, b, step.step), BruteForce(g, b, radius, -inf, inf) + 1e-12);
    EXPECT_NEAR(step.predicted_improvement, -ModelChange(g, b, step.step), 1e-14);
  }
}

TEST(TrustRegionTest, HardCaseReachesTheBoundaryAlongTheNegativeCurvature) {
  // g has no component along e1, the eigenvector of lambda_min = -1.
  Eigen::Matrix2d b;
  b << -1.0, 0.0, 0.0, 2.0;
  const Eigen::Vector2d g(0.0, 1.0);
  const TrustRegionStep step = SolveTrustRegion(g, b, 2.0);
  EXPECT_EQ(step.method, StepMethod::kHardCase);
  // s = (+-sqrt(4 - 1/9), -1/3).
  EXPECT_NEAR(step.step[1], -1.0 / 3.0, 1e-12);
  EXPECT_NEAR(std::abs(step.step[0]), std::sqrt(4.0 - 1.0 / 9.0), 1e-12);
  EXPECT_NEAR(step.step.norm(), 2.0, 1e-12);
}

TEST(TrustRegionTest, InteriorNewtonStepForAConvexModel) {
  Eigen::Matrix2d b;
  b << 4.0, 1.0, 1.0, 3.0;
  const Eigen::Vector2d g(1.0, -2.0);
  const TrustRegionStep step = SolveTrustRegion(g, b, 10.0);
  EXPECT_EQ(step.method, StepMethod::kInterior);
  EXPECT_LT((step.step - Eigen::Vector2d(b.inverse() * -g)).norm(), 1e-12);
}

TEST(TrustRegionTest, BoxConstrainedStepsStayInTheBoxAndBeatTheCauchyPoint) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> u(0.05, 0.6);
  for (int trial = 0; trial < 20; ++trial) {
    Eigen::Matrix2d a;
    a << normal(rng), normal(rng), normal(rng), normal(rng);
    const Eigen::Matrix2d b =
        a + a.transpose() + (trial % 2 ? 3.0 : 0.0) * Eigen::Matrix2d::Identity();
    const Eigen::Vector2d g(normal(rng), normal(rng));
    const Eigen::Vector2d lower(-u(rng), -u(rng)), upper(u(rng), u(rng));
    const double radius = 1.0;
    const TrustRegionStep step = SolveTrustRegion(g, b, radius, lower, upper);
    EXPECT_TRUE((step.step.array() >= lower.array() - 1e-15).all() &&
                (step.step.array() <= upper.array() + 1e-15).all());
    EXPECT_LE(step.step.norm(), radius * (1 + 1e-10));
    const double cauchy = ModelChange(g, b, CauchyPoint(g, b, radius, lower, upper));
    EXPECT_LE(ModelChange(g, b, step.step), cauchy + 1e-15);
    // The active-set heuristic is not exact; it should come within a few
    // percent of the best point of a fine sampling of the feasible set.
    const double brute = BruteForce(g, b, radius, lower, upper);
    EXPECT_LE(ModelChange(g, b, step.step), 0.9 * brute + 1e-12) << "trial " << trial;
  }
}

TEST(TrustRegionTest, ZeroGradientAtAMinimumGivesTheZeroStep) {
  const Eigen::Matrix2d b = Eigen::Matrix2d::Identity();
  const TrustRegionStep step = SolveTrustRegion(Eigen::Vector2d::Zero(), b, 1.0);
  EXPECT_EQ(step.method, StepMethod::kZero);
  EXPECT_EQ(step.step.norm(), 0.0);
  EXPECT_EQ(step.predicted_improvement, 0.0);
}

}  // namespace
}  // namespace lago::core
