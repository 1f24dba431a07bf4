#include "core/sobol.h"

#include <set>

#include "gtest/gtest.h"

namespace lago::core {
namespace {

// Reference: scipy.stats.qmc.Sobol(d, scramble=False) from Debian's
// python3-scipy 1.10, which uses the same Joe-Kuo table and Gray-code order.
// Values are dyadic rationals, so equality is exact.
TEST(SobolTest, UnscrambledMatchesReferenceSequence) {
  const double expected[8][5] = {
      {0.0, 0.0, 0.0, 0.0, 0.0},           {0.5, 0.5, 0.5, 0.5, 0.5},
      {0.75, 0.25, 0.25, 0.25, 0.75},      {0.25, 0.75, 0.75, 0.75, 0.25},
      {0.375, 0.375, 0.625, 0.875, 0.375}, {0.875, 0.875, 0.125, 0.375, 0.875},
      {0.625, 0.125, 0.875, 0.625, 0.625}, {0.125, 0.625, 0.375, 0.125, 0.125},
  };
  auto sobol = SobolSequence::Create(5, /*seed=*/0, /*scramble=*/false);
  ASSERT_TRUE(sobol.ok()) << sobol.status();
  for (int i = 0; i < 8; ++i) {
    Eigen::VectorXd p = sobol->Point(i);
    for (int j = 0; j < 5; ++j)
      EXPECT_EQ(p[j], expected[i][j]) << "point " << i << " dim " << j;
  }
}

// Same reference, deep in the sequence and in high dimensions: checks the
// direction-number recurrence for polynomials of high degree.
TEST(SobolTest, UnscrambledMatchesReferenceInHighDimensions) {
  const int dims[10] = {0, 1, 2, 3, 4, 9, 99, 511, 1022, 1023};
  const double at1337[10] = {0.64794921875, 0.95263671875, 0.38720703125, 0.88720703125,
                             0.20751953125, 0.21630859375, 0.46142578125, 0.45166015625,
                             0.21337890625, 0.58740234375};
  const double at2047[10] = {0.00048828125, 0.62744140625, 0.93115234375, 0.35107421875,
                             0.63037109375, 0.44580078125, 0.86083984375, 0.29443359375,
                             0.39208984375, 0.32080078125};
  auto sobol = SobolSequence::Create(1024, 0, /*scramble=*/false);
  ASSERT_TRUE(sobol.ok()) << sobol.status();
  Eigen::VectorXd p = sobol->Point(1337), q = sobol->Point(2047);
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(p[dims[k]], at1337[k]) << "dim " << dims[k];
    EXPECT_EQ(q[dims[k]], at2047[k]) << "dim " << dims[k];
  }
}

// A scrambled Sobol sequence keeps the net property: the first 2^m points put
// exactly one point in each of the 2^m boxes of size 2^-k x 2^-(m-k) in the
// first two dimensions, and one in each interval of size 2^-m in every dimension.
TEST(SobolTest, ScrambledFirstPointsFormANet) {
  constexpr int m = 8, n = 1 << m, d = 12;
  for (uint64_t seed : {1u, 7u, 12345u}) {
    auto sobol = SobolSequence::Create(d, seed);
    ASSERT_TRUE(sobol.ok());
    std::vector<Eigen::VectorXd> points;
    for (int i = 0; i < n; ++i) points.push_back(sobol->Point(i));
    for (int k = 0; k <= m; ++k) {
      std::set<std::pair<int, int>> boxes;
      for (const auto& p : points) {
        boxes.insert(
            {static_cast<int>(p[0] * (1 << k)), static_cast<int>(p[1] * (1 << (m - k)))});
      }
      EXPECT_EQ(boxes.size(), static_cast<size_t>(n)) << "seed " << seed << " k " << k;
    }
    for (int j = 0; j < d; ++j) {
      std::set<int> cells;
      for (const auto& p : points) {
        ASSERT_GE(p[j], 0.0);
        ASSERT_LT(p[j], 1.0);
        cells.insert(static_cast<int>(p[j] * n));
      }
      EXPECT_EQ(cells.size(), static_cast<size_t>(n)) << "seed " << seed << " dim " << j;
    }
  }
}

TEST(SobolTest, SeedDeterminesTheScramble) {
  auto a = SobolSequence::Create(3, 42), b = SobolSequence::Create(3, 42),
       c = SobolSequence::Create(3, 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (int i = 0; i < 16; ++i) EXPECT_EQ(a->Point(i), b->Point(i));
  EXPECT_NE(a->Point(0), c->Point(0));
  // Scrambled: the first point is not the origin.
  EXPECT_GT(a->Point(0).norm(), 0.0);
}

TEST(SobolTest, RejectsDimensionsOutsideTheTable) {
  EXPECT_EQ(SobolSequence::Create(0, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SobolSequence::Create(1025, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lago::core
