// The gRPC face of StudyService: handlers only translate and log.
#ifndef LAGO_SERVER_GRPC_SERVICE_H_
#define LAGO_SERVER_GRPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "server/auth.h"
#include "server/study_service.h"

namespace lago::server {

// The one place where absl::Status becomes grpc::Status.
grpc::Status ToGrpcStatus(const absl::Status& status);

// A service answering through `service`; while `*shutting_down` is true every
// call gets UNAVAILABLE. With `tokens`, every call must carry a token of a
// role that may make it (see server/auth.h). All must outlive the returned
// object; `tokens` may be null (no authentication).
std::unique_ptr<grpc::Service> MakeGrpcService(StudyService* service,
                                               const std::atomic<bool>* shutting_down,
                                               const TokenTable* tokens = nullptr);

}  // namespace lago::server

#endif  // LAGO_SERVER_GRPC_SERVICE_H_
