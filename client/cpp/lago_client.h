// C++ client of the Lago service. Every call has a deadline; calls that are
// safe to repeat are retried on UNAVAILABLE with exponential backoff. Suggest
// and Observe attach a fresh request id, so their retries are idempotent.
//
// Thread safety: a Client may be shared by threads.
#ifndef LAGO_CLIENT_CPP_LAGO_CLIENT_H_
#define LAGO_CLIENT_CPP_LAGO_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lago/v1/lago_service.pb.h"

namespace lago::client {

struct ClientOptions {
  // Deadline of each attempt.
  absl::Duration deadline = absl::Seconds(30);
  // Attempts for a call that is safe to repeat, >= 1.
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  int max_message_bytes = 16 << 20;
  // Bearer token sent with every call; empty: none.
  std::string token;
  // TLS: the PEM of the CA that signed the server's certificate; empty means
  // plaintext. A client certificate and key (PEM) when the server asks for one.
  std::string tls_root_certs;
  std::string tls_client_cert;
  std::string tls_client_key;
};

// A random 128-bit request id in hex.
std::string NewRequestId();

class Client {
 public:
  // Connects lazily: an unreachable server shows as UNAVAILABLE on the first call.
  static std::unique_ptr<Client> Create(const std::string& address,
                                        ClientOptions options = {});
  ~Client();

  // One method per RPC, taking the full request.
  absl::StatusOr<v1::CreateStudyResponse> CreateStudy(
      const v1::CreateStudyRequest& request);
  absl::StatusOr<v1::GetStudyResponse> GetStudy(const v1::GetStudyRequest& request);
  absl::StatusOr<v1::ListStudiesResponse> ListStudies(
      const v1::ListStudiesRequest& request);
  absl::StatusOr<v1::DeleteStudyResponse> DeleteStudy(
      const v1::DeleteStudyRequest& request);
  absl::StatusOr<v1::StopStudyResponse> StopStudy(const v1::StopStudyRequest& request);
  absl::StatusOr<v1::SuggestTrialsResponse> SuggestTrials(
      const v1::SuggestTrialsRequest& request);
  absl::StatusOr<v1::ObserveTrialResponse> ObserveTrial(
      const v1::ObserveTrialRequest& request);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  absl::StatusOr<v1::AbandonTrialResponse> AbandonTrial(
      const v1::AbandonTrialRequest& request);
  absl::StatusOr<v1::ListTrialsResponse> ListTrials(const v1::ListTrialsRequest& request);
  absl::StatusOr<v1::GetBestResponse> GetBest(const v1::GetBestRequest& request);
  absl::StatusOr<v1::AddObservationsResponse> AddObservations(
      const v1::AddObservationsRequest& request);
  absl::StatusOr<v1::PredictResponse> Predict(const v1::PredictRequest& request);

  // Conveniences in the shape of the Python client.
  absl::StatusOr<v1::Study> CreateStudy(const std::string& name,
                                        const v1::StudySpec& spec);
  // `count` trials for `client_id` (empty: anonymous).
  absl::StatusOr<std::vector<v1::Trial>> Suggest(const std::string& study, int count = 1,
                                                 const std::string& client_id = "");
  // `gradient` empty when there is none.
  absl::StatusOr<v1::Trial> Observe(const std::string& study, int64_t trial_id,
                                    double value,
                                    const std::vector<double>& gradient = {});
  // Every trial, across pages.
  absl::StatusOr<std::vector<v1::Trial>> AllTrials(const std::string& study);
  // nullopt before the first completed trial.
  absl::StatusOr<std::optional<v1::Trial>> Best(const std::string& study);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lago::client

#endif  // LAGO_CLIENT_CPP_LAGO_CLIENT_H_
