// lago-server: flags -> start -> wait for SIGTERM or SIGINT -> graceful stop.
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/blas_threads.h"
#include "core/lago_strategy.h"
#include "server/logging.h"
#include "server/server.h"
#include "server/storage/study_store.h"

#if defined(EIGEN_USE_BLAS)
extern "C" char* openblas_get_corename(void);
#endif

namespace {

// OpenBLAS chooses its kernels from the CPU model when it loads. On virtual
// CPUs it does not recognise (a generic "Intel Xeon Processor" model) it falls
// back to its oldest kernels, which bench/gp measured 2-4x slower than its
// AVX-512 ones on such a machine. When that happens and the CPU has AVX-512
// (or AVX2 and FMA), the server sets OPENBLAS_CORETYPE and starts itself
// again, since the variable is read only at load time. An OPENBLAS_CORETYPE
// already set is respected.
void SelectOpenBlasKernels(char** argv) {
#if defined(EIGEN_USE_BLAS)
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const std::string core = openblas_get_corename();
  if (core != "Prescott" && core != "Core2" && core != "Penryn" && core != "Nehalem")
    return;
  __builtin_cpu_init();
  const char* wanted = nullptr;
  if (__builtin_cpu_supports("avx512f")) {
    wanted = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    wanted = "Haswell";
  }
  if (wanted == nullptr) return;
  setenv("OPENBLAS_CORETYPE", wanted, 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // exec failed: go on with the kernels we have.
#else
  (void)argv;
#endif
}

std::string BlasKernels() {
#if defined(EIGEN_USE_BLAS)
  const int threads = lago::core::BlasThreads();
  return absl::StrCat(", OpenBLAS kernels ", openblas_get_corename(), " with ", threads,
                      threads == 1 ? " thread" : " threads", " per call");
#else
  return "";
#endif
}

constexpr char kUsage[] = R"(Usage: lago-server [flags]

Serves the Lago optimisation service over gRPC, keeping every study in SQLite
or in PostgreSQL.

Flags (each also read from the environment variable in brackets):
  --listen=HOST:PORT     address to serve on; port 0 picks a free one
                         (default 127.0.0.1:50051) [LAGO_LISTEN]
  --db=PATH|URI          SQLite database file, created when missing; its folder is
                         created too (default data/lago.db); or a PostgreSQL
                         database, postgresql://USER@HOST:PORT/DBNAME (the
                         password from PGPASSWORD or ~/.pgpass) [LAGO_DB]
  --log-level=LEVEL      debug, info, warning or error (default info) [LAGO_LOG_LEVEL]
  --shutdown-grace=SEC   on SIGTERM/SIGINT, seconds that calls in flight get to
                         finish (default 10) [LAGO_SHUTDOWN_GRACE]
  --max-threads=N        threads serving calls at once (default 256); beyond
                         it a call gets RESOURCE_EXHAUSTED "Server Threadpool
                         Exhausted", which the clients retry [LAGO_MAX_THREADS]
  --busy-timeout-ms=MS   how long a write waits for a lock held by another process
                         before failing with UNAVAILABLE (default 5000)
                         [LAGO_BUSY_TIMEOUT_MS]
  --tls-cert=PEM         server certificate chain; with --tls-key, serve TLS
                         [LAGO_TLS_CERT]
  --tls-key=PEM          server private key [LAGO_TLS_KEY]
  --tls-client-ca=PEM    require client certificates signed by this CA
                         [LAGO_TLS_CLIENT_CA]
  --token-file=PATH      bearer tokens, one "read-only|read-write TOKEN" per
                         line; every call must carry one [LAGO_TOKEN_FILE]
  --allow-insecure=BOOL  allow plaintext on an address other machines can
                         reach (default false) [LAGO_ALLOW_INSECURE]
  --blas-threads=N       OpenBLAS threads per linear-algebra call; 0 leaves it to
                         OpenBLAS (all cores). The default 1 stays fast when
                         evaluations or other studies share the machine
                         (default 1) [LAGO_BLAS_THREADS]
  --model-cache-mb=MB    memory for the GP models kept between suggestions, over
                         all studies, least recently used freed first; a study
                         whose model does not fit rebuilds it at each
                         suggestion, with the same result, only slower
                         (default 256) [LAGO_MODEL_CACHE_MB]
  --port-file=PATH       write the bound port to PATH once serving
  --help                 print this and exit
)";

struct Flag {
  const char* env;
  std::string value;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "lago-server: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  SelectOpenBlasKernels(argv);
  std::map<std::string, Flag> flags = {
      {"listen", {"LAGO_LISTEN", "127.0.0.1:50051"}},
      {"db", {"LAGO_DB", "data/lago.db"}},
      {"log-level", {"LAGO_LOG_LEVEL", "info"}},
      {"shutdown-grace", {"LAGO_SHUTDOWN_GRACE", "10"}},
      {"max-threads", {"LAGO_MAX_THREADS", "256"}},
      {"busy-timeout-ms", {"LAGO_BUSY_TIMEOUT_MS", "5000"}},
      {"tls-cert", {"LAGO_TLS_CERT", ""}},
      {"tls-key", {"LAGO_TLS_KEY", ""}},
      {"tls-client-ca", {"LAGO_TLS_CLIENT_CA", ""}},
      {"token-file", {"LAGO_TOKEN_FILE", ""}},
      {"allow-insecure", {"LAGO_ALLOW_INSECURE", "false"}},
      {"blas-threads", {"LAGO_BLAS_THREADS", "1"}},
      {"model-cache-mb", {"LAGO_MODEL_CACHE_MB", "256"}},
      {"port-file", {nullptr, ""}},
  };
  for (auto& [name, flag] : flags) {
    const char* env = flag.env != nullptr ? std::getenv(flag.env) : nullptr;
    if (env != nullptr && *env != '\0') flag.value = env;
  }
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (!absl::ConsumePrefix(&arg, "--"))
      return Fail(absl::StrCat("unexpected argument \"", arg, "\"; see --help"));
    std::string name(arg.substr(0, arg.find('=')));
    auto it = flags.find(name);
    if (it == flags.end())
      return Fail(absl::StrCat("unknown flag --", name, "; see --help"));
    if (arg.find('=') != absl::string_view::npos) {
      it->second.value = std::string(arg.substr(arg.find('=') + 1));
    } else if (i + 1 < argc) {
      it->second.value = argv[++i];
    } else {
      return Fail(absl::StrCat("flag --", name, " needs a value"));
    }
  }

  lago::server::LogLevel level;
  if (!lago::server::ParseLogLevel(flags["log-level"].value, &level)) {
    return Fail(absl::StrCat("--log-level: \"", flags["log-level"].value,
                             "\" is not one of debug, info, warning, error"));
  }
  lago::server::SetLogLevel(level);
  double grace_seconds = 0;
  if (!absl::SimpleAtod(flags["shutdown-grace"].value, &grace_seconds) ||
      grace_seconds < 0) {
    return Fail(absl::StrCat("--shutdown-grace: \"", flags["shutdown-grace"].value,
                             "\" is not a number of seconds >= 0"));
  }
  lago::server::ServerOptions options;
  options.listen_address = flags["listen"].value;
  options.db_path = flags["db"].value;
  if (!absl::SimpleAtoi(flags["max-threads"].value, &options.max_threads) ||
      options.max_threads < 2) {
    return Fail(absl::StrCat("--max-threads: \"", flags["max-threads"].value,
                             "\" is not a whole number >= 2"));
  }
  if (!absl::SimpleAtoi(flags["busy-timeout-ms"].value, &options.busy_timeout_ms) ||
      options.busy_timeout_ms < 0) {
    return Fail(absl::StrCat("--busy-timeout-ms: \"", flags["busy-timeout-ms"].value,
                             "\" is not a whole number of milliseconds >= 0"));
  }
  int blas_threads = 0;
  if (!absl::SimpleAtoi(flags["blas-threads"].value, &blas_threads) || blas_threads < 0 ||
      blas_threads > 1024) {
    return Fail(absl::StrCat("--blas-threads: \"", flags["blas-threads"].value,
                             "\" is not a whole number from 0 to 1024"));
  }
  // OpenBLAS threads per call (0 keeps OpenBLAS's own choice: all cores, or
  // OPENBLAS_NUM_THREADS). Its threads wait for each other by spinning, so a
  // threaded factorisation slows down sharply when another process holds one of
  // the cores: bench/optimizers/blas_threads.md measured a whole suggestion run
  // 2.8x slower with 2 threads than with 1 beside one busy process, and 1.3x
  // faster on an idle machine. One thread per call also lets calls for
  // different studies run on different cores: two studies at once took 14.5 s
  // with one thread per call and 36.4 s with OpenBLAS's default.
  if (blas_threads > 0) lago::core::SetBlasThreads(blas_threads);
  int64_t cache_mb = 0;
  if (!absl::SimpleAtoi(flags["model-cache-mb"].value, &cache_mb) || cache_mb < 0 ||
      cache_mb > (int64_t{1} << 30)) {
    return Fail(
        absl::StrCat("--model-cache-mb: \"", flags["model-cache-mb"].value,
                     "\" is not a whole number of megabytes from 0 to 1073741824"));
  }
  lago::core::SetModelCacheLimit(cache_mb << 20);
  options.tls_cert_file = flags["tls-cert"].value;
  options.tls_key_file = flags["tls-key"].value;
  options.tls_client_ca_file = flags["tls-client-ca"].value;
  options.token_file = flags["token-file"].value;
  if (!absl::SimpleAtob(flags["allow-insecure"].value, &options.allow_insecure)) {
    return Fail(absl::StrCat("--allow-insecure: \"", flags["allow-insecure"].value,
                             "\" is not true or false"));
  }
  const std::filesystem::path folder =
      lago::storage::IsPostgresUri(options.db_path)
          ? std::filesystem::path()
          : std::filesystem::path(options.db_path).parent_path();
  if (!folder.empty()) {
    std::error_code error;
    std::filesystem::create_directories(folder, error);
    if (error)
      return Fail(absl::StrCat("--db: cannot create folder ", folder.string(), ": ",
                               error.message()));
  }

  // Block the stop signals in every thread; one waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = lago::server::Server::Start(options);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  lago::server::Log(
      lago::server::LogLevel::kInfo,
      absl::StrCat("lago-server serving on ", options.listen_address, " (port ",
                   (*server)->port(), "), ", (*server)->StoreDescription(), ", ",
                   (*server)->SecuritySummary(), BlasKernels()));
  if (!flags["port-file"].value.empty()) {
    const std::string path = flags["port-file"].value;
    const std::string tmp = path + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%d\n", (*server)->port());
      std::fclose(f);
      std::rename(tmp.c_str(), path.c_str());
    } else {
      return Fail(absl::StrCat("--port-file: cannot write ", path));
    }
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  lago::server::Log(lago::server::LogLevel::kInfo,
                    absl::StrCat("received ", strsignal(signal_number),
                                 "; stopping (grace ", grace_seconds, " s)"));
  (*server)->Shutdown(absl::Seconds(grace_seconds));
  (*server)->Wait();
  lago::server::Log(lago::server::LogLevel::kInfo, "lago-server stopped");
  return 0;
}
