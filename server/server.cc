#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/resource_quota.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "server/auth.h"
#include "server/grpc_service.h"
#include "server/logging.h"

namespace lago::server {

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not PEM"));
  }
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerOptions& options) {
  const bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (!tls) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca: client certificates need TLS (--tls-cert and --tls-key)");
    }
    if (!options.allow_insecure && !IsLoopbackAddress(options.listen_address)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--listen: ", options.listen_address,
          " can be reached from other machines; serve it with TLS (--tls-cert and "
          "--tls-key) or pass --allow-insecure on a network you trust"));
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, ReadPem(options.tls_cert_file, "--tls-cert"));
  ASSIGN_OR_RETURN(pair.private_key, ReadPem(options.tls_key_file, "--tls-key"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs,
                     ReadPem(options.tls_client_ca_file, "--tls-client-ca"));
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

struct Server::Impl {
  std::unique_ptr<TokenTable> tokens;
  std::string security;
  std::string store_description;
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
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   Credentials(options));
  std::unique_ptr<TokenTable> tokens;
  if (!options.token_file.empty()) {
    ASSIGN_OR_RETURN(TokenTable table, TokenTable::Load(options.token_file));
    tokens = std::make_unique<TokenTable>(std::move(table));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<storage::StudyStore> store,
                   storage::OpenStore(options.db_path, options.busy_timeout_ms));
  auto impl = std::make_unique<Impl>();
  impl->store_description = store->Description();
  impl->tokens = std::move(tokens);
  impl->security = absl::StrCat(
      options.tls_cert_file.empty() ? "plaintext" : "TLS",
      options.tls_client_ca_file.empty() ? "" : " with client certificates", ", ",
      impl->tokens == nullptr ? "no tokens"
                              : absl::StrCat(impl->tokens->size(), " tokens"));
  impl->service = std::make_unique<StudyService>(std::move(store), options.service);
  impl->grpc_service =
      MakeGrpcService(impl->service.get(), &impl->shutting_down, impl->tokens.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, credentials, &impl->port);
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

std::string Server::SecuritySummary() const { return impl_->security; }

std::string Server::StoreDescription() const { return impl_->store_description; }

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
