// The box [lower, upper] of a study and its map to the unit cube, where every
// model works: x_unit = (x - lower) / (upper - lower), or for a log-scale
// parameter (lower > 0) x_unit = log(x / lower) / log(upper / lower).
//
// An integer parameter takes whole numbers only: its bounds are whole, the
// models see its continuous relaxation over [lower - 1/2, upper + 1/2] (in
// place of [lower, upper] above, so that each whole number owns an equal
// share of the cube), and every point the study hands out is rounded to the
// nearest whole number in user units (Snap).
//
// A categorical parameter takes one of its choices, which points hold as the
// choice's index 0, 1, ..., k - 1 (its bounds are 0 and k - 1). The models see
// it one-hot: k coordinates of the unit cube, one per choice, and a point
// holds the choice whose coordinate is largest. So the unit cube has more
// coordinates than the study has parameters (unit_dimension()), and no
// choice is nearer to another than the rest, whatever their order.
#ifndef LAGO_CORE_SEARCH_SPACE_H_
#define LAGO_CORE_SEARCH_SPACE_H_

#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace lago::core {

enum class Scale { kLinear, kLog };
enum class ParameterType { kContinuous, kInteger, kCategorical };

struct ParameterBounds {
  std::string name;
  double lower = 0.0;
  double upper = 1.0;
  Scale scale = Scale::kLinear;
  ParameterType type = ParameterType::kContinuous;
  // A categorical parameter's labels, in the order of their indices; empty
  // otherwise.
  std::vector<std::string> choices = {};
};

// Upper limit on the coordinates of the unit cube (the Sobol table's
// dimension): one per parameter, and one per choice of a categorical one.
inline constexpr int kMaxDimension = 1024;
// Upper limit on a choice's label, in bytes.
inline constexpr size_t kMaxChoiceLength = 256;
// Bounds of an integer parameter stay within +-2^53, where doubles hold every
// whole number.
inline constexpr double kMaxWholeNumber = 9007199254740992.0;

class SearchSpace {
 public:
  // INVALID_ARGUMENT naming the parameter when a name is invalid or repeated,
  // a bound is not finite, lower >= upper, lower <= 0 on a log scale, a bound
  // of an integer parameter is not a whole number below 2^53, a categorical
  // parameter has fewer than 2 choices, an empty, overlong or repeated label,
  // a log scale or bounds other than 0 and k - 1, a parameter of another type
  // has choices, there are no parameters or the unit cube would have more
  // than kMaxDimension coordinates.
  static absl::StatusOr<SearchSpace> Create(std::vector<ParameterBounds> parameters);

  // The number of parameters: the length of a point in user units.
  int dimension() const { return static_cast<int>(parameters_.size()); }
  // The number of unit-cube coordinates: the length of a point the models see.
  int unit_dimension() const { return unit_dimension_; }
  // True when a parameter is an integer or categorical: points need Snap.
  bool has_discrete() const;
  const std::vector<ParameterBounds>& parameters() const { return parameters_; }
  // The unit-cube coordinates of the parameters of one type, increasing (a
  // categorical parameter's, one per choice). The continuous parameters' are
  // those a gradient covers.
  std::vector<int> CoordinatesOf(ParameterType type) const;

  // INVALID_ARGUMENT when `x` has the wrong length, a non-finite entry, an
  // entry outside its bounds or a categorical entry that is not the index of
  // a choice; `field` names the request field in the message.
  absl::Status CheckPoint(absl::Span<const double> x, const std::string& field) const;

  // INVALID_ARGUMENT naming `field` and the entry when a gradient (empty:
  // none) has the wrong length, a non-finite entry, or an entry other than 0
  // along an integer or categorical parameter, which has no derivative.
  absl::Status CheckGradient(absl::Span<const double> gradient,
                             const std::string& field) const;

  // CheckPoint, and INVALID_ARGUMENT when an integer parameter's entry is not
  // a whole number: for points that were evaluated.
  absl::Status CheckEvaluatedPoint(absl::Span<const double> x,
                                   const std::string& field) const;

  // Precondition: CheckPoint(x) holds (a categorical entry is an index).
  // The result has unit_dimension() entries.
  Eigen::VectorXd ToUnit(absl::Span<const double> x) const;
  // Maps back to user units, clamped into the box against rounding; an
  // integer parameter's entry is rounded to the nearest whole number, and a
  // categorical one is the choice with the largest coordinate (the first of
  // equals). Precondition: u.size() == unit_dimension().
  std::vector<double> FromUnit(const Eigen::VectorXd& u) const;
  // The unit-cube point of FromUnit(u): u with every integer parameter moved
  // to its nearest whole number and every categorical one to its choice's
  // corner (1 for the choice, 0 for the rest), exactly as ToUnit maps them,
  // so a snapped point survives the round trip through user units bit for
  // bit.
  Eigen::VectorXd Snap(const Eigen::VectorXd& u) const;
  // d x_j / d u_j at the point `x` (user units): upper_j - lower_j, or on a
  // log scale x_j log(upper_j / lower_j) (for an integer parameter, with the
  // widened range); 1 for a categorical parameter, which has no derivative.
  Eigen::VectorXd UnitJacobian(absl::Span<const double> x) const;
  // Chain rule at `x`: d f / d u_j = d x_j / d u_j * d f / d x_j, with 0 on a
  // categorical parameter's coordinates.
  Eigen::VectorXd GradientToUnit(absl::Span<const double> gradient,
                                 absl::Span<const double> x) const;
  // And back: d f / d x_j = d f / d u_j / (d x_j / d u_j), and 0 for a
  // categorical parameter.
  Eigen::VectorXd GradientFromUnit(const Eigen::VectorXd& gradient,
                                   absl::Span<const double> x) const;
  // Lengths along each axis of the unit cube in user units: times
  // upper_j - lower_j, or on a log scale in decades, times log10(upper_j /
  // lower_j). A categorical parameter's entry is the shortest of its
  // coordinates' lengths, in unit-cube units (at about 1.4 and less, a change
  // of choice moves the model by a correlation length or more).
  Eigen::VectorXd LengthsFromUnit(const Eigen::VectorXd& lengths) const;

  // The first unit-cube coordinate of parameter `i` (it spans one, or one per
  // choice).
  int unit_offset(int i) const { return offsets_[i]; }

 private:
  explicit SearchSpace(std::vector<ParameterBounds> parameters);
  std::vector<ParameterBounds> parameters_;
  std::vector<int> offsets_;
  int unit_dimension_ = 0;
};

// True when `name` is 1 to `max_length` characters from [A-Za-z0-9_.-] and does
// not start with '.' or '-' (nor with a digit when `allow_leading_digit` is false).
bool IsValidName(const std::string& name, size_t max_length, bool allow_leading_digit);

}  // namespace lago::core

#endif  // LAGO_CORE_SEARCH_SPACE_H_
