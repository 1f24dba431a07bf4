#include "core/gp_fit.h"

#include <random>

#include "gtest/gtest.h"

namespace lago::core {
namespace {

// f varies fast along x0 and slowly along x1: an ARD fit must say so.
std::vector<GpPoint> AnisotropicData(int n, bool with_gradients) {
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<GpPoint> points;
  for (int i = 0; i < n; ++i) {
    Eigen::Vector2d x(u(rng), u(rng));
    GpPoint p{x, std::sin(8.0 * x[0]) + 0.3 * x[1], std::nullopt};
    if (with_gradients) p.gradient = Eigen::Vector2d(8.0 * std::cos(8.0 * x[0]), 0.3);
    points.push_back(p);
  }
  return points;
}

TEST(GpFitTest, ArdFitFindsTheFastAndTheSlowDirection) {
  for (bool gradients : {false, true}) {
    FitOptions options;
    options.seed = 3;
    auto fit = FitGaussianProcess(2, {}, AnisotropicData(gradients ? 12 : 30, gradients),
                                  options);
    ASSERT_TRUE(fit.ok()) << fit.status();
    const Eigen::VectorXd l = fit->gp.hyperparameters().lengthscales;
    EXPECT_GT(l[1], 3.0 * l[0]) << l.transpose() << (gradients ? " with gradients" : "");
    EXPECT_GE(l.minCoeff(), fit->report.lengthscale_floor);
    EXPECT_GT(fit->report.evaluations, 0);
    EXPECT_NEAR(fit->gp.LogMarginalLikelihood(), fit->report.log_likelihood, 1e-9);
  }
}

TEST(GpFitTest, TheOptimumBeatsItsStartsAndRandomHyperparameters) {
  const std::vector<GpPoint> points = AnisotropicData(25, false);
  FitOptions options;
  options.seed = 1;
  auto fit = FitGaussianProcess(2, {}, points, options);
  ASSERT_TRUE(fit.ok());
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> log_l(std::log(0.05), std::log(3.0));
  for (int i = 0; i < 20; ++i) {
    auto gp = GaussianProcess::Create(
        2, {}, {Eigen::Vector2d(std::exp(log_l(rng)), std::exp(log_l(rng))), 1.0},
        points);
    ASSERT_TRUE(gp.ok());
    EXPECT_LE(gp->LogMarginalLikelihood(), fit->report.log_likelihood + 1e-9);
  }
}

TEST(GpFitTest, IsotropicFitKeepsOneLengthscaleAndIsDeterministic) {
  FitOptions options;
  options.isotropic = true;
  options.seed = 9;
  const std::vector<GpPoint> points = AnisotropicData(20, false);
  auto a = FitGaussianProcess(2, {}, points, options);
  auto b = FitGaussianProcess(2, {}, points, options);
  ASSERT_TRUE(a.ok() && b.ok());
  const Eigen::VectorXd l = a->gp.hyperparameters().lengthscales;
  EXPECT_EQ(l[0], l[1]);
  EXPECT_EQ(l, b->gp.hyperparameters().lengthscales);
  EXPECT_EQ(a->gp.hyperparameters().output_scale, b->gp.hyperparameters().output_scale);
}

TEST(GpFitTest, GradientNoiseIsFittedWhereGradientsCarryRipplesAndNotElsewhere) {
  // A smooth bowl, observed with gradients, and the same bowl with fine
  // ripples whose amplitude is small but whose slopes are not: the values
  // hardly see the ripples, the gradients are dominated by them. The grid
  // fit keeps the gradients exact for the bowl and discounts them for the
  // ripples.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<GpPoint> smooth, rippled;
  for (int i = 0; i < 15; ++i) {
    const Eigen::Vector2d x(u(rng), u(rng));
    const Eigen::Vector2d c = x - Eigen::Vector2d(0.4, 0.6);
    smooth.push_back({x, c.squaredNorm(), Eigen::Vector2d(2.0 * c)});
    const double ripple = 0.01 * std::sin(60.0 * x[0]) * std::sin(60.0 * x[1]);
    const Eigen::Vector2d slope(0.6 * std::cos(60.0 * x[0]) * std::sin(60.0 * x[1]),
                                0.6 * std::sin(60.0 * x[0]) * std::cos(60.0 * x[1]));
    rippled.push_back({x, c.squaredNorm() + ripple, Eigen::Vector2d(2.0 * c + slope)});
  }
  FitOptions options;
  options.seed = 2;
  options.gradient_noise_grid = {0.0, 0.03, 0.3, 3.0};
  auto bowl = FitGaussianProcess(2, {}, smooth, options);
  auto ripples = FitGaussianProcess(2, {}, rippled, options);
  ASSERT_TRUE(bowl.ok() && ripples.ok());
  EXPECT_EQ(bowl->report.gradient_noise, 0.0);
  EXPECT_EQ(bowl->gp.hyperparameters().gradient_noise, 0.0);
  EXPECT_GT(ripples->report.gradient_noise, 0.0);
  EXPECT_EQ(ripples->gp.hyperparameters().gradient_noise, ripples->report.gradient_noise);
  EXPECT_NEAR(ripples->gp.LogMarginalLikelihood(), ripples->report.log_likelihood, 1e-9);
  // Without a grid the noise stays at the warm start's.
  options.gradient_noise_grid.clear();
  options.warm_start = GpHyperparameters{Eigen::Vector2d(0.3, 0.3), 1.0, 0.3};
  auto fixed = FitGaussianProcess(2, {}, rippled, options);
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->gp.hyperparameters().gradient_noise, 0.3);
  options.gradient_noise_grid = {0.0, -1.0};
  const absl::Status bad = FitGaussianProcess(2, {}, rippled, options).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("gradient noise -1 is not a finite number"),
            absl::string_view::npos)
      << bad;
}

TEST(GpFitTest, ValueNoiseIsFittedToNoisyValuesAndNotToExactOnes) {
  // The same smooth function in 2-D, observed exactly and with Gaussian noise
  // of standard deviation 0.1 (its values span about 2). A fit of the value
  // noise finds about that noise in the noisy data and next to none in the
  // exact data.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::vector<GpPoint> exact, noisy;
  for (int i = 0; i < 60; ++i) {
    const Eigen::Vector2d x(u(rng), u(rng));
    const double f = std::sin(4.0 * x[0]) + (x[1] - 0.3) * (x[1] - 0.3);
    exact.push_back({x, f, std::nullopt});
    noisy.push_back({x, f + noise(rng), std::nullopt});
  }
  FitOptions options;
  options.seed = 4;
  options.fit_value_noise = true;
  auto clean = FitGaussianProcess(2, {}, exact, options);
  auto rough = FitGaussianProcess(2, {}, noisy, options);
  ASSERT_TRUE(clean.ok() && rough.ok()) << clean.status() << rough.status();
  // The noise variance in the values' units: eta s2 times the squared
  // standard deviation the outputs were divided by.
  auto noise_std = [](const GaussianProcess& gp) {
    const GpHyperparameters h = gp.hyperparameters();
    return std::sqrt(h.value_noise * h.output_scale) * gp.output_std();
  };
  EXPECT_GT(noise_std(rough->gp), 0.05);
  EXPECT_LT(noise_std(rough->gp), 0.2);
  EXPECT_LT(noise_std(clean->gp), 0.01);
  EXPECT_EQ(rough->report.value_noise, rough->gp.hyperparameters().value_noise);
  EXPECT_NEAR(rough->gp.LogMarginalLikelihood(), rough->report.log_likelihood, 1e-9);
  // The noisy fit explains the data better than the same data fitted with
  // exact values.
  options.fit_value_noise = false;
  auto interpolating = FitGaussianProcess(2, {}, noisy, options);
  ASSERT_TRUE(interpolating.ok());
  EXPECT_EQ(interpolating->gp.hyperparameters().value_noise, 0.0);
  EXPECT_GT(rough->report.log_likelihood, interpolating->report.log_likelihood);
  // Without fitting, the warm start's value noise is kept.
  options.warm_start = GpHyperparameters{Eigen::Vector2d(0.3, 0.3), 1.0, 0.0, 0.2};
  auto fixed = FitGaussianProcess(2, {}, noisy, options);
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->gp.hyperparameters().value_noise, 0.2);
  options.fit_value_noise = true;
  options.min_value_noise = 0.0;
  EXPECT_EQ(FitGaussianProcess(2, {}, noisy, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GpFitTest, FillDistanceOfOnePointIsTheDistanceToTheFarthestCorner) {
  std::vector<GpPoint> centre = {{Eigen::Vector2d(0.5, 0.5), 0.0, std::nullopt}};
  const double fill = FillDistance(centre, 2);
  // The probes come within a few 1e-2 of a corner at sqrt(0.5).
  EXPECT_LE(fill, std::sqrt(0.5));
  EXPECT_GT(fill, std::sqrt(0.5) - 0.05);
  EXPECT_DOUBLE_EQ(FillDistance({}, 4), 2.0);
}

TEST(GpFitTest, RejectsInconsistentOptions) {
  FitOptions options;
  options.max_lengthscale = 1e-4;
  EXPECT_EQ(FitGaussianProcess(2, {}, AnisotropicData(5, false), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lago::core
