// Triangular solves with a Cholesky factor L: one vector (every add, every
// single-point prediction) or many right-hand sides (batch predictions).
#ifndef LAGO_CORE_TRIANGULAR_SOLVE_H_
#define LAGO_CORE_TRIANGULAR_SOLVE_H_

#include "Eigen/Core"

namespace lago::core {

// Rows per diagonal block of SolveLowerByBlocks.
inline constexpr int kSolveBlock = 128;

// B <- L^-1 B, L the lower triangle of the square `l`, by blocks of
// kSolveBlock rows: each diagonal block D is inverted, its rows of B become
// D^-1 B (a triangular product), and the rows below take away their product
// with them (a matrix product). Nearly all the work is in matrix products,
// which OpenBLAS runs faster than its substitution (dtrsm) with some kernels.
void SolveLowerByBlocks(const Eigen::Ref<const Eigen::MatrixXd>& l,
                        Eigen::Ref<Eigen::MatrixXd> b);

// B <- L^-1 B by the faster of a substitution and SolveLowerByBlocks, by the
// measurements in bench/gp/blocked_kernels.md and blocked_solve.md: by blocks
// when OpenBLAS runs its AVX-512 kernels (SkylakeX, Cooperlake,
// SapphireRapids), with more than kSolveBlock rows and at least kSolveBlock
// columns; otherwise by substitution (dtrsm with BLAS).
void SolveLower(const Eigen::Ref<const Eigen::MatrixXd>& l,
                Eigen::Ref<Eigen::MatrixXd> b);

// v <- L^-1 v, or L^-T v when `transpose`, L the lower triangle of the
// square `l`. With BLAS, one dtrsv. Eigen's own blocked solve issues a
// matrix-vector product per 8-row panel, and OpenBLAS may thread each of
// them: with another process busy on one of two cores, an add at N >= 2000
// ran 4-11x slower that way (bench/gp/trsv_load1.md).
void SolveLowerVector(const Eigen::Ref<const Eigen::MatrixXd>& l, bool transpose,
                      Eigen::Ref<Eigen::VectorXd> v);

}  // namespace lago::core

#endif  // LAGO_CORE_TRIANGULAR_SOLVE_H_
