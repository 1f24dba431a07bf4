// The PostgreSQL backend of StudyStore, for several servers behind one
// database. The only file that includes libpq.
//
// The tables are those of the SQLite backend, with PostgreSQL's types. A
// commit is one statement, so one round trip, at READ COMMITTED: its UPDATE
// that checks and counts up a study's revision takes the study's row lock, so
// of two servers committing from one revision the second waits, finds another
// revision and writes nothing. Loads read one REPEATABLE READ snapshot. Study
// locks are session advisory locks, each on a connection of its own, so they
// exclude each other within one process too and end with their connection.
#include <libpq-fe.h>

#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/storage/columns.h"
#include "server/storage/study_store.h"

namespace lago::storage {
namespace {

// Forward migrations: entry i takes the schema from version i to i + 1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE studies (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  spec BYTEA NOT NULL,
  strategy TEXT NOT NULL,
  direction TEXT NOT NULL,
  dimension INTEGER NOT NULL,
  budget DOUBLE PRECISION NOT NULL,
  seed BIGINT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'done', 'stopped')),
  create_time_us BIGINT NOT NULL,
  update_time_us BIGINT NOT NULL,
  revision BIGINT NOT NULL
);
CREATE TABLE revision_sequence (last BIGINT NOT NULL);
INSERT INTO revision_sequence (last) VALUES (0);
CREATE TABLE parameters (
  study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  lower DOUBLE PRECISION NOT NULL,
  upper DOUBLE PRECISION NOT NULL,
  scale TEXT NOT NULL,
  type TEXT NOT NULL,
  PRIMARY KEY (study_id, position)
);
CREATE TABLE parameter_choices (
  study_id BIGINT NOT NULL,
  position INTEGER NOT NULL,
  choice INTEGER NOT NULL,
  label TEXT NOT NULL,
  PRIMARY KEY (study_id, position, choice),
  FOREIGN KEY (study_id, position) REFERENCES parameters(study_id, position)
    ON DELETE CASCADE
);
CREATE TABLE trials (
  study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  trial_id BIGINT NOT NULL CHECK (trial_id >= 1),
  state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'failed', 'abandoned')),
  kind TEXT NOT NULL,
  need_gradient INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  x TEXT NOT NULL,
  lease_expire_time_us BIGINT NOT NULL,
  why_winner TEXT NOT NULL,
  why_acquisition_value DOUBLE PRECISION,
  why_predicted_improvement DOUBLE PRECISION,
  why_radius DOUBLE PRECISION,
  why_sequence_index BIGINT,
  why_acquisition_weight DOUBLE PRECISION,
  abandon_reason TEXT NOT NULL DEFAULT '',
  create_time_us BIGINT NOT NULL,
  update_time_us BIGINT NOT NULL,
  PRIMARY KEY (study_id, trial_id)
);
CREATE INDEX trials_by_state ON trials (study_id, state);
CREATE TABLE observations (
  study_id BIGINT NOT NULL,
  trial_id BIGINT NOT NULL,
  failed INTEGER NOT NULL,
  value DOUBLE PRECISION,
  gradient TEXT,
  noise_std DOUBLE PRECISION,
  failure_reason TEXT NOT NULL,
  observe_time_us BIGINT NOT NULL,
  completion_revision BIGINT NOT NULL,
  PRIMARY KEY (study_id, trial_id),
  FOREIGN KEY (study_id, trial_id) REFERENCES trials(study_id, trial_id) ON DELETE CASCADE,
  CHECK (failed = 1 OR value IS NOT NULL)
);
CREATE TABLE strategy_state (
  study_id BIGINT PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
  state BYTEA NOT NULL,
  update_time_us BIGINT NOT NULL
);
CREATE TABLE requests (
  study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  request_id TEXT NOT NULL,
  method TEXT NOT NULL,
  fingerprint BYTEA NOT NULL,
  response BYTEA NOT NULL,
  create_time_us BIGINT NOT NULL,
  PRIMARY KEY (study_id, request_id)
);
)sql",
    // 1 -> 2: the revision of the commit that last wrote each trial and the
    // strategy state, and the revision a study was created at, so that a
    // server can read just what changed since the revision it has. Rows from
    // before are at revision 0, older than any view of them.
    R"sql(
ALTER TABLE studies ADD COLUMN first_revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
CREATE INDEX trials_by_revision ON trials (study_id, revision);
CREATE INDEX observations_by_revision ON observations (study_id, completion_revision);
ALTER TABLE strategy_state ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

// The advisory lock key of the schema's migrations; a study's lock is its id,
// and ids start at 1.
constexpr int64_t kMigrationLockKey = 0;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnectionDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Connection = std::unique_ptr<PGconn, ConnectionDeleter>;

// A statement's parameters, sent as text, or as bytes for BYTEA columns.
class Params {
 public:
  Params& Text(absl::string_view text) {
    // PostgreSQL's text cannot hold a NUL character.
    if (text.find('\0') != absl::string_view::npos) has_nul_ = true;
    return Add(std::string(text), /*binary=*/false);
  }
  Params& Int(int64_t v) { return Add(absl::StrCat(v), false); }
  Params& Double(double v) { return Add(absl::StrFormat("%.17g", v), false); }
  Params& Bytes(absl::string_view bytes) { return Add(std::string(bytes), true); }
  Params& Null() {
    values_.emplace_back();
    null_.push_back(true);
    binary_.push_back(0);
    return *this;
  }
  template <typename T>
  Params& DoubleOrNull(bool present, T v) {
    return present ? Double(static_cast<double>(v)) : Null();
  }

  bool has_nul() const { return has_nul_; }
  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into this object: valid while it lives and is not changed.
  std::vector<const char*> Values() const {
    std::vector<const char*> out;
    for (size_t i = 0; i < values_.size(); ++i)
      out.push_back(null_[i] ? nullptr : values_[i].data());
    return out;
  }
  std::vector<int> Lengths() const {
    std::vector<int> out;
    for (const std::string& v : values_) out.push_back(static_cast<int>(v.size()));
    return out;
  }
  const int* Formats() const { return binary_.data(); }

 private:
  Params& Add(std::string value, bool binary) {
    values_.push_back(std::move(value));
    null_.push_back(false);
    binary_.push_back(binary ? 1 : 0);
    return *this;
  }

  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<int> binary_;
  bool has_nul_ = false;
};

// A PostgreSQL array literal, {"a",NULL,"1.5"}, built element by element:
// one parameter carries a column of many rows, which unnest() spreads out.
class ArrayLiteral {
 public:
  ArrayLiteral& Text(absl::string_view text) {
    Separate();
    body_ += '"';
    for (char c : text) {
      if (c == '"' || c == '\\') body_ += '\\';
      body_ += c;
    }
    body_ += '"';
    return *this;
  }
  ArrayLiteral& Int(int64_t v) { return Text(absl::StrCat(v)); }
  ArrayLiteral& Null() {
    Separate();
    body_ += "NULL";
    return *this;
  }
  template <typename T>
  ArrayLiteral& DoubleOrNull(bool present, T v) {
    return present ? Text(absl::StrFormat("%.17g", static_cast<double>(v))) : Null();
  }
  std::string Finish() const { return absl::StrCat("{", body_, "}"); }

 private:
  void Separate() {
    if (!empty_) body_ += ',';
    empty_ = false;
  }

  std::string body_;
  bool empty_ = true;
};

// The status for a failed statement or a lost connection. Messages carry the
// SQLSTATE, never SQL or the server's wording (which may quote values).
absl::Status StatementError(PGconn* conn, const PGresult* result,
                            absl::string_view what) {
  if (PQstatus(conn) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat(what, ": the connection to PostgreSQL was lost; retry"));
  }
  const char* state =
      result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string code = state == nullptr ? "" : state;
  if (code == "23505") {
    return absl::AlreadyExistsError(absl::StrCat(what, ": the record already exists"));
  }
  if (code == "55P03" || code == "40001" || code == "40P01" || code == "53300" ||
      absl::StartsWith(code, "08") || absl::StartsWith(code, "57P")) {
    return absl::UnavailableError(
        absl::StrCat(what,
                     ": the database stayed busy past its timeout or is "
                     "unavailable (SQLSTATE ",
                     code, "); retry"));
  }
  if (code == "53100") {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": the disk is full"));
  }
  return absl::InternalError(
      absl::StrCat(what, ": storage error, SQLSTATE ", code.empty() ? "unknown" : code));
}

// Runs one statement; the result has its rows, or the status says why not.
absl::StatusOr<Result> Exec(PGconn* conn, const char* sql, const Params& params,
                            absl::string_view what) {
  if (params.has_nul()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": text with a NUL character cannot be stored"));
  }
  const std::vector<const char*> values = params.Values();
  const std::vector<int> lengths = params.Lengths();
  Result result(PQexecParams(conn, sql, params.size(), nullptr, values.data(),
                             lengths.data(), params.Formats(), /*resultFormat=*/0));
  const ExecStatusType status =
      result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return StatementError(conn, result.get(), what);
  }
  return result;
}

// Runs statements without parameters; several may be separated by ';'.
absl::StatusOr<Result> Exec(PGconn* conn, const char* sql, absl::string_view what) {
  Result result(PQexec(conn, sql));
  const ExecStatusType status =
      result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return StatementError(conn, result.get(), what);
  }
  return result;
}

// Column readers for text-format results.
bool IsNull(const Result& r, int row, int col) { return PQgetisnull(r.get(), row, col); }
std::string Text(const Result& r, int row, int col) {
  return std::string(PQgetvalue(r.get(), row, col), PQgetlength(r.get(), row, col));
}
int64_t Int(const Result& r, int row, int col) {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQgetvalue(r.get(), row, col), &v);
  return v;
}
double Double(const Result& r, int row, int col) {
  double v = 0.0;
  (void)absl::SimpleAtod(PQgetvalue(r.get(), row, col), &v);
  return v;
}
std::string Bytes(const Result& r, int row, int col) {
  size_t length = 0;
  unsigned char* bytes = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(r.get(), row, col)), &length);
  if (bytes == nullptr) return std::string();
  std::string out(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return out;
}

// Opens a connection with the store's settings.
absl::StatusOr<Connection> Connect(const std::string& uri, const PostgresOptions& options,
                                   int lock_timeout_ms) {
  // Commits are durable before they return; notices (such as "already exists,
  // skipping") stay out of the server's output.
  const std::string settings =
      absl::StrCat("-c lock_timeout=", lock_timeout_ms,
                   " -c synchronous_commit=on -c client_min_messages=warning");
  const std::string timeout = absl::StrCat(options.connect_timeout_s);
  // The URI's own parameters override those before it, not those after.
  const char* keys[] = {"connect_timeout", "application_name", "dbname",
                        "options",         "client_encoding",  nullptr};
  const char* values[] = {timeout.c_str(),  "lago-server", uri.c_str(),
                          settings.c_str(), "UTF8",        nullptr};
  Connection conn(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (conn == nullptr) return absl::ResourceExhaustedError("out of memory for libpq");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    // libpq's message names the host and the reason, never the password.
    std::string reason = PQerrorMessage(conn.get());
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' '))
      reason.pop_back();
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL database ",
                                               RedactPassword(uri), ": ", reason));
  }
  return conn;
}

class PostgresStudyStore : public StudyStore {
 public:
  PostgresStudyStore(std::string uri, PostgresOptions options, Connection conn)
      : uri_(std::move(uri)), options_(options), conn_(std::move(conn)) {}

  absl::StatusOr<StudyRecord> CreateStudy(const v1::Study& study) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string what = absl::StrCat("creating study \"", study.name(), "\"");
    return InTransaction<StudyRecord>(
        "BEGIN", what, [&](PGconn* conn) -> absl::StatusOr<StudyRecord> {
          const v1::StudySpec& spec = study.spec();
          // The first revision of a new study: above every revision a deleted
          // study had.
          auto next = Exec(
              conn, "UPDATE revision_sequence SET last = last + 1 RETURNING last", what);
          if (!next.ok()) return next.status();
          StudyRecord record;
          record.revision = Int(*next, 0, 0);
          Params p;
          p.Text(study.name())
              .Bytes(SpecBytes(spec))
              .Text(spec.strategy())
              .Text(DirectionText(spec.direction()))
              .Int(spec.parameters_size())
              .Double(spec.budget())
              .Int(static_cast<int64_t>(spec.seed()))
              .Text(StudyStateText(study.state()))
              .Int(ToMicros(study.create_time()))
              .Int(ToMicros(study.update_time()))
              .Int(record.revision);
          auto inserted =
              Exec(conn,
                   "INSERT INTO studies (name, spec, strategy, direction, "
                   "dimension, budget, seed, state, create_time_us, "
                   "update_time_us, revision, first_revision) VALUES ($1, $2, $3, "
                   "$4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
                   p, what);
          if (!inserted.ok()) return inserted.status();
          record.id = Int(*inserted, 0, 0);
          for (int i = 0; i < spec.parameters_size(); ++i) {
            const v1::Parameter& param = spec.parameters(i);
            Params row;
            row.Int(record.id)
                .Int(i)
                .Text(param.name())
                .Double(param.lower())
                .Double(param.upper())
                .Text(ScaleText(param.scale()))
                .Text(ParameterTypeText(param.type()));
            auto added = Exec(conn,
                              "INSERT INTO parameters (study_id, position, name, lower, "
                              "upper, scale, type) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                              row, what);
            if (!added.ok()) return added.status();
            for (int c = 0; c < param.choices_size(); ++c) {
              Params choice;
              choice.Int(record.id).Int(i).Int(c).Text(param.choices(c));
              auto chosen = Exec(conn,
                                 "INSERT INTO parameter_choices (study_id, position, "
                                 "choice, label) VALUES ($1, $2, $3, $4)",
                                 choice, what);
              if (!chosen.ok()) return chosen.status();
            }
          }
          record.study = study;
          return record;
        });
  }

  absl::StatusOr<std::optional<StudyRecord>> FindStudy(absl::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto conn = Conn();
    if (!conn.ok()) return conn.status();
    auto rows =
        Exec(*conn, absl::StrCat(kStudyColumns, " FROM studies WHERE name = $1").c_str(),
             Params().Text(name), "reading a study");
    if (!rows.ok()) return rows.status();
    if (PQntuples(rows->get()) == 0) return std::optional<StudyRecord>();
    auto record = ReadStudyRow(*rows, 0);
    if (!record.ok()) return record.status();
    return std::optional<StudyRecord>(*std::move(record));
  }

  absl::StatusOr<std::vector<StudyRecord>> ListStudies(absl::string_view after_name,
                                                       int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto conn = Conn();
    if (!conn.ok()) return conn.status();
    auto rows = Exec(*conn,
                     absl::StrCat(kStudyColumns,
                                  " FROM studies WHERE name > $1 ORDER BY name LIMIT $2")
                         .c_str(),
                     Params().Text(after_name).Int(limit), "listing studies");
    if (!rows.ok()) return rows.status();
    std::vector<StudyRecord> out;
    for (int i = 0; i < PQntuples(rows->get()); ++i) {
      auto record = ReadStudyRow(*rows, i);
      if (!record.ok()) return record.status();
      out.push_back(*std::move(record));
    }
    return out;
  }

  absl::Status DeleteStudy(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    const char* what = "deleting a study";
    const absl::StatusOr<bool> deleted =
        InTransaction<bool>("BEGIN", what, [&](PGconn* conn) -> absl::StatusOr<bool> {
          // A study created later starts above its revisions.
          auto kept = Exec(conn,
                           "UPDATE revision_sequence SET last = greatest(last, "
                           "coalesce((SELECT revision FROM studies WHERE id = $1), 0))",
                           Params().Int(study_id), what);
          if (!kept.ok()) return kept.status();
          auto rows = Exec(conn, "DELETE FROM studies WHERE id = $1",
                           Params().Int(study_id), what);
          if (!rows.ok()) return rows.status();
          if (std::strcmp(PQcmdTuples(rows->get()), "1") != 0)
            return absl::NotFoundError("study not found");
          return true;
        });
    return deleted.status();
  }

  absl::StatusOr<StudySnapshot> LoadStudy(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    const char* what = "loading a study";
    // One snapshot, so that the study, its trials and its state agree.
    return InTransaction<StudySnapshot>(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", what,
        [&](PGconn* conn) -> absl::StatusOr<StudySnapshot> {
          StudySnapshot snapshot;
          auto study = Exec(
              conn, absl::StrCat(kStudyColumns, " FROM studies WHERE id = $1").c_str(),
              Params().Int(study_id), what);
          if (!study.ok()) return study.status();
          auto record = OnlyStudyRow(*study);
          if (!record.ok()) return record.status();
          snapshot.record = *std::move(record);
          absl::Status read =
              ReadTrials(conn, study_id, std::nullopt, what, &snapshot.trials);
          if (!read.ok()) return read;
          auto order = ReadResultOrder(conn, study_id, std::nullopt, what);
          if (!order.ok()) return order.status();
          snapshot.result_order = *std::move(order);
          auto state = Exec(conn, "SELECT state FROM strategy_state WHERE study_id = $1",
                            Params().Int(study_id), what);
          if (!state.ok()) return state.status();
          if (PQntuples(state->get()) > 0) snapshot.strategy_state = Bytes(*state, 0, 0);
          return snapshot;
        });
  }

  absl::StatusOr<StudyChanges> LoadChanges(int64_t study_id,
                                           int64_t since_revision) override {
    std::lock_guard<std::mutex> lock(mu_);
    const char* what = "loading a study's changes";
    return InTransaction<StudyChanges>(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", what,
        [&](PGconn* conn) -> absl::StatusOr<StudyChanges> {
          StudyChanges changes;
          // The study, its counts and its strategy state if it changed, in one
          // round trip.
          auto study = Exec(
              conn,
              absl::StrCat(kStudyColumns,
                           ", (SELECT coalesce(max(trial_id), 0) FROM trials WHERE "
                           "study_id = $1), (SELECT count(*) FROM observations WHERE "
                           "study_id = $1), (SELECT state FROM strategy_state WHERE "
                           "study_id = $1 AND revision > $2) FROM studies WHERE id = $1")
                  .c_str(),
              Params().Int(study_id).Int(since_revision), what);
          if (!study.ok()) return study.status();
          auto record = OnlyStudyRow(*study);
          if (!record.ok()) return record.status();
          changes.record = *std::move(record);
          if (since_revision < Int(*study, 0, kFirstRevisionColumn)) {
            return absl::FailedPreconditionError(
                absl::StrCat("study ", study_id, " was created after revision ",
                             since_revision, "; load it whole"));
          }
          if (changes.record.revision == since_revision) return changes;
          changes.trial_count = Int(*study, 0, kFirstRevisionColumn + 1);
          changes.result_count = Int(*study, 0, kFirstRevisionColumn + 2);
          if (!IsNull(*study, 0, kFirstRevisionColumn + 3))
            changes.strategy_state = Bytes(*study, 0, kFirstRevisionColumn + 3);
          absl::Status read =
              ReadTrials(conn, study_id, since_revision, what, &changes.trials);
          if (!read.ok()) return read;
          auto order = ReadResultOrder(conn, study_id, since_revision, what);
          if (!order.ok()) return order.status();
          changes.result_order = *std::move(order);
          return changes;
        });
  }

  absl::StatusOr<std::optional<RequestRecord>> FindRequest(
      int64_t study_id, absl::string_view request_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto conn = Conn();
    if (!conn.ok()) return conn.status();
    auto rows = Exec(*conn,
                     "SELECT method, fingerprint, response FROM requests WHERE "
                     "study_id = $1 AND request_id = $2",
                     Params().Int(study_id).Text(request_id), "reading a request record");
    if (!rows.ok()) return rows.status();
    if (PQntuples(rows->get()) == 0) return std::optional<RequestRecord>();
    RequestRecord record;
    record.request_id = std::string(request_id);
    record.method = Text(*rows, 0, 0);
    record.fingerprint = Bytes(*rows, 0, 1);
    record.response = Bytes(*rows, 0, 2);
    return std::optional<RequestRecord>(std::move(record));
  }

  absl::StatusOr<int64_t> Revision(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto conn = Conn();
    if (!conn.ok()) return conn.status();
    auto rows = Exec(*conn, "SELECT revision FROM studies WHERE id = $1",
                     Params().Int(study_id), "reading a study's revision");
    if (!rows.ok()) return rows.status();
    if (PQntuples(rows->get()) == 0) return absl::NotFoundError("study not found");
    return Int(*rows, 0, 0);
  }

  absl::StatusOr<int64_t> Commit(const StudyWrite& write) override {
    std::lock_guard<std::mutex> lock(mu_);
    const char* what = "writing a study";
    auto conn = Conn();
    if (!conn.ok()) return conn.status();
    // One statement, so one round trip and one transaction. Its first part
    // checks and counts up the revision and takes the study's row lock: a
    // concurrent commit from the same revision waits there, then finds
    // another revision, and the parts that write rows for each row it
    // returned write none. Foreign keys are checked at the end of the
    // statement, when the trials of the new observations are in.
    auto committed = Exec(*conn, kCommitStatement, CommitParams(write), what);
    if (!committed.ok()) return committed.status();
    if (Int(*committed, 0, 0) == 1) return write.expected_revision + 1;
    auto stored = Exec(*conn, "SELECT revision FROM studies WHERE id = $1",
                       Params().Int(write.study_id), what);
    if (!stored.ok()) return stored.status();
    if (PQntuples(stored->get()) == 0) return absl::NotFoundError("study not found");
    return absl::AbortedError(absl::StrCat(
        "the study changed meanwhile (revision ", Int(*stored, 0, 0),
        ", the write expected ", write.expected_revision, "); nothing was written"));
  }

  absl::StatusOr<std::unique_ptr<StudyLock>> LockStudy(
      int64_t study_id, absl::string_view request_id) override {
    const std::string what = absl::StrCat("locking study ", study_id);
    Connection conn;
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      if (!idle_lock_connections_.empty()) {
        conn = std::move(idle_lock_connections_.back());
        idle_lock_connections_.pop_back();
      }
    }
    // The unlock sent when the connection was last given back: a connection
    // that cannot say it released its lock is closed, which releases it.
    if (conn != nullptr && !Drained(conn.get())) conn.reset();
    if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
      // Waits for the lock without a limit, as a SQLite store's lock does.
      auto opened = Connect(uri_, options_, /*lock_timeout_ms=*/0);
      if (!opened.ok()) return opened.status();
      conn = *std::move(opened);
    }
    // Two statements in one round trip: the second reads the revision, and
    // the request's record if any, with a snapshot taken once the first holds
    // the lock. It returns one row, with NULLs for what is not there.
    std::string sql = absl::StrCat(
        "SELECT pg_advisory_lock(", study_id,
        "); SELECT (SELECT revision FROM studies WHERE id = ", study_id, ")");
    if (!request_id.empty()) {
      char* literal = PQescapeLiteral(conn.get(), request_id.data(), request_id.size());
      if (literal == nullptr) {
        return absl::InternalError(absl::StrCat(
            what, ": cannot quote the request id: ", PQerrorMessage(conn.get())));
      }
      absl::StrAppend(&sql,
                      ", method, fingerprint, response FROM (SELECT 1) AS one "
                      "LEFT JOIN requests ON study_id = ",
                      study_id, " AND request_id = ", literal);
      PQfreemem(literal);
    }
    auto locked = Exec(conn.get(), sql.c_str(), what);
    if (!locked.ok()) return locked.status();
    if (PQntuples(locked->get()) != 1) {
      return absl::InternalError(absl::StrCat(what, ": ", PQntuples(locked->get()),
                                              " rows read with the lock; 1 expected"));
    }
    std::optional<int64_t> revision;
    if (!IsNull(*locked, 0, 0)) revision = Int(*locked, 0, 0);
    std::optional<RequestRecord> request;
    if (!request_id.empty() && !IsNull(*locked, 0, 1)) {
      request.emplace();
      request->request_id = std::string(request_id);
      request->method = Text(*locked, 0, 1);
      request->fingerprint = Bytes(*locked, 0, 2);
      request->response = Bytes(*locked, 0, 3);
    }
    return std::unique_ptr<StudyLock>(new AdvisoryLock(this, std::move(conn), study_id,
                                                       revision, std::string(request_id),
                                                       std::move(request)));
  }

  std::string Description() const override {
    return absl::StrCat("PostgreSQL database ", RedactPassword(uri_), " (schema ",
                        kSchemaVersion, ")");
  }

 private:
  // ReadStudyRow's columns: a query adds more, or FROM studies.
  static constexpr const char* kStudyColumns =
      "SELECT id, name, spec, state, create_time_us, update_time_us, revision, "
      "first_revision";
  static constexpr int kFirstRevisionColumn = 7;

  class AdvisoryLock : public StudyLock {
   public:
    AdvisoryLock(PostgresStudyStore* store, Connection conn, int64_t study_id,
                 std::optional<int64_t> revision, std::string request_id,
                 std::optional<RequestRecord> request)
        : store_(store),
          conn_(std::move(conn)),
          study_id_(study_id),
          revision_(revision),
          request_id_(std::move(request_id)),
          request_(std::move(request)) {}
    ~AdvisoryLock() override {
      // Sent without waiting for the answer, which the connection's next user
      // reads (Drained); a connection that cannot send it is closed, which
      // releases the lock.
      const std::string unlock =
          absl::StrCat("SELECT pg_advisory_unlock(", study_id_, ")");
      if (PQsendQuery(conn_.get(), unlock.c_str()) == 1) {
        store_->ReturnLockConnection(std::move(conn_));
      }
    }
    std::optional<int64_t> revision() const override { return revision_; }
    bool read_request(absl::string_view request_id) const override {
      return !request_id_.empty() && request_id == request_id_;
    }
    std::optional<RequestRecord> request() const override { return request_; }

   private:
    PostgresStudyStore* const store_;
    Connection conn_;
    const int64_t study_id_;
    const std::optional<int64_t> revision_;
    const std::string request_id_;
    const std::optional<RequestRecord> request_;
  };

  // Reads the answers to what was sent on `conn` without waiting for them
  // (an unlock); false when one of them is not a success.
  static bool Drained(PGconn* conn) {
    bool ok = true;
    while (Result result{PQgetResult(conn)}) {
      const ExecStatusType status = PQresultStatus(result.get());
      if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) ok = false;
      if (status == PGRES_TUPLES_OK &&
          (PQntuples(result.get()) != 1 || Text(result, 0, 0) != "t")) {
        ok = false;
      }
    }
    return ok;
  }

  void ReturnLockConnection(Connection conn) {
    std::lock_guard<std::mutex> lock(pool_mu_);
    // A few idle connections are kept for the next locks.
    if (idle_lock_connections_.size() < 8)
      idle_lock_connections_.push_back(std::move(conn));
  }

  // The reads-and-writes connection, opened again when it broke.
  // Precondition: mu_ is held.
  absl::StatusOr<PGconn*> Conn() {
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      auto reopened = Connect(uri_, options_, options_.lock_timeout_ms);
      if (!reopened.ok()) return reopened.status();
      conn_ = *std::move(reopened);
    }
    return conn_.get();
  }

  // Runs `body` between `begin` and COMMIT; rolls back when it fails.
  // Precondition: mu_ is held.
  template <typename T, typename Body>
  absl::StatusOr<T> InTransaction(const char* begin, absl::string_view what, Body body) {
    auto conn = Conn();
    if (!conn.ok()) return conn.status();
    auto begun = Exec(*conn, begin, what);
    if (!begun.ok()) return begun.status();
    absl::StatusOr<T> out = body(*conn);
    if (out.ok()) {
      auto committed = Exec(*conn, "COMMIT", what);
      if (committed.ok()) return out;
      out = committed.status();
    }
    (void)Exec(*conn, "ROLLBACK", what);
    return out;
  }

  static absl::StatusOr<StudyRecord> ReadStudyRow(const Result& rows, int row) {
    StudyRecord record;
    record.id = Int(rows, row, 0);
    record.study.set_name(Text(rows, row, 1));
    if (!record.study.mutable_spec()->ParseFromString(Bytes(rows, row, 2))) {
      return absl::InternalError(absl::StrCat("the stored spec of study \"",
                                              record.study.name(), "\" is corrupt"));
    }
    record.study.set_state(ParseStudyState(Text(rows, row, 3)));
    FromMicros(Int(rows, row, 4), record.study.mutable_create_time());
    FromMicros(Int(rows, row, 5), record.study.mutable_update_time());
    record.revision = Int(rows, row, 6);
    return record;
  }

  // The one study row of a query by id; NOT_FOUND when it has none.
  static absl::StatusOr<StudyRecord> OnlyStudyRow(const Result& rows) {
    if (PQntuples(rows.get()) == 0) return absl::NotFoundError("study not found");
    return ReadStudyRow(rows, 0);
  }

  // The study's trials in id order, with their observations merged in; only
  // those written after `since` when it is set. Precondition: inside a
  // transaction.
  static absl::Status ReadTrials(PGconn* conn, int64_t study_id,
                                 std::optional<int64_t> since, absl::string_view what,
                                 std::vector<v1::Trial>* out) {
    Params p;
    p.Int(study_id);
    if (since.has_value()) p.Int(*since);
    auto trials =
        Exec(conn,
             absl::StrCat(
                 "SELECT t.trial_id, t.state, t.kind, t.need_gradient, t.client_id, t.x, "
                 "t.lease_expire_time_us, t.why_winner, t.why_acquisition_value, "
                 "t.why_predicted_improvement, t.why_radius, t.why_sequence_index, "
                 "t.create_time_us, t.abandon_reason, o.failed, o.value, o.gradient, "
                 "o.noise_std, o.failure_reason, o.observe_time_us, "
                 "t.why_acquisition_weight FROM trials t LEFT JOIN observations o "
                 "ON o.study_id = t.study_id AND o.trial_id = t.trial_id "
                 "WHERE t.study_id = $1",
                 since.has_value() ? " AND t.revision > $2" : "", " ORDER BY t.trial_id")
                 .c_str(),
             p, what);
    if (!trials.ok()) return trials.status();
    for (int row = 0; row < PQntuples(trials->get()); ++row) {
      absl::Status read = ReadTrialRow(*trials, row, &out->emplace_back());
      if (!read.ok()) return read;
    }
    return absl::OkStatus();
  }

  // The ids of the trials with a result in the order the results were stored;
  // only those stored after `since` when it is set. Precondition: inside a
  // transaction.
  static absl::StatusOr<std::vector<int64_t>> ReadResultOrder(
      PGconn* conn, int64_t study_id, std::optional<int64_t> since,
      absl::string_view what) {
    Params p;
    p.Int(study_id);
    if (since.has_value()) p.Int(*since);
    auto order =
        Exec(conn,
             absl::StrCat("SELECT trial_id FROM observations WHERE study_id = $1",
                          since.has_value() ? " AND completion_revision > $2" : "",
                          " ORDER BY completion_revision, trial_id")
                 .c_str(),
             p, what);
    if (!order.ok()) return order.status();
    std::vector<int64_t> out;
    for (int row = 0; row < PQntuples(order->get()); ++row)
      out.push_back(Int(*order, row, 0));
    return out;
  }

  // The columns of ReadTrials' query.
  static absl::Status ReadTrialRow(const Result& rows, int row, v1::Trial* t) {
    t->set_id(Int(rows, row, 0));
    t->set_state(ParseTrialState(Text(rows, row, 1)));
    t->set_kind(ParseTrialKind(Text(rows, row, 2)));
    t->set_need_gradient(Int(rows, row, 3) != 0);
    t->set_client_id(Text(rows, row, 4));
    absl::Status parsed = ParseArray(Text(rows, row, 5), t->mutable_x());
    if (!parsed.ok()) return parsed;
    FromMicros(Int(rows, row, 6), t->mutable_lease_expire_time());
    v1::TrialWhy* why = t->mutable_why();
    why->set_winner(Text(rows, row, 7));
    if (!IsNull(rows, row, 8)) why->set_acquisition_value(Double(rows, row, 8));
    if (!IsNull(rows, row, 9)) why->set_predicted_improvement(Double(rows, row, 9));
    if (!IsNull(rows, row, 10)) why->set_radius(Double(rows, row, 10));
    if (!IsNull(rows, row, 11)) why->set_sequence_index(Int(rows, row, 11));
    if (!IsNull(rows, row, 20)) why->set_acquisition_weight(Double(rows, row, 20));
    FromMicros(Int(rows, row, 12), t->mutable_create_time());
    t->set_failure_reason(Text(rows, row, 13));
    if (IsNull(rows, row, 14)) return absl::OkStatus();
    if (!IsNull(rows, row, 15)) t->set_value(Double(rows, row, 15));
    if (!IsNull(rows, row, 16)) {
      parsed = ParseArray(Text(rows, row, 16), t->mutable_gradient());
      if (!parsed.ok()) return parsed;
    }
    if (!IsNull(rows, row, 17)) t->set_noise_std(Double(rows, row, 17));
    t->set_failure_reason(Text(rows, row, 18));
    FromMicros(Int(rows, row, 19), t->mutable_complete_time());
    return absl::OkStatus();
  }

  // Commit's statement: $1 study id, $2 expected revision, $3 update time,
  // $4 study state or NULL; the trials' columns as arrays, $5 to $19; the new
  // observations' as arrays, $20 to $26; $27 the strategy state or NULL; the
  // request record, $28 to $31, or NULLs. Its one row says whether the study
  // was written (1) or not (0).
  static constexpr const char* kCommitStatement =
      "WITH s AS (UPDATE studies SET update_time_us = $3, state = coalesce($4, state), "
      "revision = revision + 1 WHERE id = $1 AND revision = $2 RETURNING id), "
      "t AS (INSERT INTO trials (study_id, trial_id, state, kind, need_gradient, "
      "client_id, x, lease_expire_time_us, why_winner, why_acquisition_value, "
      "why_predicted_improvement, why_radius, why_sequence_index, abandon_reason, "
      "create_time_us, why_acquisition_weight, update_time_us, revision) "
      "SELECT s.id, u.*, $3, $2 + 1 FROM s, unnest($5::bigint[], $6::text[], "
      "$7::text[], $8::integer[], $9::text[], $10::text[], $11::bigint[], $12::text[], "
      "$13::float8[], $14::float8[], $15::float8[], $16::bigint[], $17::text[], "
      "$18::bigint[], $19::float8[]) AS u "
      "ON CONFLICT (study_id, trial_id) DO UPDATE SET state = excluded.state, "
      "abandon_reason = excluded.abandon_reason, client_id = excluded.client_id, "
      "lease_expire_time_us = excluded.lease_expire_time_us, "
      "update_time_us = excluded.update_time_us, revision = excluded.revision), "
      "o AS (INSERT INTO observations (study_id, trial_id, failed, value, gradient, "
      "noise_std, failure_reason, observe_time_us, completion_revision) "
      "SELECT s.id, u.*, $2 + 1 FROM s, unnest($20::bigint[], $21::integer[], "
      "$22::float8[], $23::text[], $24::float8[], $25::text[], $26::bigint[]) AS u "
      "ON CONFLICT (study_id, trial_id) DO NOTHING), "
      "st AS (INSERT INTO strategy_state (study_id, state, update_time_us, revision) "
      "SELECT s.id, $27, $3, $2 + 1 FROM s WHERE $27::bytea IS NOT NULL "
      "ON CONFLICT (study_id) DO UPDATE SET state = excluded.state, "
      "update_time_us = excluded.update_time_us, revision = excluded.revision), "
      "r AS (INSERT INTO requests (study_id, request_id, method, fingerprint, "
      "response, create_time_us) SELECT s.id, $28, $29, $30, $31, $3 FROM s "
      "WHERE $28::text IS NOT NULL) "
      "SELECT count(*) FROM s";

  // kCommitStatement's parameters for `write`. A trial listed twice is
  // written as its last entry, and its observation as its first, as
  // statements run one after the other would.
  static Params CommitParams(const StudyWrite& write) {
    std::vector<const v1::Trial*> rows;
    std::vector<const v1::Trial*> results;
    {
      absl::flat_hash_map<int64_t, size_t> row_of;
      absl::flat_hash_set<int64_t> observed;
      for (const v1::Trial& t : write.trials) {
        auto [it, added] = row_of.try_emplace(t.id(), rows.size());
        if (added) {
          rows.push_back(&t);
        } else {
          rows[it->second] = &t;
        }
        const bool has_result =
            t.state() == v1::TRIAL_STATE_COMPLETED || t.state() == v1::TRIAL_STATE_FAILED;
        if (has_result && observed.insert(t.id()).second) results.push_back(&t);
      }
    }
    Params p;
    p.Int(write.study_id).Int(write.expected_revision).Int(write.update_time_micros);
    if (write.state.has_value()) {
      p.Text(StudyStateText(*write.state));
    } else {
      p.Null();
    }
    // The trials' columns, in the order of the statement's trial columns.
    std::vector<ArrayLiteral> trial(15);
    for (const v1::Trial* t : rows) {
      const v1::TrialWhy& why = t->why();
      trial[0].Int(t->id());
      trial[1].Text(TrialStateText(t->state()));
      trial[2].Text(TrialKindText(t->kind()));
      trial[3].Int(t->need_gradient() ? 1 : 0);
      trial[4].Text(t->client_id());
      trial[5].Text(FormatArray(t->x()));
      trial[6].Int(ToMicros(t->lease_expire_time()));
      trial[7].Text(why.winner());
      trial[8].DoubleOrNull(why.has_acquisition_value(), why.acquisition_value());
      trial[9].DoubleOrNull(why.has_predicted_improvement(), why.predicted_improvement());
      trial[10].DoubleOrNull(why.has_radius(), why.radius());
      if (why.has_sequence_index()) {
        trial[11].Int(why.sequence_index());
      } else {
        trial[11].Null();
      }
      trial[12].Text(t->state() == v1::TRIAL_STATE_ABANDONED ? t->failure_reason() : "");
      trial[13].Int(ToMicros(t->create_time()));
      trial[14].DoubleOrNull(why.has_acquisition_weight(), why.acquisition_weight());
    }
    for (const ArrayLiteral& column : trial) p.Text(column.Finish());
    std::vector<ArrayLiteral> observation(7);
    for (const v1::Trial* t : results) {
      observation[0].Int(t->id());
      observation[1].Int(t->state() == v1::TRIAL_STATE_FAILED ? 1 : 0);
      observation[2].DoubleOrNull(t->has_value(), t->value());
      if (t->gradient_size() > 0) {
        observation[3].Text(FormatArray(t->gradient()));
      } else {
        observation[3].Null();
      }
      observation[4].DoubleOrNull(t->has_noise_std(), t->noise_std());
      observation[5].Text(t->failure_reason());
      observation[6].Int(ToMicros(t->complete_time()));
    }
    for (const ArrayLiteral& column : observation) p.Text(column.Finish());
    if (write.strategy_state.has_value()) {
      p.Bytes(*write.strategy_state);
    } else {
      p.Null();
    }
    if (write.request.has_value()) {
      const RequestRecord& r = *write.request;
      p.Text(r.request_id).Text(r.method).Bytes(r.fingerprint).Bytes(r.response);
    } else {
      p.Null().Null().Null().Null();
    }
    return p;
  }

  const std::string uri_;
  const PostgresOptions options_;
  std::mutex mu_;
  Connection conn_;  // Guarded by mu_.
  std::mutex pool_mu_;
  std::vector<Connection> idle_lock_connections_;  // Guarded by pool_mu_.
};

absl::Status Migrate(PGconn* conn) {
  const char* what = "migrating the schema";
  // Servers starting together migrate one after the other.
  auto locked =
      Exec(conn, "SELECT pg_advisory_lock($1)", Params().Int(kMigrationLockKey), what);
  if (!locked.ok()) return locked.status();
  auto migrate = [&]() -> absl::Status {
    auto created = Exec(conn,
                        "CREATE TABLE IF NOT EXISTS schema_version "
                        "(version INTEGER NOT NULL)",
                        what);
    if (!created.ok()) return created.status();
    auto current =
        Exec(conn, "SELECT coalesce(max(version), 0) FROM schema_version", what);
    if (!current.ok()) return current.status();
    const int version = static_cast<int>(Int(*current, 0, 0));
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database has schema version ", version, "; this server knows up to ",
          kSchemaVersion, ": upgrade the server"));
    }
    for (int v = version; v < kSchemaVersion; ++v) {
      for (const char* step : {"BEGIN", kMigrations[v]}) {
        auto done = Exec(conn, step, what);
        if (!done.ok()) {
          (void)Exec(conn, "ROLLBACK", what);
          return done.status();
        }
      }
      auto recorded = Exec(conn, "INSERT INTO schema_version (version) VALUES ($1)",
                           Params().Int(v + 1), what);
      const absl::Status committed =
          recorded.ok() ? Exec(conn, "COMMIT", what).status() : recorded.status();
      if (!committed.ok()) {
        (void)Exec(conn, "ROLLBACK", what);
        return committed;
      }
    }
    return absl::OkStatus();
  };
  absl::Status migrated = migrate();
  (void)Exec(conn, "SELECT pg_advisory_unlock($1)", Params().Int(kMigrationLockKey),
             what);
  return migrated;
}

}  // namespace

int PostgresSchemaVersion() { return kSchemaVersion; }

bool IsPostgresUri(absl::string_view database) {
  return absl::StartsWith(database, "postgresql://") ||
         absl::StartsWith(database, "postgres://");
}

std::string RedactPassword(absl::string_view database) {
  if (!IsPostgresUri(database)) return std::string(database);
  // scheme://user:password@host...: the password runs from the first ':' of
  // the part before '@' to the '@'.
  const size_t start = database.find("://") + 3;
  const size_t at = database.find('@', start);
  if (at == absl::string_view::npos) return std::string(database);
  const size_t colon = database.find(':', start);
  if (colon == absl::string_view::npos || colon > at) return std::string(database);
  return absl::StrCat(database.substr(0, colon + 1), "***", database.substr(at));
}

absl::StatusOr<std::unique_ptr<StudyStore>> OpenPostgresStore(
    const std::string& uri, const PostgresOptions& options) {
  auto conn = Connect(uri, options, options.lock_timeout_ms);
  if (!conn.ok()) return absl::FailedPreconditionError(conn.status().message());
  absl::Status migrated = Migrate(conn->get());
  if (!migrated.ok()) {
    if (migrated.code() == absl::StatusCode::kFailedPrecondition) return migrated;
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL database ", RedactPassword(uri), ": ", migrated.message()));
  }
  return std::unique_ptr<StudyStore>(
      new PostgresStudyStore(uri, options, *std::move(conn)));
}

absl::StatusOr<std::unique_ptr<StudyStore>> OpenStore(const std::string& database,
                                                      int busy_timeout_ms) {
  if (IsPostgresUri(database)) {
    PostgresOptions options;
    options.lock_timeout_ms = busy_timeout_ms;
    return OpenPostgresStore(database, options);
  }
  SqliteOptions options;
  options.busy_timeout_ms = busy_timeout_ms;
  return OpenSqliteStore(database, options);
}

}  // namespace lago::storage
