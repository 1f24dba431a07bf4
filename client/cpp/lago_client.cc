#include "client/cpp/lago_client.h"

#include <grpcpp/grpcpp.h>

#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "lago/v1/lago_service.grpc.pb.h"

namespace lago::client {
namespace {

absl::Status ToAbsl(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

// UNAVAILABLE (restarting, busy database), and a server whose threads are all
// busy: gRPC answers RESOURCE_EXHAUSTED "Server Threadpool Exhausted" before
// the call reaches the service, so nothing happened and a retry is safe.
bool Retryable(const absl::Status& status) {
  return absl::IsUnavailable(status) ||
         (absl::IsResourceExhausted(status) &&
          absl::StrContains(status.message(), "Threadpool Exhausted"));
}

}  // namespace

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("%016x%016x", rng(), rng());
}

struct Client::Impl {
  ClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Lago::Stub> stub;

  // Calls `method` with a deadline per attempt, retrying UNAVAILABLE when
  // `retryable`.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::Lago::Stub::*method)(
                                    grpc::ClientContext*, const Request&, Response*),
                                const Request& request, bool retryable) {
    absl::Duration backoff = options.initial_backoff;
    const int attempts = retryable ? std::max(options.max_attempts, 1) : 1;
    absl::Status last;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           absl::ToChronoMicroseconds(options.deadline));
      if (!options.token.empty()) {
        context.AddMetadata("authorization", "Bearer " + options.token);
      }
      Response response;
      last = ToAbsl((stub.get()->*method)(&context, request, &response));
      if (last.ok()) return response;
      if (!Retryable(last) || attempt == attempts) break;
      std::this_thread::sleep_for(absl::ToChronoMicroseconds(backoff));
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
    return last;
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::unique_ptr<Client> Client::Create(const std::string& address,
                                       ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_root_certs.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_certs;
    ssl.pem_cert_chain = options.tls_client_cert;
    ssl.pem_private_key = options.tls_client_key;
    credentials = grpc::SslCredentials(ssl);
  }
  impl->channel = grpc::CreateCustomChannel(address, credentials, args);
  impl->stub = v1::Lago::NewStub(impl->channel);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

// Retry policy per RPC: reads and idempotent writes always; suggest, observe
// and import only with a request id, which makes them idempotent.
absl::StatusOr<v1::CreateStudyResponse> Client::CreateStudy(
    const v1::CreateStudyRequest& r) {
  return impl_->Call(&v1::Lago::Stub::CreateStudy, r, true);
}
absl::StatusOr<v1::GetStudyResponse> Client::GetStudy(const v1::GetStudyRequest& r) {
  return impl_->Call(&v1::Lago::Stub::GetStudy, r, true);
}
absl::StatusOr<v1::ListStudiesResponse> Client::ListStudies(
    const v1::ListStudiesRequest& r) {
  return impl_->Call(&v1::Lago::Stub::ListStudies, r, true);
}
absl::StatusOr<v1::DeleteStudyResponse> Client::DeleteStudy(
    const v1::DeleteStudyRequest& r) {
  return impl_->Call(&v1::Lago::Stub::DeleteStudy, r, false);
}
absl::StatusOr<v1::StopStudyResponse> Client::StopStudy(const v1::StopStudyRequest& r) {
  return impl_->Call(&v1::Lago::Stub::StopStudy, r, true);
}
absl::StatusOr<v1::SuggestTrialsResponse> Client::SuggestTrials(
    const v1::SuggestTrialsRequest& r) {
  return impl_->Call(&v1::Lago::Stub::SuggestTrials, r, !r.request_id().empty());
}
absl::StatusOr<v1::ObserveTrialResponse> Client::ObserveTrial(
    const v1::ObserveTrialRequest& r) {
  return impl_->Call(&v1::Lago::Stub::ObserveTrial, r, !r.request_id().empty());
}
absl::StatusOr<v1::HeartbeatResponse> Client::Heartbeat(const v1::HeartbeatRequest& r) {
  return impl_->Call(&v1::Lago::Stub::Heartbeat, r, true);
}
absl::StatusOr<v1::AbandonTrialResponse> Client::AbandonTrial(
    const v1::AbandonTrialRequest& r) {
  return impl_->Call(&v1::Lago::Stub::AbandonTrial, r, true);
}
absl::StatusOr<v1::ListTrialsResponse> Client::ListTrials(
    const v1::ListTrialsRequest& r) {
  return impl_->Call(&v1::Lago::Stub::ListTrials, r, true);
}
absl::StatusOr<v1::GetBestResponse> Client::GetBest(const v1::GetBestRequest& r) {
  return impl_->Call(&v1::Lago::Stub::GetBest, r, true);
}
absl::StatusOr<v1::AddObservationsResponse> Client::AddObservations(
    const v1::AddObservationsRequest& r) {
  return impl_->Call(&v1::Lago::Stub::AddObservations, r, !r.request_id().empty());
}
absl::StatusOr<v1::PredictResponse> Client::Predict(const v1::PredictRequest& r) {
  return impl_->Call(&v1::Lago::Stub::Predict, r, true);
}

absl::StatusOr<v1::Study> Client::CreateStudy(const std::string& name,
                                              const v1::StudySpec& spec) {
  v1::CreateStudyRequest request;
  request.set_name(name);
  *request.mutable_spec() = spec;
  auto response = CreateStudy(request);
  if (!response.ok()) return response.status();
  return response->study();
}

absl::StatusOr<std::vector<v1::Trial>> Client::Suggest(const std::string& study,
                                                       int count,
                                                       const std::string& client_id) {
  v1::SuggestTrialsRequest request;
  request.set_study(study);
  request.set_count(count);
  request.set_client_id(client_id);
  request.set_request_id(NewRequestId());
  auto response = SuggestTrials(request);
  if (!response.ok()) return response.status();
  return std::vector<v1::Trial>(response->trials().begin(), response->trials().end());
}

absl::StatusOr<v1::Trial> Client::Observe(const std::string& study, int64_t trial_id,
                                          double value,
                                          const std::vector<double>& gradient) {
  v1::ObserveTrialRequest request;
  request.set_study(study);
  request.set_trial_id(trial_id);
  request.set_value(value);
  for (double g : gradient) request.add_gradient(g);
  request.set_request_id(NewRequestId());
  auto response = ObserveTrial(request);
  if (!response.ok()) return response.status();
  return response->trial();
}

absl::StatusOr<std::vector<v1::Trial>> Client::AllTrials(const std::string& study) {
  std::vector<v1::Trial> out;
  v1::ListTrialsRequest request;
  request.set_study(study);
  request.set_page_size(1000);
  do {
    auto response = ListTrials(request);
    if (!response.ok()) return response.status();
    out.insert(out.end(), response->trials().begin(), response->trials().end());
    request.set_page_token(response->next_page_token());
  } while (!request.page_token().empty());
  return out;
}

absl::StatusOr<std::optional<v1::Trial>> Client::Best(const std::string& study) {
  v1::GetBestRequest request;
  request.set_study(study);
  auto response = GetBest(request);
  if (!response.ok()) return response.status();
  if (!response->has_best()) return std::optional<v1::Trial>();
  return std::optional<v1::Trial>(response->best());
}

}  // namespace lago::client
