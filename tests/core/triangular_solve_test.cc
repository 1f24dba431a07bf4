#include "core/triangular_solve.h"

#include <cmath>
#include <random>

#include "Eigen/Cholesky"
#include "core/blas_threads.h"
#include "gtest/gtest.h"

namespace lago::core {
namespace {

// The Cholesky factor of a squared-exponential covariance over n points in
// [0, 1]^3 with lengthscale 0.5 and a nugget of 1e-9, a third of them in a
// cluster of width 0.02: as ill-conditioned as a GP's factor gets.
Eigen::MatrixXd GpLikeFactor(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd x(3, n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < 3; ++j) x(j, i) = i % 3 == 0 ? 0.5 + 0.02 * u(rng) : u(rng);
  }
  Eigen::MatrixXd k(n, n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j)
      k(i, j) = std::exp(-2.0 * (x.col(i) - x.col(j)).squaredNorm());
  }
  k.diagonal().array() += 1e-9;
  Eigen::LLT<Eigen::MatrixXd> llt(k);
  EXPECT_EQ(llt.info(), Eigen::Success);
  return llt.matrixL();
}

// max |L X - B| over max |L| max |X|: of the order of the unit roundoff times
// n for a backward-stable solve.
double RelativeResidual(const Eigen::MatrixXd& l, const Eigen::MatrixXd& x,
                        const Eigen::MatrixXd& b) {
  const Eigen::MatrixXd r = l.triangularView<Eigen::Lower>() * x - b;
  return r.cwiseAbs().maxCoeff() / (l.cwiseAbs().maxCoeff() * x.cwiseAbs().maxCoeff());
}

TEST(TriangularSolveTest, ByBlocksMatchesSubstitutionOnAnIllConditionedFactor) {
  // Sizes below one block, at a block boundary and with a ragged last block.
  for (int n : {50, 2 * kSolveBlock, 3 * kSolveBlock + 77}) {
    const Eigen::MatrixXd l = GpLikeFactor(n, n);
    const Eigen::MatrixXd b = Eigen::MatrixXd::Random(n, 150);
    Eigen::MatrixXd by_blocks = b, substituted = b;
    SolveLowerByBlocks(l, by_blocks);
    l.triangularView<Eigen::Lower>().solveInPlace(substituted);
    // Measured with OpenBLAS: up to 1.2e-15 by blocks, 1.1e-16 by substitution.
    EXPECT_LT(RelativeResidual(l, by_blocks, b), 1e-13) << "n = " << n;
    EXPECT_LT(RelativeResidual(l, substituted, b), 1e-13) << "n = " << n;
  }
}

TEST(TriangularSolveTest, SolveLowerTakesColumnsOfAWiderMatrixAndACorner) {
  // As GaussianProcess::Predict calls it: the n x n corner of a factor kept
  // with spare rows, and a block of columns.
  const int n = 2 * kSolveBlock + 10;
  Eigen::MatrixXd storage = Eigen::MatrixXd::Constant(n + 40, n + 40, 7.0);
  storage.topLeftCorner(n, n) = GpLikeFactor(n, 3);
  Eigen::MatrixXd b = Eigen::MatrixXd::Random(n, kSolveBlock + 20);
  const Eigen::MatrixXd original = b;
  SolveLower(storage.topLeftCorner(n, n), b.rightCols(kSolveBlock + 5));
  EXPECT_EQ(b.leftCols(15), original.leftCols(15));
  EXPECT_LT(RelativeResidual(storage.topLeftCorner(n, n), b.rightCols(kSolveBlock + 5),
                             original.rightCols(kSolveBlock + 5)),
            1e-13);
}

TEST(TriangularSolveTest, ByPanelsMatchesSubstitutionInEveryInstructionSet) {
  // Sizes within one panel, at its edge, ragged, and with ragged tails of
  // rows; column counts below, at and past a register block of 6 columns,
  // with ragged groups of every width.
  for (PanelIsa isa :
       {PanelIsa::kBest, PanelIsa::kAvx512, PanelIsa::kAvx2, PanelIsa::kBaseline}) {
    if (!PanelIsaSupported(isa)) continue;
    for (int n : {5, 16, 17, 45, 333}) {
      const Eigen::MatrixXd l = GpLikeFactor(n, n + 1);
      for (int m : {1, 2, 3, 4, 5, 6, 7, 11, 13, 21}) {
        const Eigen::MatrixXd b = Eigen::MatrixXd::Random(n, m);
        Eigen::MatrixXd by_panels = b, substituted = b;
        SolveLowerByPanels(l, by_panels, isa);
        l.triangularView<Eigen::Lower>().solveInPlace(substituted);
        const double scale = substituted.cwiseAbs().maxCoeff();
        // Measured: residuals up to 7.2e-17 by panels and 8.3e-17 by
        // substitution, the two up to 1.6e-12 of the largest entry apart
        // (rounding, magnified by the factor's conditioning).
        EXPECT_LT(RelativeResidual(l, by_panels, b), 1e-14)
            << "isa " << static_cast<int>(isa) << ", n = " << n << ", m = " << m;
        EXPECT_LT((by_panels - substituted).cwiseAbs().maxCoeff(), 1e-10 * scale)
            << "isa " << static_cast<int>(isa) << ", n = " << n << ", m = " << m;
      }
    }
  }
}

TEST(TriangularSolveTest, ByPanelsTakesColumnsOfAWiderMatrixAndACorner) {
  const int n = 70;
  Eigen::MatrixXd storage = Eigen::MatrixXd::Constant(n + 9, n + 9, 7.0);
  storage.topLeftCorner(n, n) = GpLikeFactor(n, 5);
  Eigen::MatrixXd b = Eigen::MatrixXd::Random(n + 3, 20);
  const Eigen::MatrixXd original = b;
  SolveLowerByPanels(storage.topLeftCorner(n, n), b.block(0, 4, n, 11));
  EXPECT_EQ(b.leftCols(4), original.leftCols(4));
  EXPECT_EQ(b.rightCols(5), original.rightCols(5));
  EXPECT_EQ(b.bottomRows(3), original.bottomRows(3));
  EXPECT_LT(RelativeResidual(storage.topLeftCorner(n, n), b.block(0, 4, n, 11),
                             original.block(0, 4, n, 11)),
            1e-13);
}

TEST(TriangularSolveTest, SolveLowerSolvesNarrowRightHandSidesOnOneThreadAndOnTwo) {
  // SolveLower picks panels or dtrsm by the number of columns, the CPU and
  // OpenBLAS's threads; 11 and 21 columns are an add's with d = 10 and 20.
  const int threads = BlasThreads();
  for (int t : {1, 2}) {
    SetBlasThreads(t);
    for (int n : {45, 333}) {
      const Eigen::MatrixXd l = GpLikeFactor(n, n + 2);
      for (int m : {1, 4, 11, 16, 17, 21, 23, 24, 32, 33}) {
        const Eigen::MatrixXd b = Eigen::MatrixXd::Random(n, m);
        Eigen::MatrixXd x = b;
        SolveLower(l, x);
        EXPECT_LT(RelativeResidual(l, x, b), 1e-14)
            << t << " threads, n = " << n << ", m = " << m;
      }
    }
  }
  SetBlasThreads(threads);
}

}  // namespace
}  // namespace lago::core
