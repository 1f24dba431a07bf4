// The lago-server process core: a gRPC server for the Lago service over one
// study store. No gRPC type appears here.
#ifndef LAGO_SERVER_SERVER_H_
#define LAGO_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/study_service.h"

namespace lago::server {

struct ServerOptions {
  // host:port; port 0 picks a free port (see Server::port()).
  std::string listen_address = "127.0.0.1:50051";
  // SQLite database file, created with its tables when missing, or a
  // PostgreSQL URI (postgresql://...), whose database must exist; Lago creates
  // its tables in it.
  std::string db_path = "data/lago.db";
  // Largest request or response in bytes; a larger one gets RESOURCE_EXHAUSTED.
  int max_message_bytes = 16 << 20;
  // Upper bound on threads serving RPCs (a gRPC resource quota). A call that
  // finds them all busy gets RESOURCE_EXHAUSTED "Server Threadpool Exhausted".
  int max_threads = 256;
  // How long a write waits for a database lock held by another process before
  // the call fails with UNAVAILABLE.
  int busy_timeout_ms = 5000;
  // TLS: PEM files of the server's certificate chain and key (both or
  // neither). With `tls_client_ca_file`, clients must present a certificate
  // signed by that CA.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Bearer tokens with roles (server/auth.h); empty: no authentication.
  std::string token_file;
  // Plaintext is refused on an address other machines can reach unless this
  // is set.
  bool allow_insecure = false;
  StudyServiceOptions service;
};

class Server {
 public:
  // Opens the store and starts serving. FAILED_PRECONDITION when the database
  // cannot be opened or fails its integrity check, or when plaintext would be
  // served beyond loopback without allow_insecure; NOT_FOUND or
  // INVALID_ARGUMENT for an unreadable or malformed TLS or tokens file;
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  // The bound port.
  int port() const;
  // Health goes NOT_SERVING, new calls get UNAVAILABLE, calls in flight get
  // until `grace` to finish and are cancelled after it. Idempotent.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown has completed.
  void Wait();
  // What the server does about security, for the start-up log line (never a
  // secret): "TLS, 3 tokens" and the like.
  std::string SecuritySummary() const;
  // The study store, for the start-up log line (never a password).
  std::string StoreDescription() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lago::server

#endif  // LAGO_SERVER_SERVER_H_
