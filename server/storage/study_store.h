// Where studies live: a SQLite file (the default) or a PostgreSQL database.
// The service talks to this interface only.
//
// Every method is thread-safe, and several processes may open one store: a
// study's revision tells a process when another one changed it, and LockStudy
// serialises the changes of one study across processes. Errors: UNAVAILABLE
// when the database stayed busy past its timeout (retry), ALREADY_EXISTS for a
// duplicate study name, ABORTED when a commit's expected revision is not the
// stored one, RESOURCE_EXHAUSTED when the disk is full, INTERNAL otherwise.
// Messages never carry SQL.
#ifndef LAGO_SERVER_STORAGE_STUDY_STORE_H_
#define LAGO_SERVER_STORAGE_STUDY_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lago/v1/study.pb.h"

namespace lago::storage {

struct StudyRecord {
  int64_t id = 0;
  // One up with every commit to the study. A new study starts above every
  // revision a deleted study had, so a study deleted and created again under
  // the same id never repeats one.
  int64_t revision = 0;
  // Name, normalised spec, state and times; stats are derived, not stored.
  v1::Study study;
};

// A stored answer to a request with a request id.
struct RequestRecord {
  std::string request_id;
  // The RPC's name, e.g. "SuggestTrials".
  std::string method;
  // Digest of the request: a reused id with another request is refused.
  std::string fingerprint;
  // The serialised response message.
  std::string response;
};

struct StudySnapshot {
  StudyRecord record;
  // Every trial in id order, with its observation merged in. A stored trial is
  // PENDING, COMPLETED, FAILED or ABANDONED; STALE is derived from the lease.
  std::vector<v1::Trial> trials;
  // The ids of the trials with a result (COMPLETED or FAILED), in the order
  // the results were stored.
  std::vector<int64_t> result_order;
  // Empty before the first suggestion.
  std::string strategy_state;
};

// What changed in a study after a revision (StudyStore::LoadChanges).
struct StudyChanges {
  // The study as stored now.
  StudyRecord record;
  // The trials inserted or changed after the revision, in id order, with
  // their observations merged in.
  std::vector<v1::Trial> trials;
  // The ids of the trials whose results were stored after the revision, in
  // the order they were stored.
  std::vector<int64_t> result_order;
  // Set when the strategy state was written after the revision.
  std::optional<std::string> strategy_state;
  // How many trials and results the study has now, so that a view brought up
  // to date with these changes can be checked.
  int64_t trial_count = 0;
  int64_t result_count = 0;
};

// One atomic change to one study: all of it is durable, or none of it.
struct StudyWrite {
  int64_t study_id = 0;
  // The revision the write was computed from: the commit fails with ABORTED,
  // changing nothing, when the study's stored revision is another.
  int64_t expected_revision = 0;
  int64_t update_time_micros = 0;
  std::optional<v1::StudyState> state;
  // Inserted, or replaced by id, together with their observations.
  std::vector<v1::Trial> trials;
  std::optional<std::string> strategy_state;
  std::optional<RequestRecord> request;
};

// Held while it lives; see StudyStore::LockStudy.
class StudyLock {
 public:
  virtual ~StudyLock() = default;
  // The study's revision, read after the lock was taken, for a store that
  // reads it together with taking the lock (saving a call to Revision);
  // nullopt when the store does not, or the study is gone.
  virtual std::optional<int64_t> revision() const { return std::nullopt; }
  // True when the store read the record of `request_id`, the id given to
  // LockStudy, together with taking the lock (saving a call to FindRequest);
  // request() is then what it found. False when it did not read it, and for
  // an empty id.
  virtual bool read_request(absl::string_view request_id) const {
    (void)request_id;
    return false;
  }
  virtual std::optional<RequestRecord> request() const { return std::nullopt; }
};

class StudyStore {
 public:
  virtual ~StudyStore() = default;

  // Stores a new study (its spec must be normalised). ALREADY_EXISTS when the
  // name is taken.
  virtual absl::StatusOr<StudyRecord> CreateStudy(const v1::Study& study) = 0;
  // nullopt when no study has this name.
  virtual absl::StatusOr<std::optional<StudyRecord>> FindStudy(
      absl::string_view name) = 0;
  // Up to `limit` studies with names after `after_name`, in name order.
  virtual absl::StatusOr<std::vector<StudyRecord>> ListStudies(
      absl::string_view after_name, int limit) = 0;
  // Removes the study and everything it owns. NOT_FOUND for an unknown id.
  virtual absl::Status DeleteStudy(int64_t study_id) = 0;
  // NOT_FOUND for an unknown id.
  virtual absl::StatusOr<StudySnapshot> LoadStudy(int64_t study_id) = 0;
  virtual absl::StatusOr<std::optional<RequestRecord>> FindRequest(
      int64_t study_id, absl::string_view request_id) = 0;
  // The study's current revision. NOT_FOUND for an unknown id.
  virtual absl::StatusOr<int64_t> Revision(int64_t study_id) = 0;
  // What changed in the study after `since_revision`, a revision of it that
  // the caller loaded or committed, read from one snapshot: only `record` when
  // nothing did. NOT_FOUND for an unknown id; FAILED_PRECONDITION when the
  // study is newer than that revision (the id named a study since deleted):
  // load it whole.
  virtual absl::StatusOr<StudyChanges> LoadChanges(int64_t study_id,
                                                   int64_t since_revision) = 0;
  // Applies `write` in one transaction and returns the study's new revision;
  // on error nothing changed.
  virtual absl::StatusOr<int64_t> Commit(const StudyWrite& write) = 0;
  // Waits for the study's exclusive lock, which excludes every other holder,
  // in this process or any other that opened the same store, and holds it
  // until the returned object is destroyed. A lock
  // never outlives its process. The lock is only advisory: it does not stop a
  // commit, whose expected revision is the safeguard.
  // A store may read the record of `request_id` (empty for none) with the
  // lock, once it is held; see StudyLock::read_request.
  virtual absl::StatusOr<std::unique_ptr<StudyLock>> LockStudy(
      int64_t study_id, absl::string_view request_id) = 0;
  // What the store is, for the start-up log line, without a password:
  // "SQLite file data/lago.db (schema 8)".
  virtual std::string Description() const = 0;
};

struct SqliteOptions {
  // How long a write waits for a lock held by another process.
  int busy_timeout_ms = 5000;
};

// Opens (creating if needed) the SQLite database at `path`: PRAGMA
// integrity_check, then WAL, synchronous=FULL, foreign keys and forward schema
// migrations. Study locks are advisory locks (open file description locks, one
// byte per study) on the file `path` + "-lock", created beside the database.
// FAILED_PRECONDITION when the file fails the check or has a newer schema.
absl::StatusOr<std::unique_ptr<StudyStore>> OpenSqliteStore(
    const std::string& path, const SqliteOptions& options = {});

// The schema version this build writes.
int SqliteSchemaVersion();

struct PostgresOptions {
  // How long a statement waits for a row lock held by another connection
  // (PostgreSQL's lock_timeout) before failing with UNAVAILABLE. Study locks
  // wait without a limit, as SQLite's do.
  int lock_timeout_ms = 5000;
  // How long opening a connection may take.
  int connect_timeout_s = 10;
};

// Opens the PostgreSQL database `uri` names (postgresql://user@host:port/db,
// with libpq's parameters; a password may also come from PGPASSWORD or
// ~/.pgpass) and creates or migrates Lago's tables in it, under an advisory
// lock so that servers starting together migrate once. Connections are opened
// as needed: one for reads and writes, and one for each study lock held, an
// advisory lock that PostgreSQL releases when its connection ends. A
// connection that breaks is opened again at the next call. FAILED_PRECONDITION
// when the server cannot be reached or refuses the login, or has a newer
// schema.
absl::StatusOr<std::unique_ptr<StudyStore>> OpenPostgresStore(
    const std::string& uri, const PostgresOptions& options = {});

// The schema version this build writes to PostgreSQL.
int PostgresSchemaVersion();

// True when `database` is a PostgreSQL URI (postgresql:// or postgres://)
// rather than a SQLite file's path.
bool IsPostgresUri(absl::string_view database);

// `database` with a URI's password replaced by "***", for logs and errors.
std::string RedactPassword(absl::string_view database);

// OpenPostgresStore for a PostgreSQL URI, OpenSqliteStore for a path; both
// wait `busy_timeout_ms` for another process's lock.
absl::StatusOr<std::unique_ptr<StudyStore>> OpenStore(const std::string& database,
                                                      int busy_timeout_ms);

}  // namespace lago::storage

#endif  // LAGO_SERVER_STORAGE_STUDY_STORE_H_
