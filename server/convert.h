// Where proto and core types meet: the only file that knows both.
#ifndef LAGO_SERVER_CONVERT_H_
#define LAGO_SERVER_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/search_space.h"
#include "core/strategy.h"
#include "google/protobuf/timestamp.pb.h"
#include "lago/v1/study.pb.h"

namespace lago::server {

// Defaults of a normalised spec.
inline constexpr char kDefaultStrategy[] = "lago";
inline constexpr double kDefaultLeaseSeconds = 3600.0;

// Checks `spec` and fills in its defaults. INVALID_ARGUMENT naming the field
// ("spec.budget", "spec.parameters[2].lower", ...) and its value.
absl::StatusOr<v1::StudySpec> NormalizeSpec(const v1::StudySpec& spec);

// Deterministic bytes of a normalised spec: equal specs give equal bytes.
std::string CanonicalBytes(const google::protobuf::Message& message);

// Precondition: `spec` is normalised.
absl::StatusOr<core::SearchSpace> SearchSpaceOf(const v1::StudySpec& spec);
core::Problem ProblemOf(const v1::StudySpec& spec);

v1::TrialKind ToProto(core::TrialKind kind);
// TRIAL_KIND_UNSPECIFIED reads as kInitial.
core::TrialKind FromProto(v1::TrialKind kind);
void ToProto(const core::Why& why, v1::TrialWhy* out);

google::protobuf::Timestamp ToTimestamp(absl::Time t);
absl::Time FromTimestamp(const google::protobuf::Timestamp& t);
int64_t ToMicros(absl::Time t);

// The value in the minimisation sense the strategies work in.
inline double ToMinimization(const v1::StudySpec& spec, double value) {
  return spec.direction() == v1::DIRECTION_MAXIMIZE ? -value : value;
}

}  // namespace lago::server

#endif  // LAGO_SERVER_CONVERT_H_
