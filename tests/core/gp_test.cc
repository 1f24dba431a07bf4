#include "core/gp.h"

#include <cmath>
#include <limits>
#include <random>

#include "Eigen/Cholesky"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/blas_threads.h"
#include "gtest/gtest.h"

namespace lago::core {
namespace {

// Reference numbers from the LAGO authors' Julia implementation, published as
// test data in their public port (repository evandieren/LAGO, folder
// reference/data, file lago_gp_reference.toml, MIT licence): a value-only GP,
// Matern-5/2, fixed prior mean 0.575, output scale 2.3, nugget 1e-9, no
// standardisation, four points in 2-D, three query points.
struct Reference {
  Eigen::Vector2d lengthscales;
  double mean[3];
  double variance[3];
  double hessian[3][2][2];
};
const Eigen::Vector2d kRefX[4] = {{0.0, 0.0}, {0.5, 0.2}, {0.2, 0.8}, {0.8, 0.7}};
const double kRefY[4] = {1.0, 0.4, 0.7, 0.2};
const Eigen::Vector2d kRefQuery[3] = {{0.3, 0.4}, {0.5, 0.2}, {0.9, 0.3}};
const Reference kIsotropic = {
    {0.8, 0.8},
    {0.6012700308993004, 0.40000000037802974, 0.1442775467816544},
    {0.135040732076523, 9.999996386511611e-10, 0.35069492436694505},
    {{{-0.17689974139939277, 0.53597249976282}, {0.53597249976282, 0.8789909987113849}},
     {{1.9767890291865173, -0.07215218551893027},
      {-0.07215218551893027, 1.1656520820293113}},
     {{1.8984036225034142, -0.03027603465942509},
      {-0.03027603465942509, 1.116929254235477}}}};
const Reference kArd = {
    {0.7, 1.4},
    {0.6263481257878122, 0.4000000003058072, 0.18606193780910402},
    {0.049081977787328146, 9.999996386511611e-10, 0.25869780047593505},
    {{{-0.051466060051406, 0.32522741495922197},
      {0.32522741495922197, 0.07025543105381064}},
     {{2.492907158277888, -0.006063098699706199},
      {-0.006063098699706199, 0.27402117605991316}},
     {{1.9332173447768022, 0.048136131058614036},
      {0.048136131058614036, 0.3296340644040048}}}};

// Relative agreement asked of the reference numbers. The variance at the
// training point (about the nugget, 1e-9) is a difference of O(1) numbers and
// only meaningful to about 1e-16 absolute, so it is compared absolutely.
constexpr double kReferenceTolerance = 1e-8;

void CheckReference(const Reference& ref) {
  GpOptions options;
  options.prior_mean = 0.575;
  options.standardize = false;
  options.nugget = 1e-9;
  std::vector<GpPoint> points;
  for (int i = 0; i < 4; ++i) points.push_back({kRefX[i], kRefY[i], std::nullopt});
  auto gp = GaussianProcess::Create(2, options, {ref.lengthscales, 2.3}, points);
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_EQ(gp->jitter(), 0.0);
  Eigen::MatrixXd queries(2, 3);
  for (int q = 0; q < 3; ++q) queries.col(q) = kRefQuery[q];
  const Prediction p = gp->Predict(queries);
  for (int q = 0; q < 3; ++q) {
    EXPECT_NEAR(p.mean[q], ref.mean[q], kReferenceTolerance * std::abs(ref.mean[q])) << q;
    EXPECT_NEAR(p.variance[q], ref.variance[q],
                std::max(kReferenceTolerance * ref.variance[q], 1e-15))
        << q;
    const Eigen::MatrixXd h = gp->MeanHessian(kRefQuery[q]);
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) {
        EXPECT_NEAR(h(a, b), ref.hessian[q][a][b],
                    kReferenceTolerance * std::abs(ref.hessian[q][a][b]))
            << "query " << q << " entry " << a << b;
      }
    }
  }
}

TEST(GpTest, ReproducesTheAuthorsIsotropicReference) { CheckReference(kIsotropic); }
TEST(GpTest, ReproducesTheAuthorsArdReference) { CheckReference(kArd); }

// A smooth test function with its gradient.
double F(const Eigen::VectorXd& x) {
  return std::sin(3 * x[0]) + x[1] * x[1] + 0.5 * x[0] * x[2] - x[2];
}
Eigen::VectorXd GradF(const Eigen::VectorXd& x) {
  return Eigen::Vector3d(3 * std::cos(3 * x[0]) + 0.5 * x[2], 2 * x[1], 0.5 * x[0] - 1.0);
}

// Points with and without gradients, in 3-D.
std::vector<GpPoint> MixedPoints(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<GpPoint> points;
  for (int i = 0; i < n; ++i) {
    Eigen::VectorXd x(3);
    for (int j = 0; j < 3; ++j) x[j] = u(rng);
    GpPoint p{x, F(x), std::nullopt};
    if (i % 3 != 1) p.gradient = GradF(x);
    points.push_back(p);
  }
  return points;
}

const GpHyperparameters kHyper = {Eigen::Vector3d(0.6, 0.9, 1.3), 1.4};

TEST(GpTest, GradientEnhancedGpInterpolatesObservedGradients) {
  // The residual at a training point is nugget * alpha (standardised), so it
  // is small only where K is well conditioned: lengthscales of about the point
  // spacing keep alpha moderate.
  const GpHyperparameters hyper = {Eigen::Vector3d(0.3, 0.35, 0.4), 1.0};
  for (KernelType type : {KernelType::kMatern52, KernelType::kSquaredExponential}) {
    GpOptions options;
    options.kernel = type;
    auto gp = GaussianProcess::Create(3, options, hyper, MixedPoints(12, 1));
    ASSERT_TRUE(gp.ok()) << gp.status();
    for (const GpPoint& p : gp->points()) {
      double mean, variance;
      Eigen::VectorXd dmean, dvariance;
      gp->PredictWithGradients(p.x, &mean, &variance, &dmean, &dvariance);
      // The nugget (1e-9 in standardised units) lets the fit miss the data by
      // about 1e-9 times the output scale; 1e-6 leaves room for conditioning.
      EXPECT_NEAR(mean, p.value, 1e-6);
      if (p.gradient.has_value()) {
        EXPECT_LT((dmean - *p.gradient).norm(), 1e-6) << dmean.transpose();
        Eigen::VectorXd gmean;
        Eigen::MatrixXd gcov;
        gp->GradientPosterior(p.x, &gmean, &gcov);
        EXPECT_LT((gmean - *p.gradient).norm(), 1e-6);
        EXPECT_LT(gcov.norm(), 1e-6) << "the gradient is known there";
      }
    }
  }
}

// Finite differences: h = 1e-6 gives truncation ~1e-12 and rounding ~1e-10 on
// O(1) quantities; 1e-5 relative catches any analytic slip, which is O(1).
constexpr double kStep = 1e-6;
constexpr double kFdTolerance = 1e-5;

// Gradients that cover every coordinate, and coordinates 0 and 2 of 3 only
// (as when coordinate 1 is an integer or categorical parameter's).
const std::vector<int> kCoverages[] = {{}, {0, 2}};

TEST(GpTest, PosteriorGradientsAndHessianMatchFiniteDifferences) {
  for (KernelType type : {KernelType::kMatern52, KernelType::kSquaredExponential})
    for (const std::vector<int>& coverage : kCoverages)
      for (bool trend : {false, true}) {
        GpOptions options;
        options.kernel = type;
        options.gradient_coordinates = coverage;
        options.quadratic_trend = trend;
        // A trend in 3-D needs 2 * 7 points.
        auto gp =
            GaussianProcess::Create(3, options, kHyper, MixedPoints(trend ? 16 : 10, 2));
        ASSERT_TRUE(gp.ok());
        EXPECT_EQ(gp->trend_quadratic().any() || gp->trend_linear().any(), trend);
        std::mt19937_64 rng(3);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        for (int trial = 0; trial < 5; ++trial) {
          Eigen::VectorXd x(3);
          for (int j = 0; j < 3; ++j) x[j] = u(rng);
          double mean, variance;
          Eigen::VectorXd dmean, dvariance;
          gp->PredictWithGradients(x, &mean, &variance, &dmean, &dvariance);
          const Eigen::MatrixXd hessian = gp->MeanHessian(x);
          Eigen::VectorXd gmean;
          Eigen::MatrixXd gcov;
          gp->GradientPosterior(x, &gmean, &gcov);
          EXPECT_LT((gmean - dmean).norm(), 1e-12 * std::max(1.0, dmean.norm()));
          for (int j = 0; j < 3; ++j) {
            const Eigen::VectorXd e = Eigen::VectorXd::Unit(3, j) * kStep;
            double mp, vp, mm, vm;
            Eigen::VectorXd dmp, dvp, dmm, dvm;
            gp->PredictWithGradients(x + e, &mp, &vp, &dmp, &dvp);
            gp->PredictWithGradients(x - e, &mm, &vm, &dmm, &dvm);
            EXPECT_NEAR(dmean[j], (mp - mm) / (2 * kStep),
                        kFdTolerance * std::max(1.0, std::abs(dmean[j])));
            EXPECT_NEAR(dvariance[j], (vp - vm) / (2 * kStep),
                        kFdTolerance * std::max(1.0, std::abs(dvariance[j])));
            const Eigen::VectorXd column = (dmp - dmm) / (2 * kStep);
            for (int i = 0; i < 3; ++i) {
              EXPECT_NEAR(hessian(i, j), column[i],
                          kFdTolerance * std::max(1.0, std::abs(column[i])));
            }
          }
        }
      }
}

TEST(GpTest, BatchPredictionAgreesWithSinglePoints) {
  for (bool trend : {false, true}) {
    GpOptions options;
    options.quadratic_trend = trend;
    auto gp = GaussianProcess::Create(3, options, kHyper, MixedPoints(trend ? 16 : 9, 4));
    ASSERT_TRUE(gp.ok());
    Eigen::MatrixXd x = Eigen::MatrixXd::Random(3, 7).array() * 0.5 + 0.5;
    const Prediction p = gp->Predict(x);
    for (int c = 0; c < 7; ++c) {
      double mean, variance;
      Eigen::VectorXd dm, dv;
      gp->PredictWithGradients(x.col(c), &mean, &variance, &dm, &dv);
      EXPECT_NEAR(p.mean[c], mean, 1e-12);
      EXPECT_NEAR(p.variance[c], variance, 1e-12);
    }
    const Eigen::VectorXd mean_only = gp->PredictMean(x);
    for (int c = 0; c < 7; ++c) EXPECT_NEAR(mean_only[c], p.mean[c], 1e-12);
  }
}

// `points` and `count` points with gradients within 0.01 of (0.4, 0.6, 0.5),
// drawn from `rng`: a tight cluster, as a trust region leaves, where the
// factor is ill-conditioned.
std::vector<GpPoint> WithCluster(std::vector<GpPoint> points, int count,
                                 std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-0.01, 0.01);
  for (int i = 0; i < count; ++i) {
    Eigen::VectorXd x = Eigen::Vector3d(0.4 + u(rng), 0.6 + u(rng), 0.5 + u(rng));
    points.push_back({x, F(x), GradF(x)});
  }
  return points;
}

// The batched PredictWithGradients against one point at a time, over more
// columns than one pass takes (256), with gradients over every coordinate and
// over some, and a cluster of points as a trust region leaves.
TEST(GpTest, BatchedGradientsAgreeWithSinglePoints) {
  for (const std::vector<int>& coverage : kCoverages)
    for (bool trend : {false, true}) {
      std::mt19937_64 rng(14);
      std::uniform_real_distribution<double> u(-0.01, 0.01);
      const std::vector<GpPoint> points = WithCluster(MixedPoints(40, 13), 10, rng);
      GpOptions options;
      options.gradient_coordinates = coverage;
      options.quadratic_trend = trend;
      auto gp = GaussianProcess::Create(3, options, kHyper, points);
      ASSERT_TRUE(gp.ok()) << gp.status();
      Eigen::MatrixXd x(3, 300);
      for (int c = 0; c < 300; ++c) {
        x.col(c) = c % 3 == 0
                       ? Eigen::Vector3d(0.4 + u(rng), 0.6 + u(rng), 0.5 + u(rng))
                       : Eigen::Vector3d(Eigen::Vector3d::Random().array() * 0.5 + 0.5);
      }
      Eigen::VectorXd means, variances;
      Eigen::MatrixXd mean_gradients, variance_gradients;
      gp->PredictWithGradients(x, &means, &variances, &mean_gradients,
                               &variance_gradients);
      ASSERT_EQ(means.size(), 300);
      ASSERT_EQ(variance_gradients.cols(), 300);
      for (int c = 0; c < 300; ++c) {
        double mean, variance;
        Eigen::VectorXd dm, dv;
        gp->PredictWithGradients(x.col(c), &mean, &variance, &dm, &dv);
        EXPECT_NEAR(means[c], mean, 1e-12) << c;
        EXPECT_NEAR(variances[c], variance, 1e-12) << c;
        EXPECT_LT((mean_gradients.col(c) - dm).norm(), 1e-10 * std::max(1.0, dm.norm()))
            << c;
        EXPECT_LT((variance_gradients.col(c) - dv).norm(),
                  1e-9 * std::max(1.0, dv.norm()))
            << c;
      }
    }
}

// With more than 128 outputs and 128 candidates, and OpenBLAS's AVX-512
// kernels, Predict solves with the factor block by block (inverted diagonal
// blocks, then products); PredictWithGradients solves one vector by
// substitution. Both must agree on a model that also holds a tight cluster of
// points, as a trust region leaves, where the factor is ill-conditioned.
TEST(GpTest, BlockedBatchPredictionAgreesWithSinglePoints) {
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<double> u(-0.01, 0.01);
  const std::vector<GpPoint> points = WithCluster(MixedPoints(120, 11), 30, rng);
  auto gp = GaussianProcess::Create(3, {}, kHyper, points);
  ASSERT_TRUE(gp.ok()) << gp.status();
  ASSERT_GT(gp->num_outputs(), 3 * 128);
  Eigen::MatrixXd x(3, 160);
  for (int c = 0; c < 160; ++c) {
    x.col(c) = c < 80 ? Eigen::Vector3d(0.4 + u(rng), 0.6 + u(rng), 0.5 + u(rng))
                      : Eigen::Vector3d(Eigen::Vector3d::Random().array() * 0.5 + 0.5);
  }
  const Prediction p = gp->Predict(x);
  double worst_mean = 0.0, worst_variance = 0.0;
  for (int c = 0; c < 160; ++c) {
    double mean, variance;
    Eigen::VectorXd dm, dv;
    gp->PredictWithGradients(x.col(c), &mean, &variance, &dm, &dv);
    worst_mean = std::max(worst_mean, std::abs(p.mean[c] - mean));
    worst_variance = std::max(worst_variance, std::abs(p.variance[c] - variance));
  }
  EXPECT_LT(worst_mean, 1e-12);
  EXPECT_LT(worst_variance, 1e-12);
}

// With a fixed standardisation, conditioning incrementally must give the same
// model as factorising from scratch; 1e-9 absolute on O(1) outputs.
GpOptions FixedStandardisation() {
  GpOptions options;
  options.standardize = false;
  options.prior_mean = 0.3;
  return options;
}

void ExpectSameModel(const GaussianProcess& a, const GaussianProcess& b) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(3, 20).array() * 0.5 + 0.5;
  const Prediction pa = a.Predict(x), pb = b.Predict(x);
  EXPECT_LT((pa.mean - pb.mean).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT((pa.variance - pb.variance).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_NEAR(a.LogMarginalLikelihood(), b.LogMarginalLikelihood(),
              1e-9 * std::abs(b.LogMarginalLikelihood()));
}

// The model of the first 5 of `points` (3-D), grown by AddPoint with the
// others in order; the first error when a step fails.
absl::StatusOr<GaussianProcess> Grown(const GpOptions& options,
                                      const GpHyperparameters& h,
                                      const std::vector<GpPoint>& points) {
  auto gp = GaussianProcess::Create(
      3, options, h, std::vector<GpPoint>(points.begin(), points.begin() + 5));
  for (size_t i = 5; gp.ok() && i < points.size(); ++i) {
    if (absl::Status status = gp->AddPoint(points[i]); !status.ok()) return status;
  }
  return gp;
}

TEST(GpTest, IncrementalAddEqualsAFullFactorisation) {
  std::vector<GpPoint> points = MixedPoints(15, 5);
  GpHyperparameters noisy = kHyper;
  noisy.gradient_noise = 0.3;
  noisy.value_noise = 0.02;
  // With OpenBLAS on one thread the add solves by panels on AVX2 and AVX-512
  // CPUs; with two by panels with AVX-512 and by dtrsm without (SolveLower).
  const int threads = BlasThreads();
  for (int t : {1, 2}) {
    SetBlasThreads(t);
    for (const GpHyperparameters& h : {kHyper, noisy}) {
      auto full = GaussianProcess::Create(3, FixedStandardisation(), h, points);
      auto grown = Grown(FixedStandardisation(), h, points);
      ASSERT_TRUE(full.ok() && grown.ok());
      EXPECT_EQ(grown->num_outputs(), full->num_outputs());
      ExpectSameModel(*grown, *full);
    }
  }
  SetBlasThreads(threads);
}

TEST(GpTest, RestandardizingAGrownModelEqualsAFullFactorisation) {
  // With the default standardisation (the mean and spread of the data), a
  // model grown by AddPoint keeps its first points' scaling until
  // Restandardize, which then gives what a full factorisation gives.
  std::vector<GpPoint> points = MixedPoints(15, 5);
  for (int i = 10; i < 15; ++i) points[i].value += 3.0;  // Shift mean and spread.
  auto full = GaussianProcess::Create(3, {}, kHyper, points);
  auto grown = Grown({}, kHyper, points);
  ASSERT_TRUE(full.ok() && grown.ok());
  EXPECT_GT(std::abs(grown->prior_mean() - full->prior_mean()), 0.5);
  ASSERT_TRUE(grown->Restandardize().ok());
  EXPECT_NEAR(grown->prior_mean(), full->prior_mean(), 1e-12);
  EXPECT_NEAR(grown->output_std(), full->output_std(), 1e-12);
  ExpectSameModel(*grown, *full);
}

// A separable quadratic in u = x - 1/2 with curvature (3, 0, 0.5), and its
// gradient.
double Bowl(const Eigen::VectorXd& x) {
  const Eigen::Array3d u = x.array() - 0.5;
  return 2.0 + 1.5 * u[0] + 3.0 * u[0] * u[0] - u[1] + 0.5 * u[2] * u[2];
}
Eigen::VectorXd BowlGradient(const Eigen::VectorXd& x) {
  const Eigen::Array3d u = x.array() - 0.5;
  return Eigen::Vector3d(1.5 + 6.0 * u[0], -1.0, u[2]);
}

// MixedPoints' places with Bowl's values and gradients.
std::vector<GpPoint> BowlPoints(int n, uint64_t seed) {
  std::vector<GpPoint> points = MixedPoints(n, seed);
  for (GpPoint& p : points) {
    p.value = Bowl(p.x);
    if (p.gradient.has_value()) p.gradient = BowlGradient(p.x);
  }
  return points;
}

TEST(GpTest, AQuadraticTrendFindsASeparableBowlAndPredictsIt) {
  GpOptions options;
  options.quadratic_trend = true;
  // 2 (2d + 1) = 14 points in 3-D are the fewest that fit a trend.
  auto few = GaussianProcess::Create(3, options, kHyper, BowlPoints(13, 6));
  ASSERT_TRUE(few.ok()) << few.status();
  EXPECT_TRUE(few->trend_linear().isZero(0.0));
  EXPECT_TRUE(few->trend_quadratic().isZero(0.0));
  double average = 0.0;
  for (const GpPoint& p : few->points()) average += p.value / 13.0;
  EXPECT_NEAR(few->prior_mean(), average, 1e-12);

  auto gp = GaussianProcess::Create(3, options, kHyper, BowlPoints(14, 6));
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_NEAR(gp->prior_mean(), 2.0, 1e-9);
  EXPECT_LT((gp->trend_linear() - Eigen::Vector3d(1.5, -1.0, 0.0)).norm(), 1e-9);
  EXPECT_LT((gp->trend_quadratic() - Eigen::Vector3d(3.0, 0.0, 0.5)).norm(), 1e-9);
  // The GP holds only what the trend leaves (nothing), so the posterior is
  // the bowl everywhere, also far from the points.
  for (const Eigen::Vector3d& x :
       {Eigen::Vector3d(0.1, 0.9, 0.3), Eigen::Vector3d(0.0, 0.0, 1.0)}) {
    double mean, variance;
    Eigen::VectorXd dmean, dvariance;
    gp->PredictWithGradients(x, &mean, &variance, &dmean, &dvariance);
    EXPECT_NEAR(mean, Bowl(x), 1e-8);
    EXPECT_LT((dmean - BowlGradient(x)).norm(), 1e-8);
    EXPECT_LT(
        (gp->MeanHessian(x) - Eigen::Vector3d(6.0, 0.0, 1.0).asDiagonal().toDenseMatrix())
            .norm(),
        1e-8);
  }
}

TEST(GpTest, AQuadraticTrendNeverCurvesDown) {
  // f = -2 u0^2 + u1^2 + u2: least squares alone would fit a ridge along
  // coordinate 0, whose minimum is on the box's faces.
  std::vector<GpPoint> points = MixedPoints(20, 7);
  for (GpPoint& p : points) {
    const Eigen::Array3d u = p.x.array() - 0.5;
    p.value = -2.0 * u[0] * u[0] + u[1] * u[1] + u[2];
    if (p.gradient.has_value())
      p.gradient = Eigen::Vector3d(-4.0 * u[0], 2.0 * u[1], 1.0);
  }
  GpOptions options;
  options.quadratic_trend = true;
  auto gp = GaussianProcess::Create(3, options, kHyper, points);
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_EQ(gp->trend_quadratic()[0], 0.0);
  EXPECT_NEAR(gp->trend_quadratic()[1], 1.0, 0.1);
  EXPECT_GE(gp->trend_quadratic()[2], 0.0);
  EXPECT_NEAR(gp->trend_linear()[2], 1.0, 0.1);
  // The model still interpolates the values.
  for (const GpPoint& p : gp->points()) {
    EXPECT_NEAR(gp->PredictMean(p.x)[0], p.value, 1e-6);
  }
}

TEST(GpTest, AGrownModelWithATrendRestandardizedEqualsAFullFactorisation) {
  // The first 5 points are too few for a trend; Restandardize fits it from
  // all 20, as Create does.
  GpOptions options;
  options.quadratic_trend = true;
  std::vector<GpPoint> points = BowlPoints(20, 8);
  for (GpPoint& p : points) {
    p.value += 0.3 * std::sin(5.0 * p.x[1]);
    if (p.gradient.has_value()) (*p.gradient)[1] += 1.5 * std::cos(5.0 * p.x[1]);
  }
  auto full = GaussianProcess::Create(3, options, kHyper, points);
  auto grown = Grown(options, kHyper, points);
  ASSERT_TRUE(full.ok() && grown.ok());
  ASSERT_TRUE(full->trend_quadratic().any());
  ASSERT_TRUE(grown->Restandardize().ok());
  EXPECT_NEAR(grown->prior_mean(), full->prior_mean(), 1e-12);
  EXPECT_LT((grown->trend_linear() - full->trend_linear()).norm(), 1e-12);
  EXPECT_LT((grown->trend_quadratic() - full->trend_quadratic()).norm(), 1e-12);
  ExpectSameModel(*grown, *full);
}

TEST(GpTest, GradientNoiseLetsTheModelMissTheGradientsButNotTheValues) {
  // Lengthscales of about the point spacing, as in the interpolation test.
  const std::vector<GpPoint> points = MixedPoints(12, 1);
  const GpHyperparameters exact_hyper = {Eigen::Vector3d(0.3, 0.35, 0.4), 1.0};
  GpHyperparameters noisy = exact_hyper;
  noisy.gradient_noise = 1.0;
  auto exact = GaussianProcess::Create(3, {}, exact_hyper, points);
  auto loose = GaussianProcess::Create(3, {}, noisy, points);
  ASSERT_TRUE(exact.ok() && loose.ok());
  EXPECT_EQ(loose->hyperparameters().gradient_noise, 1.0);
  double gap_exact = 0.0, gap_loose = 0.0, value_gap = 0.0;
  for (const GpPoint& p : points) {
    if (!p.gradient.has_value()) continue;
    double m, v;
    Eigen::VectorXd dm, dv;
    exact->PredictWithGradients(p.x, &m, &v, &dm, &dv);
    gap_exact = std::max(gap_exact, (dm - *p.gradient).norm());
    loose->PredictWithGradients(p.x, &m, &v, &dm, &dv);
    gap_loose = std::max(gap_loose, (dm - *p.gradient).norm());
    value_gap = std::max(value_gap, std::abs(m - p.value));
  }
  EXPECT_LT(gap_exact, 1e-6);
  EXPECT_GT(gap_loose, 1e-3);
  EXPECT_LT(value_gap, 1e-6);  // Values stay exact: only gradients are noisy.
  noisy.gradient_noise = -1.0;
  EXPECT_EQ(GaussianProcess::Create(3, {}, noisy, points).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GpTest, ValueNoiseIsTheNuggetOfAValueOnlyModelAndSmoothsTheValues) {
  // With values only, a value noise eta adds eta s2 to every diagonal entry
  // of K, as a larger nugget would: both paths must give the same model.
  std::vector<GpPoint> points = MixedPoints(12, 4);
  for (GpPoint& p : points) p.gradient.reset();
  GpHyperparameters noisy = kHyper;
  noisy.value_noise = 0.05;
  GpOptions nugget = FixedStandardisation();
  nugget.nugget += noisy.value_noise * noisy.output_scale;
  auto with_noise = GaussianProcess::Create(3, FixedStandardisation(), noisy, points);
  auto with_nugget = GaussianProcess::Create(3, nugget, kHyper, points);
  auto exact = GaussianProcess::Create(3, FixedStandardisation(), kHyper, points);
  ASSERT_TRUE(with_noise.ok() && with_nugget.ok() && exact.ok());
  EXPECT_EQ(with_noise->hyperparameters().value_noise, 0.05);
  ExpectSameModel(*with_noise, *with_nugget);
  // The noisy model no longer passes through the values, and is less sure
  // of them than the exact one, but not less sure than the noise allows.
  double gap = 0.0;
  for (const GpPoint& p : points) {
    const Prediction a = with_noise->Predict(p.x), b = exact->Predict(p.x);
    gap = std::max(gap, std::abs(a.mean(0) - p.value));
    EXPECT_NEAR(b.mean(0), p.value, 1e-6);
    EXPECT_GT(a.variance(0), b.variance(0));
    EXPECT_LT(a.variance(0), noisy.value_noise * noisy.output_scale);
  }
  EXPECT_GT(gap, 1e-3);
  noisy.value_noise = -0.1;
  EXPECT_EQ(GaussianProcess::Create(3, {}, noisy, points).status().code(),
            absl::StatusCode::kInvalidArgument);
  noisy.value_noise = std::numeric_limits<double>::infinity();
  EXPECT_EQ(GaussianProcess::Create(3, {}, noisy, points).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GpTest, KnownNoiseIsAPointsOwnNuggetInTheValuesUnits) {
  // The same known noise variance v at every value-only point is a value
  // noise eta with eta s2 = v / scale^2, scale the standardisation's: both
  // must give the same model, with and without standardising.
  std::vector<GpPoint> points = MixedPoints(12, 4);
  for (GpPoint& p : points) p.gradient.reset();
  const double v = 0.01;
  std::vector<GpPoint> known = points;
  for (GpPoint& p : known) p.noise_variance = v;
  for (const GpOptions& options : {FixedStandardisation(), GpOptions{}}) {
    auto with_known = GaussianProcess::Create(3, options, kHyper, known);
    ASSERT_TRUE(with_known.ok());
    const double scale = with_known->output_std();
    GpHyperparameters eta = kHyper;
    eta.value_noise = v / (scale * scale * kHyper.output_scale);
    auto with_eta = GaussianProcess::Create(3, options, eta, points);
    ASSERT_TRUE(with_eta.ok());
    ExpectSameModel(*with_known, *with_eta);
  }
  EXPECT_NE(GaussianProcess::Create(3, {}, kHyper, points)->output_std(), 1.0);
  // Different variances: a noisy point pulls the mean less than an exact one,
  // and the model is less sure there, though surer than one observation.
  for (size_t i = 0; i < points.size(); ++i) known[i].noise_variance = i % 2 ? 0.0 : 0.05;
  auto hetero = GaussianProcess::Create(3, {}, kHyper, known);
  ASSERT_TRUE(hetero.ok());
  double exact_gap = 0.0, noisy_gap = 0.0;
  for (const GpPoint& p : known) {
    const Prediction at = hetero->Predict(p.x);
    double& gap = p.noise_variance > 0.0 ? noisy_gap : exact_gap;
    gap = std::max(gap, std::abs(at.mean(0) - p.value));
    if (p.noise_variance > 0.0) {
      EXPECT_GT(at.variance(0), 1e-4);
      EXPECT_LT(at.variance(0), p.noise_variance);
    }
  }
  EXPECT_LT(exact_gap, 1e-6);
  EXPECT_GT(noisy_gap, 1e-3);
  // A noise variance must be finite and >= 0, at creation and when added.
  for (double bad : {-0.1, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    std::vector<GpPoint> wrong = points;
    wrong[3].noise_variance = bad;
    EXPECT_EQ(GaussianProcess::Create(3, {}, kHyper, wrong).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    GpPoint extra = points[0];
    extra.x *= 0.5;
    extra.noise_variance = bad;
    EXPECT_EQ(hetero->AddPoint(extra).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(hetero->num_points(), 12);
}

TEST(GpTest, AModelWithKnownNoiseGrownAndRestandardizedEqualsAFullFactorisation) {
  // The known noise is in the values' units, so a new scale changes K:
  // Restandardize must refactorise, or the grown model keeps its first
  // points' noise in standardised units.
  std::vector<GpPoint> points = MixedPoints(15, 5);
  for (size_t i = 0; i < points.size(); ++i) points[i].noise_variance = 0.002 * (i % 4);
  for (int i = 10; i < 15; ++i) points[i].value += 3.0;  // Shift mean and spread.
  GpHyperparameters noisy = kHyper;
  noisy.value_noise = 0.01;
  for (const GpHyperparameters& h : {kHyper, noisy}) {
    auto full = GaussianProcess::Create(3, {}, h, points);
    auto grown = Grown({}, h, points);
    ASSERT_TRUE(full.ok() && grown.ok());
    EXPECT_GT(std::abs(grown->output_std() - full->output_std()), 0.3);
    ASSERT_TRUE(grown->Restandardize().ok());
    ExpectSameModel(*grown, *full);
  }
  // With a fixed standardisation nothing is refactorised, and adding is exact.
  auto full = GaussianProcess::Create(3, FixedStandardisation(), kHyper, points);
  auto grown = Grown(FixedStandardisation(), kHyper, points);
  ASSERT_TRUE(full.ok() && grown.ok());
  ExpectSameModel(*grown, *full);
}

TEST(GpTest, AMeanOfReplicatesIsTheModelOfItsMeasurements) {
  // Measurements of one value under a value noise eta: their mean with
  // GpPoint::replicates = m (noise eta s2 / m) and their scatter give the
  // model, the marginal likelihood and its gradient that the measurements
  // give one by one. Without a nugget, which each measurement would carry,
  // and with a fixed standardisation, which counts points.
  GpOptions options = FixedStandardisation();
  options.nugget = 0.0;
  const std::vector<GpPoint> points = MixedPoints(12, 9);
  std::vector<GpPoint> each = points, merged = points;
  // Points 4 and 7 are value-only; 4 is measured three times, 7 twice.
  const std::vector<std::pair<int, std::vector<double>>> again = {{4, {0.4, -0.3}},
                                                                  {7, {0.25}}};
  for (const auto& [i, offsets] : again) {
    std::vector<double> values = {points[i].value};
    for (double offset : offsets) {
      GpPoint p = points[i];
      p.value += offset;
      each.push_back(p);
      values.push_back(p.value);
    }
    double mean = 0.0, scatter = 0.0;
    for (double v : values) mean += v / values.size();
    for (double v : values) scatter += (v - mean) * (v - mean);
    merged[i].value = mean;
    merged[i].replicates = static_cast<int>(values.size());
    merged[i].replicate_scatter = scatter;
  }
  for (double eta : {0.05, 0.8}) {
    GpHyperparameters h = kHyper;
    h.value_noise = eta;
    auto one_by_one = GaussianProcess::Create(3, options, h, each);
    auto as_means = GaussianProcess::Create(3, options, h, merged);
    ASSERT_TRUE(one_by_one.ok() && as_means.ok());
    EXPECT_EQ(as_means->num_outputs() + 3, one_by_one->num_outputs());
    ExpectSameModel(*as_means, *one_by_one);
    Eigen::VectorXd g_each, g_merged;
    one_by_one->LogMarginalLikelihood(&g_each);
    as_means->LogMarginalLikelihood(&g_merged);
    ASSERT_EQ(g_merged.size(), 5);
    EXPECT_LT((g_merged - g_each).cwiseAbs().maxCoeff(), 1e-8 * g_each.norm())
        << "eta " << eta << ": " << g_merged.transpose() << " vs " << g_each.transpose();
    // Grown by AddPoint, the mean's noise is divided as well.
    auto grown = Grown(options, h, merged);
    ASSERT_TRUE(grown.ok());
    ExpectSameModel(*grown, *one_by_one);
  }
  // Without a value noise the count divides nothing and the scatter is not read.
  auto exact = GaussianProcess::Create(3, options, kHyper, merged);
  std::vector<GpPoint> single = merged;
  for (GpPoint& p : single) p = GpPoint{p.x, p.value, p.gradient};
  auto plain = GaussianProcess::Create(3, options, kHyper, single);
  ASSERT_TRUE(exact.ok() && plain.ok());
  ExpectSameModel(*exact, *plain);
  // A count below 1, or above 1 with a gradient; a scatter that is negative,
  // not finite, or without replicates: refused, naming the point.
  std::vector<std::vector<GpPoint>> bad(5, merged);
  bad[0][4].replicates = 0;
  bad[1][0].replicates = 2;  // Point 0 has a gradient.
  bad[2][4].replicate_scatter = -1.0;
  bad[3][4].replicate_scatter = std::numeric_limits<double>::quiet_NaN();
  bad[4][1].replicate_scatter = 0.5;  // Point 1 is one measurement.
  const int named[] = {4, 0, 4, 4, 1};
  for (size_t k = 0; k < bad.size(); ++k) {
    const absl::Status status =
        GaussianProcess::Create(3, options, kHyper, bad[k]).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << k;
    EXPECT_TRUE(absl::StartsWith(status.message(), absl::StrCat("point ", named[k], " ")))
        << k << ": " << status;
    EXPECT_EQ(exact->AddPoint(bad[k][named[k]]).code(),
              absl::StatusCode::kInvalidArgument)
        << k;
  }
}

TEST(GpTest, RemovingAPointEqualsAFullFactorisationWithoutIt) {
  std::vector<GpPoint> points = MixedPoints(12, 6);
  auto gp = GaussianProcess::Create(3, FixedStandardisation(), kHyper, points);
  ASSERT_TRUE(gp.ok());
  for (int index : {4, 0, 9}) {  // Middle, first, last of what is left.
    gp->RemovePoint(index);
    points.erase(points.begin() + index);
    auto full = GaussianProcess::Create(3, FixedStandardisation(), kHyper, points);
    ASSERT_TRUE(full.ok());
    ExpectSameModel(*gp, *full);
  }
}

TEST(GpTest, MarginalLikelihoodGradientMatchesFiniteDifferences) {
  // Also with known noise variances on some points, which are data: they add
  // to K's diagonal but have no derivative.
  const std::vector<GpPoint> plain = MixedPoints(10, 7);
  std::vector<GpPoint> with_known = plain;
  for (size_t i = 0; i < with_known.size(); i += 2) with_known[i].noise_variance = 0.03;
  const std::vector<GpPoint>* const sets[] = {&plain, &with_known};
  for (const std::vector<GpPoint>* points : sets)
    for (KernelType type : {KernelType::kMatern52, KernelType::kSquaredExponential})
      for (const std::vector<int>& coverage : kCoverages) {
        GpOptions options;
        options.kernel = type;
        options.gradient_coordinates = coverage;
        // Also with gradient noise, which scales the gradient rows' diagonal,
        // and value noise, which scales the value rows' and is one more
        // hyperparameter (log eta, the last entry of theta).
        for (const auto& [noise, value_noise] : std::vector<std::pair<double, double>>{
                 {0.0, 0.0}, {0.4, 0.0}, {0.0, 0.05}, {0.4, 0.3}}) {
          const int m_count = value_noise > 0.0 ? 5 : 4;
          auto at = [&](const Eigen::VectorXd& theta) {
            auto gp =
                GaussianProcess::Create(3, options,
                                        {theta.head(3).array().exp(), std::exp(theta[3]),
                                         noise, m_count == 5 ? std::exp(theta[4]) : 0.0},
                                        *points);
            EXPECT_TRUE(gp.ok());
            return *std::move(gp);
          };
          Eigen::VectorXd theta(m_count);
          theta.head(4) << std::log(0.5), std::log(0.8), std::log(1.1), std::log(1.5);
          if (m_count == 5) theta[4] = std::log(value_noise);
          Eigen::VectorXd gradient;
          const double value = at(theta).LogMarginalLikelihood(&gradient);
          EXPECT_TRUE(std::isfinite(value));
          ASSERT_EQ(gradient.size(), m_count);
          for (int m = 0; m < m_count; ++m) {
            const Eigen::VectorXd e = Eigen::VectorXd::Unit(m_count, m) * 1e-5;
            const double numeric = (at(theta + e).LogMarginalLikelihood() -
                                    at(theta - e).LogMarginalLikelihood()) /
                                   2e-5;
            // Step 1e-5 on a likelihood of size ~100: truncation ~1e-8, rounding
            // ~1e-9; 1e-5 relative.
            EXPECT_NEAR(gradient[m], numeric, 1e-5 * std::max(1.0, std::abs(numeric)))
                << m << " noise " << noise << " value noise " << value_noise
                << " covered " << coverage.size()
                << (points == &with_known ? " with known noise" : "");
          }
        }
      }
}

TEST(GpTest, JitterIsEscalatedAndReportedForDuplicatePoints) {
  GpOptions options;
  options.nugget = 0.0;
  Eigen::Vector2d x(0.3, 0.3);
  auto gp = GaussianProcess::Create(2, options, {Eigen::Vector2d(0.5, 0.5), 1.0},
                                    {{x, 1.0, std::nullopt}, {x, 1.0, std::nullopt}});
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_GT(gp->jitter(), 0.0);
  EXPECT_LE(gp->jitter(), 1e-3);
}

TEST(GpTest, AddingADuplicateGradientPointUsesJitterOrIsRefused) {
  std::vector<GpPoint> points = MixedPoints(6, 8);
  GpOptions options;
  options.nugget = 0.0;
  options.max_jitter_steps = 0;
  auto gp = GaussianProcess::Create(3, options, kHyper, points);
  ASSERT_TRUE(gp.ok()) << gp.status();
  const int before = gp->num_outputs();
  const absl::Status status = gp->AddPoint(points[0]);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(gp->num_outputs(), before) << "a refused point leaves the model as it was";
}

// Gradients that cover coordinates 0 and 2 of 3.
GpOptions PartialGradients(GpOptions options = {}) {
  options.gradient_coordinates = {0, 2};
  return options;
}

TEST(GpTest, PartialGradientsEqualADenseModelOfTheSameOutputs) {
  // The reference: K built entry by entry from the kernel's full blocks, the
  // rows of the uncovered derivative dropped, and solved densely.
  const std::vector<GpPoint> points = MixedPoints(9, 11);
  const GpOptions options = PartialGradients(FixedStandardisation());
  auto gp = GaussianProcess::Create(3, options, kHyper, points);
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_EQ(gp->num_gradient_coordinates(), 2);
  const Kernel kernel(KernelType::kMatern52, kHyper.lengthscales, kHyper.output_scale);
  // (point, kernel output) of every training output.
  std::vector<std::pair<int, int>> outputs;
  for (int i = 0; i < static_cast<int>(points.size()); ++i) {
    outputs.push_back({i, 0});
    if (points[i].gradient.has_value()) {
      outputs.push_back({i, 1});
      outputs.push_back({i, 3});
    }
  }
  const int n = static_cast<int>(outputs.size());
  ASSERT_EQ(gp->num_outputs(), n);
  Eigen::MatrixXd k(n, n);
  Eigen::VectorXd y(n);
  Eigen::MatrixXd block(4, 4);
  for (int r = 0; r < n; ++r) {
    const GpPoint& a = points[outputs[r].first];
    y[r] = outputs[r].second == 0 ? a.value - 0.3 : (*a.gradient)[outputs[r].second - 1];
    for (int c = 0; c < n; ++c) {
      const GpPoint& b = points[outputs[c].first];
      kernel.Covariance(a.x, true, b.x, true, block);
      k(r, c) = block(outputs[r].second, outputs[c].second);
    }
  }
  k.diagonal().array() += options.nugget;
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(k);
  const Eigen::VectorXd alpha = ldlt.solve(y);
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(3, 5).array() * 0.5 + 0.5;
  const Prediction batch = gp->Predict(x);
  for (int q = 0; q < x.cols(); ++q) {
    // Row 0: cov(f(x), outputs); rows 1..3: cov(d_i f(x), outputs).
    Eigen::MatrixXd kx(4, n);
    for (int c = 0; c < n; ++c) {
      kernel.Covariance(x.col(q), true, points[outputs[c].first].x, true, block);
      kx.col(c) = block.col(outputs[c].second);
    }
    const double mean = 0.3 + kx.row(0).dot(alpha);
    const double variance =
        kHyper.output_scale - kx.row(0).dot(ldlt.solve(kx.row(0).transpose()));
    const Eigen::VectorXd dmean = kx.bottomRows(3) * alpha;
    double m, v;
    Eigen::VectorXd dm, dv;
    gp->PredictWithGradients(x.col(q), &m, &v, &dm, &dv);
    EXPECT_NEAR(m, mean, 1e-9);
    EXPECT_NEAR(v, variance, 1e-9);
    EXPECT_LT((dm - dmean).norm(), 1e-9);
    EXPECT_NEAR(batch.mean[q], mean, 1e-9);
    EXPECT_NEAR(batch.variance[q], variance, 1e-9);
  }
  EXPECT_NEAR(gp->LogMarginalLikelihood(),
              -0.5 * y.dot(alpha) - 0.5 * ldlt.vectorD().array().log().sum() -
                  0.5 * n * std::log(2.0 * M_PI),
              1e-9 * std::abs(gp->LogMarginalLikelihood()));
}

TEST(GpTest, PartialGradientsInterpolateWhatTheyCoverAndIgnoreTheRest) {
  const GpHyperparameters hyper = {Eigen::Vector3d(0.3, 0.35, 0.4), 1.0};
  std::vector<GpPoint> points = MixedPoints(12, 1);
  auto gp = GaussianProcess::Create(3, PartialGradients(), hyper, points);
  ASSERT_TRUE(gp.ok());
  // The uncovered entries are not read: garbage there changes nothing.
  for (GpPoint& p : points) {
    if (p.gradient.has_value()) (*p.gradient)[1] = 1e6;
  }
  auto garbage = GaussianProcess::Create(3, PartialGradients(), hyper, points);
  ASSERT_TRUE(garbage.ok());
  ExpectSameModel(*gp, *garbage);
  double missed = 0.0;
  for (const GpPoint& p : gp->points()) {
    double mean, variance;
    Eigen::VectorXd dmean, dvariance;
    gp->PredictWithGradients(p.x, &mean, &variance, &dmean, &dvariance);
    EXPECT_NEAR(mean, p.value, 1e-6);
    if (!p.gradient.has_value()) continue;
    EXPECT_NEAR(dmean[0], (*p.gradient)[0], 1e-6);
    EXPECT_NEAR(dmean[2], (*p.gradient)[2], 1e-6);
    missed = std::max(missed, std::abs(dmean[1] - (*p.gradient)[1]));
    Eigen::VectorXd gmean;
    Eigen::MatrixXd gcov;
    gp->GradientPosterior(p.x, &gmean, &gcov);
    EXPECT_LT(gcov(0, 0) + gcov(2, 2), 1e-6) << "covered: known there";
    EXPECT_GT(gcov(1, 1), 1e-3) << "not covered: still uncertain";
  }
  EXPECT_GT(missed, 1e-3);  // d/dx_1 is inferred from values alone.
}

TEST(GpTest, PartialGradientsGrowAndShrinkAsAFullFactorisation) {
  std::vector<GpPoint> points = MixedPoints(15, 5);
  GpHyperparameters noisy = kHyper;
  noisy.gradient_noise = 0.3;
  noisy.value_noise = 0.02;
  const GpOptions options = PartialGradients(FixedStandardisation());
  for (const GpHyperparameters& h : {kHyper, noisy}) {
    auto full = GaussianProcess::Create(3, options, h, points);
    auto grown = Grown(options, h, points);
    ASSERT_TRUE(full.ok() && grown.ok());
    EXPECT_EQ(grown->num_outputs(), full->num_outputs());
    ExpectSameModel(*grown, *full);
    grown->RemovePoint(6);
    std::vector<GpPoint> rest = points;
    rest.erase(rest.begin() + 6);
    auto without = GaussianProcess::Create(3, options, h, rest);
    ASSERT_TRUE(without.ok());
    ExpectSameModel(*grown, *without);
  }
}

TEST(GpTest, GradientCoordinatesMustBeIncreasingAndInRange) {
  const std::vector<GpPoint> points = MixedPoints(4, 1);
  for (std::vector<int> bad : {std::vector<int>{3}, {-1}, {2, 0}, {1, 1}}) {
    GpOptions options;
    options.gradient_coordinates = bad;
    EXPECT_EQ(GaussianProcess::Create(3, options, kHyper, points).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  // Every coordinate listed is the default model.
  GpOptions all;
  all.gradient_coordinates = {0, 1, 2};
  auto listed = GaussianProcess::Create(3, all, kHyper, points);
  auto plain = GaussianProcess::Create(3, {}, kHyper, points);
  ASSERT_TRUE(listed.ok() && plain.ok());
  EXPECT_EQ(listed->num_outputs(), plain->num_outputs());
  ExpectSameModel(*listed, *plain);
}

TEST(GpTest, MinScaledDistanceUsesTheLengthscales) {
  std::vector<GpPoint> points = {{Eigen::Vector2d(0.0, 0.0), 0.0, std::nullopt},
                                 {Eigen::Vector2d(1.0, 1.0), 0.0, std::nullopt}};
  EXPECT_DOUBLE_EQ(
      MinScaledDistance(Eigen::Vector2d(0.1, 0.0), points, Eigen::Vector2d(0.5, 1.0)),
      0.2);
  EXPECT_EQ(MinScaledDistance(Eigen::Vector2d(0.1, 0.0), {}, Eigen::Vector2d(0.5, 1.0)),
            std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace lago::core
