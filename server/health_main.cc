// lago-health: asks a lago-server's grpc.health.v1 service whether it is
// serving. Exit 0 when SERVING, 1 otherwise (not serving, unreachable, or
// past the deadline). For container health checks and Kubernetes exec probes.
//
//   lago-health [--address=HOST:PORT] [--tls-ca=PEM] [--timeout=SECONDS]
//
// Defaults come from LAGO_HEALTH_ADDRESS (else LAGO_LISTEN with 0.0.0.0 or
// [::] read as loopback, else 127.0.0.1:50051) and LAGO_TLS_CA.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// The address to probe: the server's own listen address, with a wildcard
// host replaced by loopback.
std::string DefaultAddress() {
  std::string address = Env("LAGO_HEALTH_ADDRESS");
  if (!address.empty()) return address;
  address = Env("LAGO_LISTEN");
  if (address.empty()) return "127.0.0.1:50051";
  for (const char* wildcard : {"0.0.0.0:", "[::]:"}) {
    if (absl::StartsWith(address, wildcard)) {
      return absl::StrCat("127.0.0.1:", address.substr(std::string(wildcard).size()));
    }
  }
  return address;
}

// grpc.health.v1.HealthCheckRequest{service: ""} is empty; the response is
// field 1 (status), a varint: 1 is SERVING. Written by hand to need no
// generated health code.
int Probe(const std::string& address, const std::string& ca_file, double timeout) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (!ca_file.empty()) {
    std::ifstream in(ca_file);
    if (!in) {
      std::fprintf(stderr, "lago-health: --tls-ca: cannot read %s\n", ca_file.c_str());
      return 1;
    }
    std::stringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(ssl);
  }
  auto channel = grpc::CreateChannel(address, credentials);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
  grpc::ByteBuffer request, response;
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  if (!status.ok()) {
    std::fprintf(stderr, "lago-health: %s: %s\n", address.c_str(),
                 status.error_message().c_str());
    return 1;
  }
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  const bool serving = bytes.size() >= 2 && bytes[0] == 0x08 && bytes[1] == 0x01;
  std::printf("%s: %s\n", address.c_str(), serving ? "SERVING" : "NOT_SERVING");
  return serving ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = DefaultAddress();
  std::string ca = Env("LAGO_TLS_CA");
  double timeout = 3.0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--address=")) {
      address = arg.substr(10);
    } else if (absl::StartsWith(arg, "--tls-ca=")) {
      ca = arg.substr(9);
    } else if (absl::StartsWith(arg, "--timeout=")) {
      if (!absl::SimpleAtod(arg.substr(10), &timeout) || !(timeout > 0)) {
        std::fprintf(stderr,
                     "lago-health: --timeout: \"%s\" is not a number of seconds > 0\n",
                     arg.substr(10).c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: lago-health [--address=HOST:PORT] [--tls-ca=PEM] "
                   "[--timeout=SECONDS]\n");
      return 2;
    }
  }
  return Probe(address, ca, timeout);
}
