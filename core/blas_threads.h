// OpenBLAS's threads per call, which decide some of the solves' paths
// (core/triangular_solve.h) and which lago-server sets (--blas-threads).
#ifndef LAGO_CORE_BLAS_THREADS_H_
#define LAGO_CORE_BLAS_THREADS_H_

namespace lago::core {

// OpenBLAS's threads per call: 1 in the build without BLAS
// (-DLAGO_EIGEN_BLAS=OFF), which has none of its own.
int BlasThreads();

// Sets OpenBLAS's threads per call for the whole process; a no-op without
// BLAS.
void SetBlasThreads(int threads);

}  // namespace lago::core

#endif  // LAGO_CORE_BLAS_THREADS_H_
