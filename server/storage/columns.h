// How a study's records map to column values, the same in every backend:
// points and gradients are JSON arrays with 17 significant digits (exact for a
// double, and queryable with the database's JSON functions), states and kinds
// are lower-case words, times are microseconds since the Unix epoch.
#ifndef LAGO_SERVER_STORAGE_COLUMNS_H_
#define LAGO_SERVER_STORAGE_COLUMNS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lago/v1/study.pb.h"

namespace lago::storage {

std::string FormatArray(const google::protobuf::RepeatedField<double>& values);
// INTERNAL when `text` is not an array written by FormatArray.
absl::Status ParseArray(absl::string_view text,
                        google::protobuf::RepeatedField<double>* out);

const char* StudyStateText(v1::StudyState s);
v1::StudyState ParseStudyState(const std::string& s);
const char* TrialStateText(v1::TrialState s);
v1::TrialState ParseTrialState(const std::string& s);
const char* TrialKindText(v1::TrialKind kind);
v1::TrialKind ParseTrialKind(const std::string& s);
const char* ParameterTypeText(v1::ParameterType type);
const char* DirectionText(v1::Direction direction);
const char* ScaleText(v1::Scale scale);

int64_t ToMicros(const google::protobuf::Timestamp& t);
void FromMicros(int64_t us, google::protobuf::Timestamp* t);

// The spec's bytes, the same for equal specs (deterministic serialisation).
std::string SpecBytes(const v1::StudySpec& spec);

}  // namespace lago::storage

#endif  // LAGO_SERVER_STORAGE_COLUMNS_H_
