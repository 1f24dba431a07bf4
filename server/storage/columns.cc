#include "server/storage/columns.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace lago::storage {
namespace {

struct KindName {
  v1::TrialKind kind;
  const char* text;
};
constexpr KindName kKindNames[] = {
    {v1::TRIAL_KIND_INITIAL, "initial"},
    {v1::TRIAL_KIND_INFORMED, "informed"},
    {v1::TRIAL_KIND_GLOBAL, "global"},
    {v1::TRIAL_KIND_LOCAL, "local"},
    {v1::TRIAL_KIND_GRADIENT_AT_INCUMBENT, "gradient_at_incumbent"},
    {v1::TRIAL_KIND_IMPORTED, "imported"},
};

}  // namespace

std::string FormatArray(const google::protobuf::RepeatedField<double>& values) {
  std::string out = "[";
  for (int i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppendFormat(&out, "%.17g", values[i]);
  }
  out += "]";
  return out;
}

absl::Status ParseArray(absl::string_view text,
                        google::protobuf::RepeatedField<double>* out) {
  out->Clear();
  if (!absl::ConsumePrefix(&text, "[") || !absl::ConsumeSuffix(&text, "]")) {
    return absl::InternalError("stored array is not a JSON array");
  }
  if (text.empty()) return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    double v = 0.0;
    if (!absl::SimpleAtod(part, &v))
      return absl::InternalError("stored array has a bad number");
    out->Add(v);
  }
  return absl::OkStatus();
}

const char* StudyStateText(v1::StudyState s) {
  switch (s) {
    case v1::STUDY_STATE_DONE:
      return "done";
    case v1::STUDY_STATE_STOPPED:
      return "stopped";
    default:
      return "active";
  }
}

v1::StudyState ParseStudyState(const std::string& s) {
  if (s == "done") return v1::STUDY_STATE_DONE;
  if (s == "stopped") return v1::STUDY_STATE_STOPPED;
  return v1::STUDY_STATE_ACTIVE;
}

const char* TrialStateText(v1::TrialState s) {
  switch (s) {
    case v1::TRIAL_STATE_COMPLETED:
      return "completed";
    case v1::TRIAL_STATE_FAILED:
      return "failed";
    case v1::TRIAL_STATE_ABANDONED:
      return "abandoned";
    default:
      return "pending";
  }
}

v1::TrialState ParseTrialState(const std::string& s) {
  if (s == "completed") return v1::TRIAL_STATE_COMPLETED;
  if (s == "failed") return v1::TRIAL_STATE_FAILED;
  if (s == "abandoned") return v1::TRIAL_STATE_ABANDONED;
  return v1::TRIAL_STATE_PENDING;
}

const char* TrialKindText(v1::TrialKind kind) {
  for (const KindName& k : kKindNames) {
    if (k.kind == kind) return k.text;
  }
  return "unspecified";
}

v1::TrialKind ParseTrialKind(const std::string& s) {
  for (const KindName& k : kKindNames) {
    if (s == k.text) return k.kind;
  }
  return v1::TRIAL_KIND_UNSPECIFIED;
}

int64_t ToMicros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

void FromMicros(int64_t us, google::protobuf::Timestamp* t) {
  int64_t seconds = us / 1000000;
  int64_t rest = us % 1000000;
  if (rest < 0) {
    rest += 1000000;
    seconds -= 1;
  }
  t->set_seconds(seconds);
  t->set_nanos(static_cast<int32_t>(rest * 1000));
}

const char* ParameterTypeText(v1::ParameterType type) {
  switch (type) {
    case v1::PARAMETER_TYPE_INTEGER:
      return "integer";
    case v1::PARAMETER_TYPE_CATEGORICAL:
      return "categorical";
    default:
      return "continuous";
  }
}

const char* DirectionText(v1::Direction direction) {
  return direction == v1::DIRECTION_MAXIMIZE ? "maximize" : "minimize";
}

const char* ScaleText(v1::Scale scale) {
  return scale == v1::SCALE_LOG ? "log" : "linear";
}

std::string SpecBytes(const v1::StudySpec& spec) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    spec.SerializeToCodedStream(&coded);
  }
  return bytes;
}

}  // namespace lago::storage
