// A small text format for strategy state: one "key value ..." line per field.
// Doubles are written with 17 significant digits, so a state read back is bit
// for bit the state written: a restarted server continues the same run.
#ifndef LAGO_CORE_STATE_CODEC_H_
#define LAGO_CORE_STATE_CODEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"

namespace lago::core {

class StateWriter {
 public:
  void Put(const std::string& key, double value);
  void PutInt(const std::string& key, int64_t value);
  void PutVector(const std::string& key, const Eigen::VectorXd& value);
  void PutMatrix(const std::string& key, const Eigen::MatrixXd& value);
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

class StateReader {
 public:
  // INVALID_ARGUMENT when a line is malformed.
  static absl::StatusOr<StateReader> Parse(const std::string& text);

  bool Has(const std::string& key) const { return fields_.count(key) > 0; }
  // INVALID_ARGUMENT naming the key when it is missing or malformed.
  absl::StatusOr<double> Get(const std::string& key) const;
  absl::StatusOr<int64_t> GetInt(const std::string& key) const;
  absl::StatusOr<Eigen::VectorXd> GetVector(const std::string& key) const;
  absl::StatusOr<Eigen::MatrixXd> GetMatrix(const std::string& key) const;

 private:
  std::map<std::string, std::vector<std::string>> fields_;
};

}  // namespace lago::core

#endif  // LAGO_CORE_STATE_CODEC_H_
