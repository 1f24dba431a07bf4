#include "core/search_space.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"

namespace lago::core {

namespace {

// The unit-cube coordinates a parameter spans.
int UnitWidth(const ParameterBounds& p) {
  return p.type == ParameterType::kCategorical ? static_cast<int>(p.choices.size()) : 1;
}

bool IsCategorical(const ParameterBounds& p) {
  return p.type == ParameterType::kCategorical;
}

// INVALID_ARGUMENT naming `field` unless the categorical parameter `p` has 2 or
// more distinct, non-empty labels without control characters, bounds 0 and
// k - 1 and a linear scale.
absl::Status CheckChoices(const ParameterBounds& p, const std::string& field) {
  const std::string name = absl::StrCat(field, " (", p.name, ")");
  if (p.choices.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", p.choices.size(),
                     " choices; a categorical parameter needs at least 2"));
  }
  std::set<std::string> seen;
  for (size_t c = 0; c < p.choices.size(); ++c) {
    const std::string& label = p.choices[c];
    const std::string at = absl::StrCat(field, ".choices[", c, "]");
    if (label.empty() || label.size() > kMaxChoiceLength) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": \"", label.substr(0, 80),
                                                     "\" must have 1 to ",
                                                     kMaxChoiceLength, " bytes"));
    }
    for (const char ch : label) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ": \"", label.substr(0, 80),
                         "\" holds a control character (a tab, a line break)"));
      }
    }
    if (!seen.insert(label).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": \"", label.substr(0, 80), "\" is used twice"));
    }
  }
  const double last = static_cast<double>(p.choices.size() - 1);
  if (p.lower != 0.0 || p.upper != last) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": bounds [", p.lower, ", ", p.upper, "] must be [0, ", last,
        "], the indices of its ", p.choices.size(), " choices (or leave both 0)"));
  }
  if (p.scale == Scale::kLog) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": a categorical parameter has no log scale"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidName(const std::string& name, size_t max_length, bool allow_leading_digit) {
  if (name.empty() || name.size() > max_length) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  const char first = name.front();
  if (first == '.' || first == '-') return false;
  if (!allow_leading_digit && first >= '0' && first <= '9') return false;
  return true;
}

SearchSpace::SearchSpace(std::vector<ParameterBounds> parameters)
    : parameters_(std::move(parameters)) {
  for (const ParameterBounds& p : parameters_) {
    offsets_.push_back(unit_dimension_);
    unit_dimension_ += UnitWidth(p);
  }
}

absl::StatusOr<SearchSpace> SearchSpace::Create(std::vector<ParameterBounds> parameters) {
  if (parameters.empty()) {
    return absl::InvalidArgumentError(
        "spec.parameters: at least one parameter is needed");
  }
  if (parameters.size() > static_cast<size_t>(kMaxDimension)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.parameters: ", parameters.size(), " parameters; at most ", kMaxDimension));
  }
  std::set<std::string> seen;
  int unit_dimension = 0;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const ParameterBounds& p = parameters[i];
    const std::string field = absl::StrCat("spec.parameters[", i, "]");
    if (!IsValidName(p.name, 64, /*allow_leading_digit=*/false)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".name: \"", p.name.substr(0, 80),
                       "\" is not a valid name (1 to 64 of [A-Za-z0-9_.-], starting with "
                       "a letter or _)"));
    }
    if (!seen.insert(p.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".name: \"", p.name, "\" is used twice"));
    }
    if (IsCategorical(p)) {
      if (absl::Status status = CheckChoices(p, field); !status.ok()) return status;
    } else if (!p.choices.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".choices (", p.name, "): ", p.choices.size(),
                       " choices; only a categorical parameter has choices"));
    }
    unit_dimension += UnitWidth(p);
    if (unit_dimension > kMaxDimension) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.parameters: the models would need more than ", kMaxDimension,
          " coordinates, one per parameter and one per choice of a categorical "
          "parameter (",
          field, " (", p.name, ") passes the limit)"));
    }
    if (!std::isfinite(p.lower) || !std::isfinite(p.upper)) {
      return absl::InvalidArgumentError(absl::StrCat(field, " (", p.name, "): bounds [",
                                                     p.lower, ", ", p.upper,
                                                     "] must be finite"));
    }
    if (!(p.lower < p.upper)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " (", p.name, "): lower ", p.lower, " must be below upper ", p.upper));
    }
    if (p.scale == Scale::kLog && !(p.lower > 0.0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " (", p.name, "): lower ", p.lower, " must be above 0 on a log scale"));
    }
    if (p.type == ParameterType::kInteger) {
      for (const double bound : {p.lower, p.upper}) {
        if (bound != std::round(bound) || std::abs(bound) > kMaxWholeNumber) {
          return absl::InvalidArgumentError(absl::StrCat(
              field, " (", p.name, "): ", bound == p.lower ? "lower " : "upper ", bound,
              " is not a whole number within 2^53 (the parameter is an integer)"));
        }
      }
    }
    if (!std::isfinite(p.upper - p.lower)) {
      return absl::InvalidArgumentError(absl::StrCat(field, " (", p.name,
                                                     "): the width of [", p.lower, ", ",
                                                     p.upper, "] overflows a double"));
    }
  }
  return SearchSpace(std::move(parameters));
}

absl::Status SearchSpace::CheckPoint(absl::Span<const double> x,
                                     const std::string& field) const {
  if (x.size() != parameters_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": has ", x.size(),
                                                   " entries; the study has ",
                                                   parameters_.size(), " parameters"));
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const ParameterBounds& p = parameters_[i];
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "] (", p.name, "): ", x[i], " is not finite"));
    }
    if (x[i] < p.lower || x[i] > p.upper) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] (", p.name,
                                                     "): ", x[i], " is outside [",
                                                     p.lower, ", ", p.upper, "]"));
    }
    if (IsCategorical(p) && x[i] != std::round(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "] (", p.name, "): ", x[i],
                       " is not the index of a choice (0 to ", p.upper, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status SearchSpace::CheckEvaluatedPoint(absl::Span<const double> x,
                                              const std::string& field) const {
  if (absl::Status status = CheckPoint(x, field); !status.ok()) return status;
  for (size_t i = 0; i < x.size(); ++i) {
    const ParameterBounds& p = parameters_[i];
    if (p.type == ParameterType::kInteger && x[i] != std::round(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "] (", p.name, "): ", x[i],
                       " is not a whole number (the parameter is an integer)"));
    }
  }
  return absl::OkStatus();
}

bool SearchSpace::has_discrete() const {
  for (const ParameterBounds& p : parameters_) {
    if (p.type != ParameterType::kContinuous) return true;
  }
  return false;
}

std::vector<int> SearchSpace::CoordinatesOf(ParameterType type) const {
  std::vector<int> out;
  for (int i = 0; i < dimension(); ++i) {
    if (parameters_[i].type != type) continue;
    for (int j = 0; j < UnitWidth(parameters_[i]); ++j) out.push_back(offsets_[i] + j);
  }
  return out;
}

absl::Status SearchSpace::CheckGradient(absl::Span<const double> gradient,
                                        const std::string& field) const {
  if (gradient.empty()) return absl::OkStatus();
  if (static_cast<int>(gradient.size()) != dimension()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": has ", gradient.size(),
                                                   " entries; the study has ",
                                                   dimension(), " parameters"));
  }
  for (int i = 0; i < dimension(); ++i) {
    const ParameterBounds& p = parameters_[i];
    if (!std::isfinite(gradient[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]: ", gradient[i], " is not finite"));
    }
    if (p.type != ParameterType::kContinuous && gradient[i] != 0.0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "] (", p.name, "): ", gradient[i], " along ",
                       p.type == ParameterType::kInteger ? "an integer" : "a categorical",
                       " parameter, which has no derivative; send 0 there"));
    }
  }
  return absl::OkStatus();
}

namespace {

// The range the unit cube spans: the bounds, widened by half a step for an
// integer parameter, so that every whole number owns an equal share of it
// (the ends are not halved when a Sobol point is rounded).
double Low(const ParameterBounds& p) {
  return p.type == ParameterType::kInteger ? p.lower - 0.5 : p.lower;
}
double High(const ParameterBounds& p) {
  return p.type == ParameterType::kInteger ? p.upper + 0.5 : p.upper;
}

// log(high / low): the length of a log-scale parameter's range in e-folds.
double LogRange(const ParameterBounds& p) { return std::log(High(p) / Low(p)); }

}  // namespace

Eigen::VectorXd SearchSpace::ToUnit(absl::Span<const double> x) const {
  Eigen::VectorXd u = Eigen::VectorXd::Zero(unit_dimension_);
  for (int i = 0; i < dimension(); ++i) {
    const ParameterBounds& p = parameters_[i];
    if (IsCategorical(p)) {
      u[offsets_[i] + static_cast<int>(std::clamp(x[i], p.lower, p.upper))] = 1.0;
      continue;
    }
    u[offsets_[i]] = p.scale == Scale::kLog ? std::log(x[i] / Low(p)) / LogRange(p)
                                            : (x[i] - Low(p)) / (High(p) - Low(p));
  }
  return u;
}

std::vector<double> SearchSpace::FromUnit(const Eigen::VectorXd& u) const {
  std::vector<double> x(dimension());
  for (int i = 0; i < dimension(); ++i) {
    const ParameterBounds& p = parameters_[i];
    if (IsCategorical(p)) {
      Eigen::Index choice = 0;
      u.segment(offsets_[i], UnitWidth(p)).maxCoeff(&choice);
      x[i] = static_cast<double>(choice);
      continue;
    }
    const double ui = u[offsets_[i]];
    const double v = p.scale == Scale::kLog ? Low(p) * std::exp(ui * LogRange(p))
                                            : Low(p) + ui * (High(p) - Low(p));
    x[i] = std::clamp(p.type == ParameterType::kInteger ? std::round(v) : v, p.lower,
                      p.upper);
  }
  return x;
}

Eigen::VectorXd SearchSpace::Snap(const Eigen::VectorXd& u) const {
  Eigen::VectorXd out = u;
  if (!has_discrete()) return out;
  const Eigen::VectorXd back = ToUnit(FromUnit(u));
  for (int i = 0; i < dimension(); ++i) {
    const ParameterBounds& p = parameters_[i];
    if (p.type == ParameterType::kContinuous) continue;
    out.segment(offsets_[i], UnitWidth(p)) = back.segment(offsets_[i], UnitWidth(p));
  }
  return out;
}

Eigen::VectorXd SearchSpace::UnitJacobian(absl::Span<const double> x) const {
  Eigen::VectorXd j(dimension());
  for (int i = 0; i < dimension(); ++i) {
    const ParameterBounds& p = parameters_[i];
    j[i] = IsCategorical(p)         ? 1.0
           : p.scale == Scale::kLog ? x[i] * LogRange(p)
                                    : High(p) - Low(p);
  }
  return j;
}

Eigen::VectorXd SearchSpace::GradientToUnit(absl::Span<const double> gradient,
                                            absl::Span<const double> x) const {
  const Eigen::VectorXd jacobian = UnitJacobian(x);
  Eigen::VectorXd out = Eigen::VectorXd::Zero(unit_dimension_);
  for (int i = 0; i < dimension(); ++i) {
    if (!IsCategorical(parameters_[i])) out[offsets_[i]] = gradient[i] * jacobian[i];
  }
  return out;
}

Eigen::VectorXd SearchSpace::GradientFromUnit(const Eigen::VectorXd& gradient,
                                              absl::Span<const double> x) const {
  const Eigen::VectorXd jacobian = UnitJacobian(x);
  Eigen::VectorXd out = Eigen::VectorXd::Zero(dimension());
  for (int i = 0; i < dimension(); ++i) {
    if (!IsCategorical(parameters_[i])) out[i] = gradient[offsets_[i]] / jacobian[i];
  }
  return out;
}

Eigen::VectorXd SearchSpace::LengthsFromUnit(const Eigen::VectorXd& lengths) const {
  Eigen::VectorXd out(dimension());
  for (int i = 0; i < dimension(); ++i) {
    const ParameterBounds& p = parameters_[i];
    const double l = lengths[offsets_[i]];
    if (IsCategorical(p)) {
      out[i] = lengths.segment(offsets_[i], UnitWidth(p)).minCoeff();
    } else if (p.scale == Scale::kLog) {
      out[i] = l * std::log10(High(p) / Low(p));
    } else {
      out[i] = l * (High(p) - Low(p));
    }
  }
  return out;
}

}  // namespace lago::core
