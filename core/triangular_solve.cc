#include "core/triangular_solve.h"

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "core/blas_threads.h"

#ifdef EIGEN_USE_BLAS
#include <cblas.h>
extern "C" char* openblas_get_corename(void);
#endif
#ifdef EIGEN_USE_LAPACKE
#include <lapacke.h>
#endif

namespace lago::core {
namespace {

// Whether OpenBLAS runs its AVX-512 kernels, with which the solve by blocks
// is the faster one.
bool BlockedSolveIsFaster() {
#ifdef EIGEN_USE_BLAS
  static const bool faster = [] {
    const std::string_view core = openblas_get_corename();
    return core == "SkylakeX" || core == "Cooperlake" || core == "SapphireRapids";
  }();
  return faster;
#else
  return false;
#endif
}

// Vectors of 8, 4 and 2 doubles: one AVX-512, AVX2 or SSE2 register each.
typedef double Vec8 __attribute__((vector_size(64)));
typedef double Vec4 __attribute__((vector_size(32)));
typedef double Vec2 __attribute__((vector_size(16)));

// Unaligned loads and stores through a vector type of a double's alignment
// that may alias doubles (as GCC's own _mm256_loadu_pd does). Not memcpy:
// GCC merges the memcpys of a loop over kVecs consecutive vectors into one
// block copy and then keeps the register block on the stack (three vectors
// of AVX2 spilled in every multiply-add: a ragged block of 2 columns took
// 1.9 ms at N = 2000, one of 3 columns 0.75 ms; bench/gp/README.md).
template <typename V>
struct Unaligned {
  typedef V type __attribute__((aligned(alignof(double)), may_alias));
};

template <typename V>
__attribute__((always_inline)) inline void Load(V& v, const double* p) {
  v = *reinterpret_cast<const typename Unaligned<V>::type*>(p);
}

template <typename V>
__attribute__((always_inline)) inline void Store(double* p, const V& v) {
  *reinterpret_cast<typename Unaligned<V>::type*>(p) = v;
}

// Columns of L per panel.
constexpr int kPanel = 16;

// For kT columns of B (stride ldb): rows [0, rows) -= P Y, with P the panel
// of L below the diagonal block (rows x width, stride ld) and Y the panel's
// solved rows of the same columns (width x kT, stride ldb). kVecs vectors of
// rows at a time, their kT running sums in registers; a ragged end takes one
// vector of rows at a time and then one row.
template <typename V, int kVecs, int kT>
__attribute__((always_inline)) inline void UpdateRows(int rows, int width,
                                                      const double* l, int64_t ld,
                                                      const double* y, double* b,
                                                      int64_t ldb) {
  constexpr int kLanes = sizeof(V) / sizeof(double), kRows = kLanes * kVecs;
  int r = 0;
  for (; r + kRows <= rows; r += kRows) {
    V sum[kT][kVecs];
    for (int t = 0; t < kT; ++t) {
      for (int v = 0; v < kVecs; ++v) Load(sum[t][v], b + r + kLanes * v + t * ldb);
    }
    for (int k = 0; k < width; ++k) {
      V column[kVecs];
      for (int v = 0; v < kVecs; ++v) Load(column[v], l + r + kLanes * v + k * ld);
      for (int t = 0; t < kT; ++t) {
        const double factor = y[k + t * ldb];
        for (int v = 0; v < kVecs; ++v) sum[t][v] -= column[v] * factor;
      }
    }
    for (int t = 0; t < kT; ++t) {
      for (int v = 0; v < kVecs; ++v) Store(b + r + kLanes * v + t * ldb, sum[t][v]);
    }
  }
  if constexpr (kVecs > 1) {
    UpdateRows<V, 1, kT>(rows - r, width, l + r, ld, y, b + r, ldb);
  } else {
    for (; r < rows; ++r) {
      for (int t = 0; t < kT; ++t) {
        double sum = b[r + t * ldb];
        for (int k = 0; k < width; ++k) sum -= l[r + k * ld] * y[k + t * ldb];
        b[r + t * ldb] = sum;
      }
    }
  }
}

// UpdateRows for the last `columns` (< kT) columns of B, with more vectors
// of rows for fewer columns, so that about kSums running sums still hide the
// latency of the multiply-adds.
template <typename V, int kT, int kSums>
__attribute__((always_inline)) inline void UpdateRaggedGroup(int columns, int rows,
                                                             int width, const double* l,
                                                             int64_t ld, const double* y,
                                                             double* b, int64_t ldb) {
  if constexpr (kT > 1) {
    if (columns == kT - 1) {
      UpdateRows<V, std::max(2, kSums / (kT - 1)), kT - 1>(rows, width, l, ld, y, b, ldb);
    } else {
      UpdateRaggedGroup<V, kT - 1, kSums>(columns, rows, width, l, ld, y, b, ldb);
    }
  }
}

// SolveLowerByPanels with register blocks of kVecs vectors V of rows by kT
// columns of B, and about kSums running sums in a ragged last block.
template <typename V, int kVecs, int kT, int kSums>
__attribute__((always_inline)) inline void SolvePanels(int n, int m, const double* l,
                                                       int64_t ld, double* b,
                                                       int64_t ldb) {
  for (int j = 0; j < n; j += kPanel) {
    const int width = std::min(kPanel, n - j), rows = n - j - width;
    const double* diagonal = l + j + j * ld;
    // The panel's diagonal block, by substitution in each column of B.
    for (int c = 0; c < m; ++c) {
      double* x = b + j + c * ldb;
      for (int k = 0; k < width; ++k) {
        x[k] /= diagonal[k + k * ld];
        for (int i = k + 1; i < width; ++i) x[i] -= diagonal[i + k * ld] * x[k];
      }
    }
    if (rows == 0) break;
    const double* below = diagonal + width;
    int c = 0;
    for (; c + kT <= m; c += kT) {
      UpdateRows<V, kVecs, kT>(rows, width, below, ld, b + j + c * ldb,
                               b + j + width + c * ldb, ldb);
    }
    UpdateRaggedGroup<V, kT, kSums>(m - c, rows, width, below, ld, b + j + c * ldb,
                                    b + j + width + c * ldb, ldb);
  }
}

#if defined(__x86_64__)
// Each register block holds 2 vectors of rows by 6 columns of B: 12 running
// sums and 2 vectors of a column of L in 14 registers (of AVX-512's 32, of
// AVX2's and SSE2's 16). A ragged block of fewer columns takes more rows, up
// to 12 sums with AVX-512 and 6 with the others, whose 16 registers would
// spill.
__attribute__((target("avx512f"))) void SolvePanelsAvx512(int n, int m, const double* l,
                                                          int64_t ld, double* b,
                                                          int64_t ldb) {
  SolvePanels<Vec8, 2, 6, 12>(n, m, l, ld, b, ldb);
}

__attribute__((target("avx2,fma"))) void SolvePanelsAvx2(int n, int m, const double* l,
                                                         int64_t ld, double* b,
                                                         int64_t ldb) {
  SolvePanels<Vec4, 2, 6, 6>(n, m, l, ld, b, ldb);
}

#endif

void SolvePanelsBaseline(int n, int m, const double* l, int64_t ld, double* b,
                         int64_t ldb) {
  SolvePanels<Vec2, 2, 6, 6>(n, m, l, ld, b, ldb);
}

using SolvePanelsFunction = void(int, int, const double*, int64_t, double*, int64_t);

}  // namespace

bool PanelIsaSupported(PanelIsa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case PanelIsa::kAvx512:
      return __builtin_cpu_supports("avx512f");
    case PanelIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    case PanelIsa::kAvx512:
    case PanelIsa::kAvx2:
      return false;
#endif
    default:
      return true;
  }
}

void SolveLowerByPanels(const Eigen::Ref<const Eigen::MatrixXd>& l,
                        Eigen::Ref<Eigen::MatrixXd> b, PanelIsa isa) {
  if (isa == PanelIsa::kBest) {
    static const PanelIsa best = PanelIsaSupported(PanelIsa::kAvx512) ? PanelIsa::kAvx512
                                 : PanelIsaSupported(PanelIsa::kAvx2)
                                     ? PanelIsa::kAvx2
                                     : PanelIsa::kBaseline;
    isa = best;
  }
  SolvePanelsFunction* solve = SolvePanelsBaseline;
#if defined(__x86_64__)
  if (isa == PanelIsa::kAvx512) solve = SolvePanelsAvx512;
  if (isa == PanelIsa::kAvx2) solve = SolvePanelsAvx2;
#endif
  solve(static_cast<int>(l.rows()), static_cast<int>(b.cols()), l.data(), l.outerStride(),
        b.data(), b.outerStride());
}

void SolveLowerByBlocks(const Eigen::Ref<const Eigen::MatrixXd>& l,
                        Eigen::Ref<Eigen::MatrixXd> b) {
  const int n = static_cast<int>(l.rows());
  Eigen::MatrixXd inverse(kSolveBlock, kSolveBlock);
  for (int k = 0; k < n; k += kSolveBlock) {
    const int s = std::min(kSolveBlock, n - k), rest = n - k - s;
#if defined(EIGEN_USE_BLAS) && defined(EIGEN_USE_LAPACKE)
    // The same steps as below, straight to OpenBLAS: through Eigen's
    // expressions, which copy the rows of B for the triangular product, the
    // solve measured 0.73-0.95x as fast at most sizes (bench/gp/blocked_eigen.md).
    const int m = static_cast<int>(b.cols()), ld = static_cast<int>(l.outerStride());
    const int ldb = static_cast<int>(b.outerStride());
    inverse.topLeftCorner(s, s) = l.block(k, k, s, s);
    // dtrtri fails only on a zero diagonal, which a Cholesky factor never has.
    LAPACKE_dtrtri_work(LAPACK_COL_MAJOR, 'L', 'N', s, inverse.data(), kSolveBlock);
    cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, s, m,
                1.0, inverse.data(), kSolveBlock, b.data() + k, ldb);
    if (rest > 0) {
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, rest, m, s, -1.0,
                  l.data() + k + s + static_cast<int64_t>(k) * ld, ld, b.data() + k, ldb,
                  1.0, b.data() + k + s, ldb);
    }
#else
    auto d = inverse.topLeftCorner(s, s);
    d.setIdentity();
    l.block(k, k, s, s).triangularView<Eigen::Lower>().solveInPlace(d);
    b.middleRows(k, s) = d.triangularView<Eigen::Lower>() * b.middleRows(k, s);
    if (rest > 0) {
      b.bottomRows(rest).noalias() -= l.block(k + s, k, rest, s) * b.middleRows(k, s);
    }
#endif
  }
}

void SolveLower(const Eigen::Ref<const Eigen::MatrixXd>& l,
                Eigen::Ref<Eigen::MatrixXd> b) {
  if (l.rows() == 0 || b.cols() == 0) return;
  // The widest B that goes by panels (the rules in the header).
  static const bool avx512 = PanelIsaSupported(PanelIsa::kAvx512);
  static const int one_thread_columns = avx512                               ? 32
                                        : PanelIsaSupported(PanelIsa::kAvx2) ? 23
                                                                             : 0;
  const int panel_columns = BlasThreads() == 1 ? one_thread_columns : avx512 ? 16 : 0;
  if (b.cols() <= panel_columns) {
    SolveLowerByPanels(l, b);
  } else if (l.rows() > kSolveBlock && b.cols() >= kSolveBlock &&
             BlockedSolveIsFaster()) {
    SolveLowerByBlocks(l, b);
  } else {
    l.triangularView<Eigen::Lower>().solveInPlace(b);
  }
}

void SolveLowerVector(const Eigen::Ref<const Eigen::MatrixXd>& l, bool transpose,
                      Eigen::Ref<Eigen::VectorXd> v) {
  if (l.rows() == 0) return;
#ifdef EIGEN_USE_BLAS
  cblas_dtrsv(CblasColMajor, CblasLower, transpose ? CblasTrans : CblasNoTrans,
              CblasNonUnit, static_cast<int>(l.rows()), l.data(),
              static_cast<int>(l.outerStride()), v.data(),
              static_cast<int>(v.innerStride()));
#else
  if (transpose) {
    l.transpose().triangularView<Eigen::Upper>().solveInPlace(v);
  } else {
    l.triangularView<Eigen::Lower>().solveInPlace(v);
  }
#endif
}

}  // namespace lago::core
