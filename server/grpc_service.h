// The gRPC face of StudyService: handlers only translate and log.
#ifndef LAGO_SERVER_GRPC_SERVICE_H_
#define LAGO_SERVER_GRPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "server/study_service.h"

namespace lago::server {

// The one place where absl::Status becomes grpc::Status.
grpc::Status ToGrpcStatus(const absl::Status& status);

// A service answering through `service`; while `*shutting_down` is true every
// call gets UNAVAILABLE. Both must outlive the returned object.
std::unique_ptr<grpc::Service> MakeGrpcService(StudyService* service,
                                               const std::atomic<bool>* shutting_down);

}  // namespace lago::server

#endif  // LAGO_SERVER_GRPC_SERVICE_H_
