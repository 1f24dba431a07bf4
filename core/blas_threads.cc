#include "core/blas_threads.h"

#ifdef EIGEN_USE_BLAS
extern "C" int openblas_get_num_threads(void);
extern "C" void openblas_set_num_threads(int);
#endif

namespace lago::core {

int BlasThreads() {
#ifdef EIGEN_USE_BLAS
  return openblas_get_num_threads();
#else
  return 1;
#endif
}

void SetBlasThreads(int threads) {
#ifdef EIGEN_USE_BLAS
  openblas_set_num_threads(threads);
#else
  (void)threads;
#endif
}

}  // namespace lago::core
