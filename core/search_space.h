// The box [lower, upper] of a study and its map to the unit cube, where every
// model works: x_unit = (x - lower) / (upper - lower), or for a log-scale
// parameter (lower > 0) x_unit = log(x / lower) / log(upper / lower).
//
// An integer parameter takes whole numbers only: its bounds are whole, the
// models see its continuous relaxation over [lower - 1/2, upper + 1/2] (in
// place of [lower, upper] above, so that each whole number owns an equal
// share of the cube), and every point the study hands out is rounded to the
// nearest whole number in user units (Snap).
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
enum class ParameterType { kContinuous, kInteger };

struct ParameterBounds {
  std::string name;
  double lower = 0.0;
  double upper = 1.0;
  Scale scale = Scale::kLinear;
  ParameterType type = ParameterType::kContinuous;
};

// Upper limit on the number of parameters (the Sobol table's dimension).
inline constexpr int kMaxDimension = 1024;
// Bounds of an integer parameter stay within +-2^53, where doubles hold every
// whole number.
inline constexpr double kMaxWholeNumber = 9007199254740992.0;

class SearchSpace {
 public:
  // INVALID_ARGUMENT naming the parameter when a name is invalid or repeated,
  // a bound is not finite, lower >= upper, lower <= 0 on a log scale, a bound
  // of an integer parameter is not a whole number below 2^53, or there are no
  // parameters.
  static absl::StatusOr<SearchSpace> Create(std::vector<ParameterBounds> parameters);

  int dimension() const { return static_cast<int>(parameters_.size()); }
  bool has_integers() const;
  const std::vector<ParameterBounds>& parameters() const { return parameters_; }

  // INVALID_ARGUMENT when `x` has the wrong length, a non-finite entry or an
  // entry outside its bounds; `field` names the request field in the message.
  absl::Status CheckPoint(absl::Span<const double> x, const std::string& field) const;

  // CheckPoint, and INVALID_ARGUMENT when an integer parameter's entry is not
  // a whole number: for points that were evaluated.
  absl::Status CheckEvaluatedPoint(absl::Span<const double> x,
                                   const std::string& field) const;

  // Precondition: x.size() == dimension().
  Eigen::VectorXd ToUnit(absl::Span<const double> x) const;
  // Maps back to user units, clamped into the box against rounding; an
  // integer parameter's entry is rounded to the nearest whole number.
  std::vector<double> FromUnit(const Eigen::VectorXd& u) const;
  // The unit-cube point of FromUnit(u): u with every integer parameter moved
  // to its nearest whole number, exactly as ToUnit maps that number, so a
  // snapped point survives the round trip through user units bit for bit.
  Eigen::VectorXd Snap(const Eigen::VectorXd& u) const;
  // d x_j / d u_j at the point `x` (user units): upper_j - lower_j, or on a
  // log scale x_j log(upper_j / lower_j) (for an integer parameter, with the
  // widened range).
  Eigen::VectorXd UnitJacobian(absl::Span<const double> x) const;
  // Chain rule at `x`: d f / d u_j = d x_j / d u_j * d f / d x_j.
  Eigen::VectorXd GradientToUnit(absl::Span<const double> gradient,
                                 absl::Span<const double> x) const;
  // And back: d f / d x_j = d f / d u_j / (d x_j / d u_j).
  Eigen::VectorXd GradientFromUnit(const Eigen::VectorXd& gradient,
                                   absl::Span<const double> x) const;
  // Lengths along each axis of the unit cube in user units: times
  // upper_j - lower_j, or on a log scale in decades, times log10(upper_j /
  // lower_j).
  Eigen::VectorXd LengthsFromUnit(const Eigen::VectorXd& lengths) const;

 private:
  explicit SearchSpace(std::vector<ParameterBounds> parameters);
  std::vector<ParameterBounds> parameters_;
};

// True when `name` is 1 to `max_length` characters from [A-Za-z0-9_.-] and does
// not start with '.' or '-' (nor with a digit when `allow_leading_digit` is false).
bool IsValidName(const std::string& name, size_t max_length, bool allow_leading_digit);

}  // namespace lago::core

#endif  // LAGO_CORE_SEARCH_SPACE_H_
