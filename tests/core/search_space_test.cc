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
      {{{"a", 0.0, 1.0}, {"n", 0.5, 4.0, Scale::kLinear, ParameterType::kInteger}},
       "spec.parameters[1] (n): lower 0.5 is not a whole number within 2^53 (the "
       "parameter is an integer)"},
      {{{"n", 1.0, 4.25, Scale::kLog, ParameterType::kInteger}}, "upper 4.25 is not"},
      {{{"n", 0.0, 1e17, Scale::kLinear, ParameterType::kInteger}}, "upper 1e+17 is not"},
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

ParameterBounds Categorical(const std::string& name, std::vector<std::string> choices) {
  ParameterBounds p{name, 0.0, static_cast<double>(choices.size()) - 1.0};
  p.type = ParameterType::kCategorical;
  p.choices = std::move(choices);
  return p;
}

TEST(SearchSpaceTest, CategoricalErrorsNameTheParameterAndTheLabel) {
  ParameterBounds one = Categorical("c", {"a"});
  one.upper = 1.0;
  ParameterBounds wide = Categorical("c", {"a", "b", "c"});
  wide.upper = 3.0;
  ParameterBounds log = Categorical("c", {"a", "b"});
  log.scale = Scale::kLog;
  ParameterBounds with_choices{"x", 0.0, 1.0};
  with_choices.choices = {"a", "b"};
  struct Case {
    std::vector<ParameterBounds> parameters;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"x", 0.0, 1.0}, one},
       "spec.parameters[1] (c): 1 choices; a categorical parameter needs at least 2"},
      {{Categorical("c", {"a", ""})},
       "spec.parameters[0].choices[1]: \"\" must have 1 to "
       "256 bytes"},
      {{Categorical("c", {"a", std::string(257, 'z')})}, "choices[1]: \"zzz"},
      {{Categorical("c", {"a", "b\nc"})},
       "spec.parameters[0].choices[1]: \"b\nc\" holds a control character"},
      {{Categorical("c", {"a", "b", "a"})},
       "spec.parameters[0].choices[2]: \"a\" is used twice"},
      {{wide},
       "spec.parameters[0] (c): bounds [0, 3] must be [0, 2], the indices of its 3 "
       "choices"},
      {{log}, "spec.parameters[0] (c): a categorical parameter has no log scale"},
      {{with_choices},
       "spec.parameters[0].choices (x): 2 choices; only a categorical parameter has "
       "choices"},
  };
  for (const Case& c : cases) {
    auto space = SearchSpace::Create(c.parameters);
    EXPECT_EQ(space.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(space.status().message()), HasSubstr(c.message));
  }
  // The unit cube's coordinates are limited, one per choice.
  std::vector<std::string> labels;
  for (int i = 0; i < kMaxDimension; ++i) labels.push_back(std::to_string(i));
  EXPECT_TRUE(SearchSpace::Create({Categorical("c", labels)}).ok());
  EXPECT_THAT(
      std::string(SearchSpace::Create({{"x", 0.0, 1.0}, Categorical("c", labels)})
                      .status()
                      .message()),
      HasSubstr("more than 1024 coordinates, one per parameter and one per choice of a "
                "categorical parameter (spec.parameters[1] (c) passes the limit)"));
}

// A categorical parameter is one-hot in the unit cube: between a continuous
// and an integer parameter its 3 choices take coordinates 1 to 3, a point
// holds the choice with the largest coordinate, and Snap moves the block to
// that choice's corner exactly, leaving the other parameters' coordinates as
// Snap leaves them on their own.
TEST(SearchSpaceTest, CategoricalParametersAreOneHot) {
  auto space =
      SearchSpace::Create({{"x", -1.0, 1.0},
                           Categorical("solvent", {"a", "b", "c"}),
                           {"n", 0.0, 3.0, Scale::kLinear, ParameterType::kInteger}});
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_TRUE(space->has_discrete());
  EXPECT_EQ(space->dimension(), 3);
  EXPECT_EQ(space->unit_dimension(), 5);
  EXPECT_EQ(space->unit_offset(1), 1);
  EXPECT_EQ(space->unit_offset(2), 4);
  Eigen::VectorXd expected(5);
  expected << 0.75, 0.0, 0.0, 1.0, 0.625;
  EXPECT_EQ(space->ToUnit(std::vector<double>{0.5, 2.0, 2.0}), expected);

  Eigen::VectorXd u(5);
  u << 0.3, 0.2, 0.7, 0.4, 0.6;
  EXPECT_EQ(space->FromUnit(u), (std::vector<double>{-0.4, 1.0, 2.0}));
  Eigen::VectorXd snapped(5);
  snapped << 0.3, 0.0, 1.0, 0.0, 0.625;
  EXPECT_EQ(space->Snap(u), snapped);
  EXPECT_EQ(space->Snap(snapped), snapped);
  EXPECT_EQ(space->ToUnit(space->FromUnit(snapped)), snapped);
  // Equal coordinates go to the first choice.
  u << 0.3, 0.5, 0.5, 0.5, 0.6;
  EXPECT_EQ(space->FromUnit(u)[1], 0.0);

  // Gradients and lengths: nothing along the choices, and the shortest of
  // their lengthscales.
  const std::vector<double> x = {0.5, 1.0, 2.0};
  Eigen::VectorXd g_unit(5);
  g_unit << 2.0, 0.0, 0.0, 0.0, 8.0;
  EXPECT_EQ(space->GradientToUnit(std::vector<double>{1.0, 7.0, 2.0}, x), g_unit);
  Eigen::VectorXd model_gradient(5);
  model_gradient << 2.0, 5.0, -5.0, 3.0, 8.0;
  EXPECT_EQ(space->GradientFromUnit(model_gradient, x), Eigen::Vector3d(1.0, 0.0, 2.0));
  Eigen::VectorXd lengths(5);
  lengths << 0.5, 0.9, 0.3, 2.0, 0.25;
  EXPECT_EQ(space->LengthsFromUnit(lengths), Eigen::Vector3d(1.0, 0.3, 1.0));
}

TEST(SearchSpaceTest, PointsHoldTheIndexOfAChoice) {
  auto space = SearchSpace::Create({{"x", 0.0, 1.0}, Categorical("c", {"a", "b", "c"})});
  ASSERT_TRUE(space.ok());
  EXPECT_TRUE(space->CheckPoint(std::vector<double>{0.5, 2.0}, "x").ok());
  EXPECT_TRUE(space->CheckEvaluatedPoint(std::vector<double>{0.5, 0.0}, "x").ok());
  // Even a prediction needs a choice: there is nothing between two of them.
  EXPECT_THAT(
      std::string(
          space->CheckPoint(std::vector<double>{0.5, 0.5}, "points[0].x").message()),
      HasSubstr("points[0].x[1] (c): 0.5 is not the index of a choice (0 to 2)"));
  EXPECT_THAT(
      std::string(
          space->CheckPoint(std::vector<double>{0.5, 3.0}, "points[0].x").message()),
      HasSubstr("points[0].x[1] (c): 3 is outside [0, 2]"));
}

// An integer parameter's relaxation spans [lower - 1/2, upper + 1/2]: each of
// the whole numbers 0..3 owns a quarter of the unit interval, FromUnit rounds,
// and Snap moves a point to the unit coordinate ToUnit gives its whole number,
// exactly, leaving the continuous parameter alone.
TEST(SearchSpaceTest, IntegerParametersRoundToWholeNumbers) {
  auto space = SearchSpace::Create(
      {{"n", 0.0, 3.0, Scale::kLinear, ParameterType::kInteger}, {"x", -1.0, 1.0}});
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_TRUE(space->has_discrete());
  for (int k = 0; k < 4; ++k) {
    for (double offset : {0.01, 0.125, 0.24}) {
      const Eigen::Vector2d u(0.25 * k + offset, 0.3);
      const std::vector<double> x = space->FromUnit(u);
      EXPECT_EQ(x[0], k) << u.transpose();
      const Eigen::VectorXd snapped = space->Snap(u);
      EXPECT_EQ(snapped[0], space->ToUnit(std::vector<double>{double(k), 0.0})[0]);
      EXPECT_EQ(snapped[1], 0.3);
      EXPECT_EQ(space->Snap(snapped), snapped);
      EXPECT_EQ(space->ToUnit(space->FromUnit(snapped)), snapped);
    }
  }
  EXPECT_DOUBLE_EQ(space->ToUnit(std::vector<double>{0.0, 0.0})[0], 0.125);
  EXPECT_DOUBLE_EQ(space->ToUnit(std::vector<double>{3.0, 0.0})[0], 0.875);
  EXPECT_EQ(space->FromUnit(Eigen::Vector2d(0.0, 0.0))[0], 0.0);
  EXPECT_EQ(space->FromUnit(Eigen::Vector2d(1.0, 0.0))[0], 3.0);
  // Lengths and the Jacobian use the widened range of 4.
  EXPECT_EQ(space->LengthsFromUnit(Eigen::Vector2d(0.5, 0.5)), Eigen::Vector2d(2.0, 1.0));
  EXPECT_EQ(space->UnitJacobian(std::vector<double>{1.0, 0.0}),
            Eigen::Vector2d(4.0, 2.0));

  // On a log scale whole numbers are kept too: 1..1000 over [0.5, 1000.5].
  auto log =
      SearchSpace::Create({{"batch", 1.0, 1000.0, Scale::kLog, ParameterType::kInteger}});
  ASSERT_TRUE(log.ok()) << log.status();
  for (double u = 0.0; u <= 1.0; u += 1.0 / 64) {
    const double x = log->FromUnit(Eigen::VectorXd::Constant(1, u))[0];
    EXPECT_EQ(x, std::round(x));
    EXPECT_GE(x, 1.0);
    EXPECT_LE(x, 1000.0);
    const Eigen::VectorXd snapped = log->Snap(Eigen::VectorXd::Constant(1, u));
    EXPECT_EQ(log->FromUnit(snapped)[0], x);
    EXPECT_EQ(log->ToUnit(std::vector<double>{x}), snapped);
  }
  EXPECT_EQ(log->FromUnit(Eigen::VectorXd::Constant(1, 0.5))[0],
            std::round(std::sqrt(0.5 * 1000.5)));

  // A continuous space is left as it is.
  auto plain = SearchSpace::Create({{"x", -1.0, 1.0}});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->has_discrete());
  EXPECT_EQ(plain->Snap(Eigen::VectorXd::Constant(1, 0.3)),
            Eigen::VectorXd::Constant(1, 0.3));
}

TEST(SearchSpaceTest, EvaluatedPointsHoldWholeNumbersForIntegers) {
  auto space = SearchSpace::Create(
      {{"x", 0.0, 1.0}, {"n", -5.0, 5.0, Scale::kLinear, ParameterType::kInteger}});
  ASSERT_TRUE(space.ok());
  EXPECT_TRUE(space->CheckEvaluatedPoint(std::vector<double>{0.5, -3.0}, "x").ok());
  EXPECT_TRUE(space->CheckPoint(std::vector<double>{0.5, 2.5}, "x").ok());
  EXPECT_THAT(
      std::string(
          space->CheckEvaluatedPoint(std::vector<double>{0.5, 2.5}, "observations[0].x")
              .message()),
      HasSubstr("observations[0].x[1] (n): 2.5 is not a whole number (the "
                "parameter is an integer)"));
  EXPECT_THAT(
      std::string(
          space->CheckEvaluatedPoint(std::vector<double>{0.5, 6.0}, "x").message()),
      HasSubstr("x[1] (n): 6 is outside [-5, 5]"));
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

// A gradient has one entry per parameter; along an integer or categorical
// parameter it must be 0, and the continuous parameters' coordinates are the
// ones it covers.
TEST(SearchSpaceTest, GradientsHaveNoDerivativeAlongDiscreteParameters) {
  ParameterBounds solvent{"solvent", 0.0, 2.0};
  solvent.type = ParameterType::kCategorical;
  solvent.choices = {"water", "ethanol", "acetone"};
  auto space =
      SearchSpace::Create({{"a", 0.0, 1.0},
                           solvent,
                           {"n", 0.0, 4.0, Scale::kLinear, ParameterType::kInteger},
                           {"b", -1.0, 1.0}});
  ASSERT_TRUE(space.ok());
  EXPECT_EQ(space->CoordinatesOf(ParameterType::kContinuous), (std::vector<int>{0, 5}));
  EXPECT_EQ(space->CoordinatesOf(ParameterType::kInteger), (std::vector<int>{4}));
  EXPECT_EQ(space->CoordinatesOf(ParameterType::kCategorical),
            (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(space->CheckGradient(std::vector<double>{}, "g").ok());
  EXPECT_TRUE(space->CheckGradient(std::vector<double>{1.0, 0.0, 0.0, -2.0}, "g").ok());
  EXPECT_THAT(
      std::string(
          space->CheckGradient(std::vector<double>{1.0, 0.5, 0.0, 0.0}, "g").message()),
      HasSubstr("g[1] (solvent): 0.5 along a categorical parameter, which has no "
                "derivative; send 0 there"));
  EXPECT_THAT(
      std::string(
          space->CheckGradient(std::vector<double>{1.0, 0.0, -3.0, 0.0}, "g").message()),
      HasSubstr("g[2] (n): -3 along an integer parameter"));
  EXPECT_THAT(
      std::string(space->CheckGradient(std::vector<double>{1.0, 0.0}, "g").message()),
      HasSubstr("g: has 2 entries; the study has 4 parameters"));
  EXPECT_THAT(
      std::string(
          space->CheckGradient(std::vector<double>{std::nan(""), 0.0, 0.0, 0.0}, "g")
              .message()),
      HasSubstr("g[0]: nan is not finite"));
  // The unit gradient is 0 on the discrete coordinates.
  const Eigen::VectorXd u = space->GradientToUnit(
      std::vector<double>{1.0, 0.0, 0.0, -2.0}, std::vector<double>{0.5, 1.0, 2.0, 0.0});
  EXPECT_EQ(u, (Eigen::VectorXd(6) << 1.0, 0.0, 0.0, 0.0, 0.0, -4.0).finished());
}

}  // namespace
}  // namespace lago::core
