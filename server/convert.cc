#include "server/convert.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace lago::server {
namespace {

constexpr size_t kMaxMetadataEntries = 64;
constexpr size_t kMaxMetadataKey = 128;
constexpr size_t kMaxMetadataValue = 4096;
constexpr double kMaxLeaseSeconds = 366.0 * 86400.0;

absl::Status CheckNonNegative(const char* field, double value) {
  if (!std::isfinite(value) || value < 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value, " must be finite and >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::StudySpec> NormalizeSpec(const v1::StudySpec& spec) {
  v1::StudySpec out = spec;
  for (int i = 0; i < out.parameters_size(); ++i) {
    if (!v1::Scale_IsValid(out.parameters(i).scale())) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.parameters[", i, "].scale: ", out.parameters(i).scale(),
                       " is not a scale"));
    }
    if (!v1::ParameterType_IsValid(out.parameters(i).type())) {
      return absl::InvalidArgumentError(absl::StrCat("spec.parameters[", i,
                                                     "].type: ", out.parameters(i).type(),
                                                     " is not a parameter type"));
    }
    // A categorical parameter's bounds may be left out: they are the indices
    // of its first and last choice.
    v1::Parameter& p = *out.mutable_parameters(i);
    if (p.type() == v1::PARAMETER_TYPE_CATEGORICAL && p.lower() == 0.0 &&
        p.upper() == 0.0 && p.choices_size() > 0) {
      p.set_upper(p.choices_size() - 1);
    }
  }
  RETURN_IF_ERROR(SearchSpaceOf(out).status());
  if (out.direction() == v1::DIRECTION_UNSPECIFIED)
    out.set_direction(v1::DIRECTION_MINIMIZE);
  if (!v1::Direction_IsValid(out.direction())) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.direction: ", out.direction(), " is not a direction"));
  }
  if (out.strategy().empty()) out.set_strategy(kDefaultStrategy);
  if (out.gradient_mode() == v1::GRADIENT_MODE_UNSPECIFIED) {
    out.set_gradient_mode(v1::GRADIENT_MODE_NONE);
  }
  if (!v1::GradientMode_IsValid(out.gradient_mode())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.gradient_mode: ", out.gradient_mode(), " is not a gradient mode"));
  }
  if (out.gradient_mode() != v1::GRADIENT_MODE_NONE) {
    bool continuous = false;
    for (const v1::Parameter& p : out.parameters())
      continuous |= p.type() == v1::PARAMETER_TYPE_CONTINUOUS;
    if (!continuous) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.gradient_mode: ", v1::GradientMode_Name(out.gradient_mode()),
          " needs a continuous parameter, and every parameter is an integer or "
          "categorical, with no derivative; use GRADIENT_MODE_NONE"));
    }
  }
  RETURN_IF_ERROR(CheckNonNegative("spec.gradient_cost", out.gradient_cost()));
  if (out.gradient_cost() == 0.0) out.set_gradient_cost(1.0);
  RETURN_IF_ERROR(CheckNonNegative("spec.budget", out.budget()));
  RETURN_IF_ERROR(CheckNonNegative("spec.lease_seconds", out.lease_seconds()));
  if (out.lease_seconds() > kMaxLeaseSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.lease_seconds: ", out.lease_seconds(), " is above ", kMaxLeaseSeconds));
  }
  if (out.lease_seconds() == 0.0) out.set_lease_seconds(kDefaultLeaseSeconds);
  if (out.metadata_size() > static_cast<int>(kMaxMetadataEntries)) {
    return absl::InvalidArgumentError(absl::StrCat("spec.metadata: ", out.metadata_size(),
                                                   " entries; at most ",
                                                   kMaxMetadataEntries));
  }
  for (const auto& [key, value] : out.metadata()) {
    if (key.empty() || key.size() > kMaxMetadataKey) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.metadata: key \"", key.substr(0, 64), "\" must have 1 to ",
                       kMaxMetadataKey, " characters"));
    }
    if (value.size() > kMaxMetadataValue) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.metadata[\"", key, "\"]: ", value.size(),
                       " characters; at most ", kMaxMetadataValue));
    }
  }
  // The strategy checks its own name and options.
  RETURN_IF_ERROR(core::MakeStrategy(out.strategy(), ProblemOf(out)).status());
  return out;
}

std::string CanonicalBytes(const google::protobuf::Message& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

absl::StatusOr<core::SearchSpace> SearchSpaceOf(const v1::StudySpec& spec) {
  std::vector<core::ParameterBounds> bounds;
  bounds.reserve(spec.parameters_size());
  for (const v1::Parameter& p : spec.parameters()) {
    core::ParameterBounds b{
        p.name(), p.lower(), p.upper(),
        p.scale() == v1::SCALE_LOG ? core::Scale::kLog : core::Scale::kLinear};
    if (p.type() == v1::PARAMETER_TYPE_INTEGER) b.type = core::ParameterType::kInteger;
    if (p.type() == v1::PARAMETER_TYPE_CATEGORICAL) {
      b.type = core::ParameterType::kCategorical;
    }
    b.choices.assign(p.choices().begin(), p.choices().end());
    bounds.push_back(std::move(b));
  }
  return core::SearchSpace::Create(std::move(bounds));
}

core::Problem ProblemOf(const v1::StudySpec& spec) {
  core::Problem problem;
  absl::StatusOr<core::SearchSpace> space = SearchSpaceOf(spec);
  problem.dimension = space.ok() ? space->unit_dimension() : spec.parameters_size();
  problem.parameters = spec.parameters_size();
  switch (spec.gradient_mode()) {
    case v1::GRADIENT_MODE_ENHANCED:
      problem.gradient_mode = core::GradientMode::kEnhanced;
      break;
    case v1::GRADIENT_MODE_ON_REQUEST:
      problem.gradient_mode = core::GradientMode::kOnRequest;
      break;
    default:
      problem.gradient_mode = core::GradientMode::kNone;
      break;
  }
  problem.gradient_cost = spec.gradient_cost() > 0.0 ? spec.gradient_cost() : 1.0;
  problem.seed = spec.seed();
  problem.options.insert(spec.strategy_options().begin(), spec.strategy_options().end());
  if (space.ok() && space->has_discrete()) {
    problem.gradient_coordinates = space->CoordinatesOf(core::ParameterType::kContinuous);
    problem.integer_coordinates = space->CoordinatesOf(core::ParameterType::kInteger);
    problem.snap = [space = *std::move(space)](const Eigen::VectorXd& u) {
      return space.Snap(u);
    };
  }
  return problem;
}

v1::TrialKind ToProto(core::TrialKind kind) {
  switch (kind) {
    case core::TrialKind::kInitial:
      return v1::TRIAL_KIND_INITIAL;
    case core::TrialKind::kInformed:
      return v1::TRIAL_KIND_INFORMED;
    case core::TrialKind::kGlobal:
      return v1::TRIAL_KIND_GLOBAL;
    case core::TrialKind::kLocal:
      return v1::TRIAL_KIND_LOCAL;
    case core::TrialKind::kGradientAtIncumbent:
      return v1::TRIAL_KIND_GRADIENT_AT_INCUMBENT;
    case core::TrialKind::kImported:
      return v1::TRIAL_KIND_IMPORTED;
  }
  return v1::TRIAL_KIND_UNSPECIFIED;
}

core::TrialKind FromProto(v1::TrialKind kind) {
  switch (kind) {
    case v1::TRIAL_KIND_INFORMED:
      return core::TrialKind::kInformed;
    case v1::TRIAL_KIND_GLOBAL:
      return core::TrialKind::kGlobal;
    case v1::TRIAL_KIND_LOCAL:
      return core::TrialKind::kLocal;
    case v1::TRIAL_KIND_GRADIENT_AT_INCUMBENT:
      return core::TrialKind::kGradientAtIncumbent;
    case v1::TRIAL_KIND_IMPORTED:
      return core::TrialKind::kImported;
    default:
      return core::TrialKind::kInitial;
  }
}

void ToProto(const core::Why& why, v1::TrialWhy* out) {
  out->Clear();
  out->set_winner(why.winner);
  if (why.acquisition_value) out->set_acquisition_value(*why.acquisition_value);
  if (why.acquisition_weight) out->set_acquisition_weight(*why.acquisition_weight);
  if (why.predicted_improvement)
    out->set_predicted_improvement(*why.predicted_improvement);
  if (why.radius) out->set_radius(*why.radius);
  if (why.sequence_index) out->set_sequence_index(*why.sequence_index);
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  const int64_t us = absl::ToUnixMicros(t);
  google::protobuf::Timestamp out;
  int64_t seconds = us / 1000000;
  int64_t rest = us % 1000000;
  if (rest < 0) {
    rest += 1000000;
    seconds -= 1;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(rest * 1000));
  return out;
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

}  // namespace lago::server
