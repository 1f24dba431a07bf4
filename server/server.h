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
  // SQLite database file; created with its tables when missing.
  std::string db_path = "data/lago.db";
  // Largest request or response in bytes; a larger one gets RESOURCE_EXHAUSTED.
  int max_message_bytes = 16 << 20;
  // Upper bound on threads serving RPCs.
  int max_threads = 64;
  // How long a write waits for a database lock held by another process before
  // the call fails with UNAVAILABLE.
  int busy_timeout_ms = 5000;
  StudyServiceOptions service;
};

class Server {
 public:
  // Opens the store and starts serving. FAILED_PRECONDITION when the database
  // cannot be opened or fails its integrity check; UNAVAILABLE when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  // The bound port.
  int port() const;
  // Health goes NOT_SERVING, new calls get UNAVAILABLE, calls in flight get
  // until `grace` to finish and are cancelled after it. Idempotent.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown has completed.
  void Wait();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lago::server

#endif  // LAGO_SERVER_SERVER_H_
