#include "core/sobol.h"

#include <array>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/search_space.h"

namespace lago::core {
namespace {

struct DirectionRow {
  int degree;
  uint32_t coefficients;
  std::array<uint32_t, 18> m;
};

constexpr DirectionRow kDirectionTable[] = {
#include "core/sobol_direction_numbers.inc"
};
static_assert(sizeof(kDirectionTable) / sizeof(kDirectionTable[0]) == kMaxDimension);

int Parity(uint64_t v) { return __builtin_parityll(v); }

}  // namespace

SobolSequence::SobolSequence(int dimension, std::vector<uint64_t> directions,
                             std::vector<uint64_t> shift)
    : dimension_(dimension),
      directions_(std::move(directions)),
      shift_(std::move(shift)) {}

absl::StatusOr<SobolSequence> SobolSequence::Create(int dimension, uint64_t seed,
                                                    bool scramble) {
  if (dimension < 1 || dimension > kMaxDimension) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Sobol dimension ", dimension, " is outside [1, ", kMaxDimension, "]"));
  }
  std::vector<uint64_t> directions(static_cast<size_t>(dimension) * kBits);
  for (int j = 0; j < dimension; ++j) {
    uint64_t* v = &directions[static_cast<size_t>(j) * kBits];  // v[k-1] is V_k
    const DirectionRow& row = kDirectionTable[j];
    const int s = row.degree;
    if (s == 0) {
      for (int k = 1; k <= kBits; ++k) v[k - 1] = uint64_t{1} << (kBits - k);
      continue;
    }
    for (int k = 1; k <= s && k <= kBits; ++k) {
      v[k - 1] = static_cast<uint64_t>(row.m[k - 1]) << (kBits - k);
    }
    // Recurrence of Bratley and Fox (1988), eq. (2), on left-aligned numbers.
    for (int k = s + 1; k <= kBits; ++k) {
      uint64_t value = v[k - s - 1] ^ (v[k - s - 1] >> s);
      for (int i = 1; i <= s - 1; ++i) {
        if ((row.coefficients >> (s - 1 - i)) & 1u) value ^= v[k - i - 1];
      }
      v[k - 1] = value;
    }
  }
  std::vector<uint64_t> shift(dimension, 0);
  if (scramble) {
    std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                      0x50B01u};
    std::mt19937_64 rng(seq);
    const uint64_t all = (uint64_t{1} << kBits) - 1;
    for (int j = 0; j < dimension; ++j) {
      // Lower-triangular matrix with unit diagonal over GF(2): output digit r
      // (r = 1 is the most significant) mixes input digits 1..r.
      std::array<uint64_t, kBits> rows;
      for (int r = 1; r <= kBits; ++r) {
        const uint64_t diagonal = uint64_t{1} << (kBits - r);
        const uint64_t above = all & ~((diagonal << 1) - 1);
        rows[r - 1] = diagonal | (rng() & above);
      }
      uint64_t* v = &directions[static_cast<size_t>(j) * kBits];
      for (int k = 0; k < kBits; ++k) {
        uint64_t scrambled = 0;
        for (int r = 1; r <= kBits; ++r) {
          scrambled |= static_cast<uint64_t>(Parity(rows[r - 1] & v[k])) << (kBits - r);
        }
        v[k] = scrambled;
      }
      shift[j] = rng() & all;
    }
  }
  return SobolSequence(dimension, std::move(directions), std::move(shift));
}

Eigen::VectorXd SobolSequence::Point(uint64_t index) const {
  const uint64_t gray = index ^ (index >> 1);
  Eigen::VectorXd u(dimension_);
  constexpr double kScale = 1.0 / static_cast<double>(uint64_t{1} << kBits);
  for (int j = 0; j < dimension_; ++j) {
    const uint64_t* v = &directions_[static_cast<size_t>(j) * kBits];
    uint64_t x = shift_[j];
    uint64_t g = gray;
    for (int k = 0; g != 0 && k < kBits; ++k, g >>= 1) {
      if (g & 1u) x ^= v[k];
    }
    u[j] = static_cast<double>(x) * kScale;
  }
  return u;
}

}  // namespace lago::core
