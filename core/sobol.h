// Scrambled Sobol sequence in [0, 1)^d.
//
// Direction numbers: Joe and Kuo (2008), "Constructing Sobol sequences with
// better two-dimensional projections" (table new-joe-kuo-6.21201), 52 bits.
// Scrambling: Matousek's random linear matrix scramble followed by a random
// digital shift, both drawn from the seed. Points are in Gray-code order, so
// the first 2^m points of every dimension pair of the first two dimensions form
// a (0, m, 2)-net; this is what the tests check.
//
// Point(i) is computed directly from i in O(d log i), so a sequence can resume
// at any index (after a server restart) without replaying the points before it.
#ifndef LAGO_CORE_SOBOL_H_
#define LAGO_CORE_SOBOL_H_

#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"

namespace lago::core {

class SobolSequence {
 public:
  // `scramble` false gives the plain Joe-Kuo sequence (its first point is 0).
  // INVALID_ARGUMENT when dimension is outside [1, kMaxDimension].
  static absl::StatusOr<SobolSequence> Create(int dimension, uint64_t seed,
                                              bool scramble = true);

  int dimension() const { return dimension_; }
  // The point at `index` >= 0; every coordinate in [0, 1).
  Eigen::VectorXd Point(uint64_t index) const;

 private:
  static constexpr int kBits = 52;
  SobolSequence(int dimension, std::vector<uint64_t> directions,
                std::vector<uint64_t> shift);

  int dimension_;
  // directions_[j * kBits + k]: direction number k of dimension j, 52-bit.
  std::vector<uint64_t> directions_;
  std::vector<uint64_t> shift_;
};

}  // namespace lago::core

#endif  // LAGO_CORE_SOBOL_H_
