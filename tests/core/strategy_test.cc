#include "core/strategy.h"

#include "core/sobol.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lago::core {
namespace {

using ::testing::HasSubstr;

Problem MakeProblem(int d, uint64_t seed) {
  Problem p;
  p.dimension = d;
  p.seed = seed;
  return p;
}

std::vector<Eigen::VectorXd> SuggestPoints(const Strategy& s, std::string* state,
                                           int count) {
  StrategyInput input;
  input.state = *state;
  input.count = count;
  auto out = s.Suggest(input);
  EXPECT_TRUE(out.ok()) << out.status();
  *state = out->state;
  std::vector<Eigen::VectorXd> xs;
  for (const Suggestion& sg : out->suggestions) xs.push_back(sg.x);
  return xs;
}

// A restarted server rebuilds the strategy and hands it the stored state: the
// points must continue the sequence an uninterrupted run produces.
TEST(StrategyTest, SimpleStrategiesResumeFromTheirState) {
  for (const std::string name : {"sobol", "random"}) {
    auto one = MakeStrategy(name, MakeProblem(4, 99));
    ASSERT_TRUE(one.ok()) << one.status();
    std::string state;
    std::vector<Eigen::VectorXd> uninterrupted = SuggestPoints(**one, &state, 10);

    auto first = MakeStrategy(name, MakeProblem(4, 99));
    std::string stored;
    std::vector<Eigen::VectorXd> resumed = SuggestPoints(**first, &stored, 3);
    auto second = MakeStrategy(name, MakeProblem(4, 99));  // "after the restart"
    for (int i = 0; i < 7; ++i) {
      std::vector<Eigen::VectorXd> next = SuggestPoints(**second, &stored, 1);
      resumed.push_back(next[0]);
    }
    ASSERT_EQ(resumed.size(), uninterrupted.size());
    for (size_t i = 0; i < resumed.size(); ++i)
      EXPECT_EQ(resumed[i], uninterrupted[i]) << name;
  }
}

TEST(StrategyTest, SobolStrategyFollowsTheSeededSequence) {
  auto strategy = MakeStrategy("sobol", MakeProblem(3, 5));
  ASSERT_TRUE(strategy.ok());
  auto sequence = SobolSequence::Create(3, 5);
  std::string state;
  std::vector<Eigen::VectorXd> xs = SuggestPoints(**strategy, &state, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(xs[i], sequence->Point(i));
  EXPECT_EQ(state, "next_index=4");
}

TEST(StrategyTest, RandomPointsAreInTheCubeAndDistinct) {
  auto strategy = MakeStrategy("random", MakeProblem(2, 1));
  ASSERT_TRUE(strategy.ok());
  std::string state;
  std::vector<Eigen::VectorXd> xs = SuggestPoints(**strategy, &state, 200);
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_TRUE((xs[i].array() >= 0.0).all() && (xs[i].array() < 1.0).all());
    for (size_t j = 0; j < i; ++j) EXPECT_NE(xs[i], xs[j]);
  }
}

TEST(StrategyTest, UnknownNamesOptionsAndStatesAreErrors) {
  auto unknown = MakeStrategy("simplex", MakeProblem(2, 0));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("spec.strategy: \"simplex\" is not a strategy; known: bo, lago, "
                        "random, sobol, trust-region"));

  Problem with_option = MakeProblem(2, 0);
  with_option.options["xi"] = "0.1";
  auto option = MakeStrategy("sobol", with_option);
  EXPECT_THAT(
      std::string(option.status().message()),
      HasSubstr(
          "spec.strategy_options: strategy \"sobol\" takes no options; got \"xi\""));

  auto sobol = MakeStrategy("sobol", MakeProblem(2, 0));
  StrategyInput input;
  input.state = "garbage";
  EXPECT_EQ((*sobol)->Suggest(input).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lago::core
