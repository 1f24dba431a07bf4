#include "core/acquisition.h"

#include <random>
#include <tuple>

#include "gtest/gtest.h"

namespace lago::core {
namespace {

// log h(z) in long double by the direct formula h = phi(z) + z Phi(z): its
// cancellation (about t^2 relative for t = -z) still leaves ~1e-16 relative
// accuracy up to t = 40, so it serves as the reference.
long double ReferenceLogH(long double z) {
  const long double phi =
      expl(-0.5L * z * z) / sqrtl(2.0L * 3.14159265358979323846264338L);
  const long double big_phi = 0.5L * erfcl(-z / sqrtl(2.0L));
  return logl(phi + z * big_phi);
}

TEST(AcquisitionTest, LogHIsAccurateFarIntoTheTail) {
  for (double z :
       {3.0, 1.0, 0.0, -1.0, -2.9, -3.0, -3.1, -5.0, -10.0, -20.0, -30.0, -38.0}) {
    const double reference = static_cast<double>(ReferenceLogH(z));
    // 1e-12 relative: both sides are accurate to ~1e-15.
    EXPECT_NEAR(LogH(z), reference, 1e-12 * std::max(1.0, std::abs(reference))) << z;
  }
}

TEST(AcquisitionTest, LogHStaysFiniteWhereEiUnderflows) {
  // At z = -40, h(z) ~ 1e-351 is below the smallest double.
  const double z = -40.0;
  const double phi = std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
  EXPECT_EQ(phi + z * 0.5 * std::erfc(-z / std::sqrt(2.0)), 0.0);
  const double log_h = LogH(z);
  EXPECT_TRUE(std::isfinite(log_h));
  EXPECT_NEAR(log_h, static_cast<double>(ReferenceLogH(z)), 1e-12 * std::abs(log_h));
  // Deeper still, the asymptotic log h ~ -z^2/2 - log(sqrt(2 pi)) - 2 log|z|.
  EXPECT_NEAR(LogH(-1e3), -5e5 - 0.5 * std::log(2 * M_PI) - 2 * std::log(1e3),
              1e-9 * 5e5);
}

TEST(AcquisitionTest, LogHDerivativeMatchesFiniteDifferences) {
  for (double z : {2.0, 0.0, -2.5, -3.5, -8.0, -25.0}) {
    double derivative = 0.0;
    LogH(z, &derivative);
    const double h = 1e-6;
    EXPECT_NEAR(derivative, (LogH(z + h) - LogH(z - h)) / (2 * h),
                1e-6 * std::abs(derivative))
        << z;
  }
}

std::vector<GpPoint> Data() {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<GpPoint> points;
  for (int i = 0; i < 8; ++i) {
    Eigen::Vector2d x(u(rng), u(rng));
    GpPoint p{x, std::sin(5 * x[0]) + std::cos(3 * x[1]), std::nullopt};
    if (i % 2 == 0)
      p.gradient = Eigen::Vector2d(5 * std::cos(5 * x[0]), -3 * std::sin(3 * x[1]));
    points.push_back(p);
  }
  return points;
}

GaussianProcess MakeGp() {
  auto gp = GaussianProcess::Create(2, {}, {Eigen::Vector2d(0.3, 0.4), 1.0}, Data());
  EXPECT_TRUE(gp.ok());
  return *std::move(gp);
}

TEST(AcquisitionTest, GradientsMatchFiniteDifferences) {
  const GaussianProcess gp = MakeGp();
  double best = 1e300;
  for (const GpPoint& p : gp.points()) best = std::min(best, p.value);
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> u(0.05, 0.95);
  for (AcquisitionType type :
       {AcquisitionType::kExpectedImprovement, AcquisitionType::kLogExpectedImprovement,
        AcquisitionType::kUpperConfidence}) {
    Acquisition acquisition(gp, type, best, 1.5);
    for (int trial = 0; trial < 8; ++trial) {
      Eigen::Vector2d x(u(rng), u(rng));
      Eigen::VectorXd gradient;
      const double value = acquisition.EvaluateWithGradient(x, &gradient);
      EXPECT_NEAR(value, acquisition.Evaluate(x)[0],
                  1e-12 * std::max(1.0, std::abs(value)));
      for (int j = 0; j < 2; ++j) {
        const Eigen::Vector2d e = Eigen::Vector2d::Unit(j) * 1e-6;
        Eigen::VectorXd ignored;
        const double numeric = (acquisition.EvaluateWithGradient(x + e, &ignored) -
                                acquisition.EvaluateWithGradient(x - e, &ignored)) /
                               2e-6;
        // Step 1e-6: truncation ~1e-12, rounding ~1e-10 of O(1) values.
        EXPECT_NEAR(gradient[j], numeric, 1e-5 * std::max(1.0, std::abs(numeric)))
            << static_cast<int>(type) << " at " << x.transpose();
      }
    }
  }
}

TEST(AcquisitionTest, LogEiIsTheLogarithmOfEi) {
  const GaussianProcess gp = MakeGp();
  Acquisition ei(gp, AcquisitionType::kExpectedImprovement, 0.0);
  Acquisition log_ei(gp, AcquisitionType::kLogExpectedImprovement, 0.0);
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(2, 50).array() * 0.5 + 0.5;
  const Eigen::VectorXd a = ei.Evaluate(x), b = log_ei.Evaluate(x);
  for (int i = 0; i < 50; ++i) {
    if (a[i] > 1e-300) {
      EXPECT_NEAR(std::log(a[i]), b[i], 1e-10 * std::max(1.0, std::abs(b[i])));
    }
  }
}

TEST(AcquisitionTest, LogEiRanksPointsWhereEiIsZero) {
  const GaussianProcess gp = MakeGp();
  // A target far below every prediction: EI underflows to 0 everywhere, LogEI
  // still prefers the point with more hope.
  Acquisition ei(gp, AcquisitionType::kExpectedImprovement, -60.0);
  Acquisition log_ei(gp, AcquisitionType::kLogExpectedImprovement, -60.0);
  Eigen::MatrixXd x(2, 2);
  x << 0.5, 0.99, 0.5, 0.99;
  EXPECT_EQ(ei.Evaluate(x).maxCoeff(), 0.0);
  const Eigen::VectorXd v = log_ei.Evaluate(x);
  EXPECT_TRUE(v.allFinite());
  EXPECT_NE(v[0], v[1]);
}

double BestValue(const GaussianProcess& gp) {
  double best = 1e300;
  for (const GpPoint& p : gp.points()) best = std::min(best, p.value);
  return best;
}

// A search small enough for a unit test.
AcquisitionSearchOptions SmallSearch() {
  AcquisitionSearchOptions options;
  options.candidates = 256;
  options.refine = 5;
  options.seed = 1;
  return options;
}

TEST(AcquisitionTest, MaximizerStaysOutsideTheExcludedBallAndBeatsTheCandidates) {
  const GaussianProcess gp = MakeGp();
  Acquisition acquisition(gp, AcquisitionType::kLogExpectedImprovement, BestValue(gp));
  AcquisitionSearchOptions options = SmallSearch();
  auto free = MaximizeAcquisition(acquisition, options);
  ASSERT_TRUE(free.ok()) << free.status();
  // Put the ball on the unconstrained optimum: the answer must leave it.
  options.excluded_center = free->x;
  options.excluded_radius = 0.2;
  auto constrained = MaximizeAcquisition(acquisition, options);
  ASSERT_TRUE(constrained.ok()) << constrained.status();
  EXPECT_GE((constrained->x - free->x).norm(), 0.2 - 1e-9);
  EXPECT_TRUE((constrained->x.array() >= 0.0).all() &&
              (constrained->x.array() <= 1.0).all());
  EXPECT_LE(constrained->value, free->value + 1e-12);
  // Refinement improves on the best of the scored candidates.
  Eigen::MatrixXd grid(2, 101 * 101);
  for (int i = 0; i <= 100; ++i) {
    for (int j = 0; j <= 100; ++j)
      grid.col(i * 101 + j) = Eigen::Vector2d(i / 100.0, j / 100.0);
  }
  EXPECT_GE(free->value, acquisition.Evaluate(grid).maxCoeff() - 1e-6)
      << "the optimiser should match a fine grid";
  // A ball that covers the cube leaves nothing.
  options.excluded_center = Eigen::Vector2d(0.5, 0.5);
  options.excluded_radius = 1.0;
  EXPECT_EQ(MaximizeAcquisition(acquisition, options).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AcquisitionTest, MaximizerKeepsAwayFromEveryAvoidedPoint) {
  const GaussianProcess gp = MakeGp();
  Acquisition acquisition(gp, AcquisitionType::kLogExpectedImprovement, BestValue(gp));
  AcquisitionSearchOptions options = SmallSearch();
  // Avoid the optimum, then the next optimum too: each answer keeps the
  // radius from every avoided point (points in flight).
  options.avoid_radius = 0.1;
  for (int k = 0; k < 3; ++k) {
    auto found = MaximizeAcquisition(acquisition, options);
    ASSERT_TRUE(found.ok()) << found.status();
    for (const Eigen::VectorXd& a : options.avoid)
      EXPECT_GE((found->x - a).norm(), 0.1 - 1e-9) << "round " << k;
    options.avoid.push_back(found->x);
  }
}

TEST(AcquisitionTest, MaximizerNeverRepeatsAnObservedPoint) {
  // The posterior mean's minimum (UCB with beta = 0) sits on the observed
  // corner (0, 0), where the refinement runs into the bounds. Told the
  // observed points, the search answers a point at least repeat_radius away.
  std::vector<GpPoint> points;
  for (const auto& [x, y, value] :
       std::vector<std::tuple<double, double, double>>{{0.0, 0.0, -3.0},
                                                       {0.5, 0.5, 0.0},
                                                       {1.0, 0.0, 0.0},
                                                       {0.0, 1.0, 0.0},
                                                       {1.0, 1.0, 0.0}}) {
    points.push_back(GpPoint{Eigen::Vector2d(x, y), value, std::nullopt});
  }
  auto gp = GaussianProcess::Create(2, {}, {Eigen::Vector2d(0.4, 0.4), 1.0}, points);
  ASSERT_TRUE(gp.ok()) << gp.status();
  Acquisition mean(*gp, AcquisitionType::kUpperConfidence, 0.0, /*beta=*/0.0);
  AcquisitionSearchOptions options = SmallSearch();
  auto repeat = MaximizeAcquisition(mean, options);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  ASSERT_LT(repeat->x.norm(), 1e-9) << "the unguarded search should find the corner";
  for (const GpPoint& p : points) options.observed.push_back(p.x);
  options.repeat_radius = 0.01;
  auto fresh = MaximizeAcquisition(mean, options);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  for (const GpPoint& p : points) EXPECT_GE((fresh->x - p.x).norm(), 0.01);
  // Still near the corner: the best of what is left, not a random point.
  EXPECT_LT(fresh->x.norm(), 0.2);
}

}  // namespace
}  // namespace lago::core
