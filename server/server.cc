#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/resource_quota.h>

#include <atomic>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "server/grpc_service.h"
#include "server/logging.h"

namespace lago::server {

struct Server::Impl {
  std::unique_ptr<StudyService> service;
  std::atomic<bool> shutting_down{false};
  std::unique_ptr<grpc::Service> grpc_service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::once_flag shutdown_once;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  Wait();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  storage::SqliteOptions sqlite_options;
  sqlite_options.busy_timeout_ms = options.busy_timeout_ms;
  ASSIGN_OR_RETURN(std::unique_ptr<storage::StudyStore> store,
                   storage::OpenSqliteStore(options.db_path, sqlite_options));
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<StudyService>(std::move(store), options.service);
  impl->grpc_service = MakeGrpcService(impl->service.get(), &impl->shutting_down);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Plaintext for now; the address decides who can reach it.
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(),
                           &impl->port);
  builder.RegisterService(impl->grpc_service.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  grpc::ResourceQuota quota("lago-server");
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ",
                                               options.listen_address,
                                               ": the address is invalid or in use"));
  }
  grpc::HealthCheckServiceInterface* health = impl->server->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus("lago.v1.Lago", true);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

void Server::Shutdown(absl::Duration grace) {
  std::call_once(impl_->shutdown_once, [&] {
    impl_->shutting_down = true;
    impl_->server->GetHealthCheckService()->SetServingStatus(false);
    impl_->server->Shutdown(std::chrono::system_clock::now() +
                            absl::ToChronoMicroseconds(grace));
  });
}

void Server::Wait() { impl_->server->Wait(); }

}  // namespace lago::server
