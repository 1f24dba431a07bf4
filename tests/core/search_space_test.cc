#include "core/search_space.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lago::core {
namespace {

using ::testing::HasSubstr;

TEST(SearchSpaceTest, MapsToTheUnitCubeAndBack) {
  auto space = SearchSpace::Create({{"a", -5.0, 10.0}, {"b", 0.0, 1e-3}});
  ASSERT_TRUE(space.ok()) << space.status();
  const std::vector<double> x = {2.5, 2.5e-4};
  Eigen::VectorXd u = space->ToUnit(x);
  EXPECT_DOUBLE_EQ(u[0], 0.5);
  EXPECT_DOUBLE_EQ(u[1], 0.25);
  std::vector<double> back = space->FromUnit(u);
  EXPECT_DOUBLE_EQ(back[0], x[0]);
  EXPECT_DOUBLE_EQ(back[1], x[1]);
}

TEST(SearchSpaceTest, FromUnitClampsIntoTheBox) {
  auto space = SearchSpace::Create({{"a", 0.1, 0.3}});
  ASSERT_TRUE(space.ok());
  Eigen::VectorXd u(1);
  u << 1.0;
  EXPECT_LE(space->FromUnit(u)[0], 0.3);
  u << 0.0;
  EXPECT_GE(space->FromUnit(u)[0], 0.1);
}

// f(x) = x0^2 + 3 x1 in user units; in unit coordinates x = lower + u (upper -
// lower), so df/du_j = (upper_j - lower_j) df/dx_j.
TEST(SearchSpaceTest, GradientFollowsTheChainRule) {
  auto space = SearchSpace::Create({{"a", -2.0, 2.0}, {"b", 1.0, 11.0}});
  ASSERT_TRUE(space.ok());
  const std::vector<double> x = {0.5, 4.0};
  const std::vector<double> gradient = {2.0 * 0.5, 3.0};
  Eigen::VectorXd g = space->GradientToUnit(gradient, x);
  EXPECT_DOUBLE_EQ(g[0], 4.0 * 1.0);
  EXPECT_DOUBLE_EQ(g[1], 10.0 * 3.0);
  const Eigen::VectorXd back = space->GradientFromUnit(g, x);
  EXPECT_DOUBLE_EQ(back[0], gradient[0]);
  EXPECT_DOUBLE_EQ(back[1], gradient[1]);
  EXPECT_EQ(space->LengthsFromUnit(Eigen::Vector2d(0.5, 0.1)), Eigen::Vector2d(2.0, 1.0));
}

// A log-scale parameter: u = log(x / lower) / log(upper / lower), so 1e-3 is
// the middle of [1e-5, 1e-1], and the bounds map to 0 and 1 and back exactly.
TEST(SearchSpaceTest, LogScaleMapsDecadesEvenly) {
  auto space = SearchSpace::Create(
      {{"rate", 1e-5, 1e-1, Scale::kLog}, {"t", 20.0, 80.0, Scale::kLinear}});
  ASSERT_TRUE(space.ok()) << space.status();
  const Eigen::VectorXd u = space->ToUnit(std::vector<double>{1e-3, 50.0});
  EXPECT_NEAR(u[0], 0.5, 1e-15);
  EXPECT_DOUBLE_EQ(u[1], 0.5);
  EXPECT_NEAR(space->FromUnit(Eigen::Vector2d(0.25, 0.0))[0], 1e-4, 1e-19);
  for (double bound : {1e-5, 1e-1}) {
    const std::vector<double> x = {bound, 20.0};
    EXPECT_EQ(space->FromUnit(space->ToUnit(x))[0], bound);
  }
  EXPECT_EQ(space->ToUnit(std::vector<double>{1e-5, 20.0})[0], 0.0);
  EXPECT_EQ(space->ToUnit(std::vector<double>{1e-1, 20.0})[0], 1.0);
  // Decades: a unit-cube length of 0.5 spans two of the four.
  EXPECT_NEAR(space->LengthsFromUnit(Eigen::Vector2d(0.5, 0.5))[0], 2.0, 1e-14);
}

// f(x) = log10(x0)^2 + x0 + x1: the unit-cube gradient from the user one
// against central differences of f(FromUnit(u)), and back.
TEST(SearchSpaceTest, LogScaleGradientFollowsTheChainRule) {
  auto space = SearchSpace::Create({{"a", 1e-4, 10.0, Scale::kLog}, {"b", -1.0, 1.0}});
  ASSERT_TRUE(space.ok());
  auto f = [](const std::vector<double>& x) {
    return std::pow(std::log10(x[0]), 2) + x[0] + x[1];
  };
  const std::vector<double> x = {3e-2, 0.25};
  const std::vector<double> gradient = {
      2.0 * std::log10(x[0]) / (x[0] * std::log(10.0)) + 1.0, 1.0};
  const Eigen::VectorXd g = space->GradientToUnit(gradient, x);
  const Eigen::VectorXd u = space->ToUnit(x);
  for (int j = 0; j < 2; ++j) {
    const double h = 1e-6;
    Eigen::VectorXd up = u, down = u;
    up[j] += h;
    down[j] -= h;
    const double fd = (f(space->FromUnit(up)) - f(space->FromUnit(down))) / (2 * h);
    EXPECT_NEAR(g[j], fd, 1e-6 * (1.0 + std::abs(fd))) << j;
  }
  const Eigen::VectorXd back = space->GradientFromUnit(g, x);
  EXPECT_NEAR(back[0], gradient[0], 1e-12 * std::abs(gradient[0]));
  EXPECT_NEAR(back[1], gradient[1], 1e-15);
}

TEST(SearchSpaceTest, ErrorsNameTheParameterAndTheValue) {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::vector<ParameterBounds> parameters;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "spec.parameters: at least one"},
      {{{"a", 1.0, 1.0}}, "spec.parameters[0] (a): lower 1 must be below upper 1"},
      {{{"a", 0.0, 1.0}, {"b", 2.0, -1.0}}, "spec.parameters[1] (b): lower 2"},
      {{{"a", 0.0, inf}}, "spec.parameters[0] (a): bounds [0, inf] must be finite"},
      {{{"a", std::nan(""), 1.0}}, "must be finite"},
      {{{"", 0.0, 1.0}}, "spec.parameters[0].name: \"\" is not a valid name"},
      {{{"9x", 0.0, 1.0}}, "spec.parameters[0].name: \"9x\""},
      {{{"a", 0.0, 1.0}, {"a", 0.0, 1.0}},
       "spec.parameters[1].name: \"a\" is used twice"},
      {{{"a", 0.0, 1.0, Scale::kLog}},
       "spec.parameters[0] (a): lower 0 must be above 0 on a log scale"},
      {{{"a", -2.0, 1.0, Scale::kLog}}, "lower -2 must be above 0 on a log scale"},
  };
  for (const Case& c : cases) {
    auto space = SearchSpace::Create(c.parameters);
    EXPECT_EQ(space.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(space.status().message()), HasSubstr(c.message));
  }
  std::vector<ParameterBounds> many(kMaxDimension + 1, {"p", 0.0, 1.0});
  EXPECT_THAT(std::string(SearchSpace::Create(many).status().message()),
              HasSubstr("at most 1024"));
}

TEST(SearchSpaceTest, CheckPointNamesTheEntry) {
  auto space = SearchSpace::Create({{"a", 0.0, 1.0}, {"b", -1.0, 1.0}});
  ASSERT_TRUE(space.ok());
  EXPECT_TRUE(space->CheckPoint(std::vector<double>{0.0, 1.0}, "x").ok());
  EXPECT_THAT(std::string(space->CheckPoint(std::vector<double>{0.5}, "x").message()),
              HasSubstr("x: has 1 entries; the study has 2 parameters"));
  EXPECT_THAT(
      std::string(space->CheckPoint(std::vector<double>{0.5, 1.5}, "x").message()),
      HasSubstr("x[1] (b): 1.5 is outside [-1, 1]"));
  EXPECT_THAT(
      std::string(
          space->CheckPoint(std::vector<double>{std::nan(""), 0.0}, "x").message()),
      HasSubstr("x[0] (a): nan is not finite"));
}

}  // namespace
}  // namespace lago::core
