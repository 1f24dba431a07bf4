#include "server/grpc_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lago/v1/lago_service.grpc.pb.h"
#include "server/logging.h"

namespace lago::server {
namespace {

// What one log line says about a request: the study and the trial.
template <typename Request>
std::string StudyOf(const Request& r) {
  if constexpr (std::is_same_v<Request, v1::CreateStudyRequest> ||
                std::is_same_v<Request, v1::GetStudyRequest> ||
                std::is_same_v<Request, v1::DeleteStudyRequest> ||
                std::is_same_v<Request, v1::StopStudyRequest>) {
    return r.name();
  } else if constexpr (std::is_same_v<Request, v1::ListStudiesRequest>) {
    return "-";
  } else {
    return r.study();
  }
}

template <typename Request, typename Response>
std::string TrialsOf(const Request& request, const Response& response) {
  if constexpr (std::is_same_v<Request, v1::ObserveTrialRequest> ||
                std::is_same_v<Request, v1::HeartbeatRequest> ||
                std::is_same_v<Request, v1::AbandonTrialRequest>) {
    return absl::StrCat(request.trial_id());
  } else if constexpr (std::is_same_v<Response, v1::SuggestTrialsResponse> ||
                       std::is_same_v<Response, v1::AddObservationsResponse>) {
    if (response.trials().empty()) return "-";
    std::string out = absl::StrCat(response.trials(0).id());
    if (response.trials_size() > 1) {
      absl::StrAppend(&out, "..", response.trials(response.trials_size() - 1).id());
    }
    return out;
  } else {
    return "-";
  }
}

// The calls that change a study: a read-only token may not make them.
bool ChangesData(absl::string_view method) {
  return method != "GetStudy" && method != "ListStudies" && method != "ListTrials" &&
         method != "GetBest" && method != "Predict";
}

class LagoGrpcService final : public v1::Lago::Service {
 public:
  LagoGrpcService(StudyService* service, const std::atomic<bool>* shutting_down,
                  const TokenTable* tokens)
      : service_(service), shutting_down_(shutting_down), tokens_(tokens) {}

#define LAGO_HANDLER(Method)                                                             \
  grpc::Status Method(grpc::ServerContext* context, const v1::Method##Request* request,  \
                      v1::Method##Response* response) override {                         \
    return Handle(#Method, context, *request, response,                                  \
                  [this](const v1::Method##Request& r) { return service_->Method(r); }); \
  }

  LAGO_HANDLER(CreateStudy)
  LAGO_HANDLER(GetStudy)
  LAGO_HANDLER(ListStudies)
  LAGO_HANDLER(DeleteStudy)
  LAGO_HANDLER(StopStudy)
  grpc::Status SuggestTrials(grpc::ServerContext* context,
                             const v1::SuggestTrialsRequest* request,
                             v1::SuggestTrialsResponse* response) override {
    return Handle("SuggestTrials", context, *request, response,
                  [this, context](const v1::SuggestTrialsRequest& r) {
                    return service_->SuggestTrials(
                        r, [context] { return context->IsCancelled(); });
                  });
  }
  LAGO_HANDLER(ObserveTrial)
  LAGO_HANDLER(Heartbeat)
  LAGO_HANDLER(AbandonTrial)
  LAGO_HANDLER(ListTrials)
  LAGO_HANDLER(GetBest)
  LAGO_HANDLER(AddObservations)
  LAGO_HANDLER(Predict)
#undef LAGO_HANDLER

 private:
  template <typename Request, typename Response, typename Fn>
  grpc::Status Handle(const char* method, grpc::ServerContext* context,
                      const Request& request, Response* response, Fn fn) {
    const absl::Time start = absl::Now();
    absl::Status status;
    if (tokens_ != nullptr) {
      const auto& metadata = context->client_metadata();
      const auto it = metadata.find("authorization");
      const absl::string_view authorization =
          it == metadata.end() ? absl::string_view()
                               : absl::string_view(it->second.data(), it->second.size());
      status = Authorize(*tokens_, authorization, method, ChangesData(method));
    }
    if (!status.ok()) {
      // Refused before it reached the service; the token is not logged.
    } else if (shutting_down_->load()) {
      status =
          absl::UnavailableError("the server is shutting down; retry elsewhere or later");
    } else if (context->IsCancelled()) {
      status = absl::CancelledError("the call was cancelled before it started");
    } else {
      auto result = fn(request);
      if (result.ok()) {
        *response = *std::move(result);
      } else {
        status = result.status();
      }
    }
    const LogLevel level =
        status.ok() || !absl::IsInternal(status) ? LogLevel::kInfo : LogLevel::kError;
    if (LogEnabled(level)) {
      Log(level,
          absl::StrCat(
              "rpc=", method, " study=", StudyOf(request),
              " trial=", TrialsOf(request, *response),
              " code=", absl::StatusCodeToString(status.code()),
              " latency_ms=", absl::ToDoubleMilliseconds(absl::Now() - start),
              status.ok() ? "" : absl::StrCat(" error=\"", status.message(), "\"")));
    }
    return ToGrpcStatus(status);
  }

  StudyService* service_;
  const std::atomic<bool>* shutting_down_;
  const TokenTable* tokens_;
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

std::unique_ptr<grpc::Service> MakeGrpcService(StudyService* service,
                                               const std::atomic<bool>* shutting_down,
                                               const TokenTable* tokens) {
  return std::make_unique<LagoGrpcService>(service, shutting_down, tokens);
}

}  // namespace lago::server
