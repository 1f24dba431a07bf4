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
  const std::vector<double> gradient = {2.0 * 0.5, 3.0};
  Eigen::VectorXd g = space->GradientToUnit(gradient);
  EXPECT_DOUBLE_EQ(g[0], 4.0 * 1.0);
  EXPECT_DOUBLE_EQ(g[1], 10.0 * 3.0);
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
