// Triangular solves L X = B with many right-hand sides, as batch predictions
// make them.
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

}  // namespace lago::core

#endif  // LAGO_CORE_TRIANGULAR_SOLVE_H_
