#include "core/state_codec.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace lago::core {
namespace {

absl::Status Bad(const std::string& key) {
  return absl::InvalidArgumentError(
      absl::StrCat("strategy state: field \"", key, "\" is missing or malformed"));
}

}  // namespace

void StateWriter::Put(const std::string& key, double value) {
  absl::StrAppendFormat(&text_, "%s %.17g\n", key, value);
}

void StateWriter::PutInt(const std::string& key, int64_t value) {
  absl::StrAppend(&text_, key, " ", value, "\n");
}

void StateWriter::PutVector(const std::string& key, const Eigen::VectorXd& value) {
  absl::StrAppend(&text_, key, " ", value.size());
  for (int i = 0; i < value.size(); ++i)
    absl::StrAppendFormat(&text_, " %.17g", value[i]);
  text_ += "\n";
}

void StateWriter::PutMatrix(const std::string& key, const Eigen::MatrixXd& value) {
  absl::StrAppend(&text_, key, " ", value.rows(), " ", value.cols());
  for (int j = 0; j < value.cols(); ++j) {
    for (int i = 0; i < value.rows(); ++i)
      absl::StrAppendFormat(&text_, " %.17g", value(i, j));
  }
  text_ += "\n";
}

absl::StatusOr<StateReader> StateReader::Parse(const std::string& text) {
  StateReader reader;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategy state: line \"", line.substr(0, 40), "\" has no value"));
    }
    std::string key = parts.front();
    parts.erase(parts.begin());
    reader.fields_[key] = std::move(parts);
  }
  return reader;
}

absl::StatusOr<double> StateReader::Get(const std::string& key) const {
  auto it = fields_.find(key);
  double v = 0.0;
  if (it == fields_.end() || it->second.size() != 1 ||
      !absl::SimpleAtod(it->second[0], &v)) {
    return Bad(key);
  }
  return v;
}

absl::StatusOr<int64_t> StateReader::GetInt(const std::string& key) const {
  auto it = fields_.find(key);
  int64_t v = 0;
  if (it == fields_.end() || it->second.size() != 1 ||
      !absl::SimpleAtoi(it->second[0], &v)) {
    return Bad(key);
  }
  return v;
}

absl::StatusOr<Eigen::VectorXd> StateReader::GetVector(const std::string& key) const {
  auto it = fields_.find(key);
  int64_t n = 0;
  if (it == fields_.end() || !absl::SimpleAtoi(it->second[0], &n) || n < 0 ||
      it->second.size() != static_cast<size_t>(n + 1)) {
    return Bad(key);
  }
  Eigen::VectorXd v(n);
  for (int64_t i = 0; i < n; ++i) {
    if (!absl::SimpleAtod(it->second[i + 1], &v[i])) return Bad(key);
  }
  return v;
}

absl::StatusOr<Eigen::MatrixXd> StateReader::GetMatrix(const std::string& key) const {
  auto it = fields_.find(key);
  int64_t rows = 0, cols = 0;
  if (it == fields_.end() || it->second.size() < 2 ||
      !absl::SimpleAtoi(it->second[0], &rows) ||
      !absl::SimpleAtoi(it->second[1], &cols) || rows < 0 || cols < 0 ||
      it->second.size() != static_cast<size_t>(rows * cols + 2)) {
    return Bad(key);
  }
  Eigen::MatrixXd m(rows, cols);
  for (int64_t j = 0; j < cols; ++j) {
    for (int64_t i = 0; i < rows; ++i) {
      if (!absl::SimpleAtod(it->second[2 + j * rows + i], &m(i, j))) return Bad(key);
    }
  }
  return m;
}

}  // namespace lago::core
