#include "core/triangular_solve.h"

#include <algorithm>
#include <cstdint>
#include <string_view>

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

}  // namespace

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
  if (l.rows() > kSolveBlock && b.cols() >= kSolveBlock && BlockedSolveIsFaster()) {
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
