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

// B <- L^-1 B by the fastest of a substitution, SolveLowerByPanels and
// SolveLowerByBlocks, by the measurements in bench/gp/panel_solve.md,
// panel_solve_zen3_loads.md, panel_rule_avx2.md, panel_add_threads.md,
// blocked_kernels.md and blocked_solve.md:
// - by panels, on one core, for at most 32 columns on a CPU with AVX-512 and
//   23 with AVX2 when OpenBLAS runs one thread per call (lago-server's
//   default); with more OpenBLAS threads, for at most 16 columns with AVX-512
//   (faster than the threaded dtrsm up to d + 1 = 11 columns, slower at 21),
//   and never with AVX2 alone (not measured);
// - by blocks when OpenBLAS runs its AVX-512 kernels (SkylakeX, Cooperlake,
//   SapphireRapids), with more than kSolveBlock rows and at least
//   kSolveBlock columns;
// - otherwise by substitution (dtrsm with BLAS).
void SolveLower(const Eigen::Ref<const Eigen::MatrixXd>& l,
                Eigen::Ref<Eigen::MatrixXd> b);

// The instruction sets SolveLowerByPanels is compiled for. kBest is the
// widest this CPU runs; the others exist to test and measure each version.
enum class PanelIsa { kBest, kAvx512, kAvx2, kBaseline };

// Whether this CPU runs `isa` (kBest and kBaseline always).
bool PanelIsaSupported(PanelIsa isa);

// B <- L^-1 B for a few columns, as an add (d + 1 of them) needs, on one
// thread: L is read in panels of 16 columns, and each panel's product with
// the solved rows is taken from the rows below while the running sums of up
// to six columns of B stay in registers. On one thread it beat OpenBLAS's
// dtrsm, which packs L for matrix products that so few columns do not repay:
// 1.1-2.3x as fast up to 21 columns with AVX-512 (but for 0.96x at d = 20,
// N = 4000), 0.97-1.12x at 32 (bench/gp/panel_solve.md); with AVX2 (Zen 3)
// 1.04-3.4x up to 11 columns (but 0.88x at 8, N = 4000) and 1.0-1.1x at 21,
// but 0.86-1.02x at 16 and 0.90-0.97x at 24, where dtrsm is at its best
// (panel_solve_zen3_loads.md), and the add at d = 20 1.07x as fast at
// N = 2000 as with dtrsm (panel_rule_avx2.md).
void SolveLowerByPanels(const Eigen::Ref<const Eigen::MatrixXd>& l,
                        Eigen::Ref<Eigen::MatrixXd> b, PanelIsa isa = PanelIsa::kBest);

// v <- L^-1 v, or L^-T v when `transpose`, L the lower triangle of the
// square `l`. With BLAS, one dtrsv. Eigen's own blocked solve issues a
// matrix-vector product per 8-row panel, and OpenBLAS may thread each of
// them: with another process busy on one of two cores, an add at N >= 2000
// ran 4-11x slower that way (bench/gp/trsv_load1.md).
void SolveLowerVector(const Eigen::Ref<const Eigen::MatrixXd>& l, bool transpose,
                      Eigen::Ref<Eigen::VectorXd> v);

}  // namespace lago::core

#endif  // LAGO_CORE_TRIANGULAR_SOLVE_H_
