// The embedded SQLite backend of StudyStore. The only file that includes SQLiteCpp.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/storage/columns.h"
#include "server/storage/study_store.h"

namespace lago::storage {
namespace {

// Forward migrations: entry i takes the schema from version i to i + 1. Column
// values are written as server/storage/columns.h says.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE studies (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  spec BLOB NOT NULL,
  strategy TEXT NOT NULL,
  direction TEXT NOT NULL,
  dimension INTEGER NOT NULL,
  budget REAL NOT NULL,
  seed INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'done', 'stopped')),
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL
);
CREATE TABLE parameters (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  lower REAL NOT NULL,
  upper REAL NOT NULL,
  PRIMARY KEY (study_id, position)
);
CREATE TABLE trials (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  trial_id INTEGER NOT NULL CHECK (trial_id >= 1),
  state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'failed', 'abandoned')),
  kind TEXT NOT NULL,
  need_gradient INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  x TEXT NOT NULL,
  lease_expire_time_us INTEGER NOT NULL,
  why_winner TEXT NOT NULL,
  why_acquisition_value REAL,
  why_predicted_improvement REAL,
  why_radius REAL,
  why_sequence_index INTEGER,
  abandon_reason TEXT NOT NULL DEFAULT '',
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL,
  PRIMARY KEY (study_id, trial_id)
);
CREATE INDEX trials_by_state ON trials (study_id, state);
CREATE TABLE observations (
  study_id INTEGER NOT NULL,
  trial_id INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  value REAL,
  gradient TEXT,
  noise_std REAL,
  failure_reason TEXT NOT NULL,
  observe_time_us INTEGER NOT NULL,
  PRIMARY KEY (study_id, trial_id),
  FOREIGN KEY (study_id, trial_id) REFERENCES trials(study_id, trial_id) ON DELETE CASCADE,
  CHECK (failed = 1 OR value IS NOT NULL)
);
CREATE TABLE strategy_state (
  study_id INTEGER PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
  state BLOB NOT NULL,
  update_time_us INTEGER NOT NULL
);
CREATE TABLE requests (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  request_id TEXT NOT NULL,
  method TEXT NOT NULL,
  fingerprint BLOB NOT NULL,
  response BLOB NOT NULL,
  create_time_us INTEGER NOT NULL,
  PRIMARY KEY (study_id, request_id)
);
)sql",
    // 1 -> 2: the weight the competition gave the acquisition.
    "ALTER TABLE trials ADD COLUMN why_acquisition_weight REAL;",
    // 2 -> 3: a parameter's scale, 'linear' or 'log'.
    "ALTER TABLE parameters ADD COLUMN scale TEXT NOT NULL DEFAULT 'linear';",
    // 3 -> 4: a parameter's type, 'continuous' or 'integer'.
    "ALTER TABLE parameters ADD COLUMN type TEXT NOT NULL DEFAULT 'continuous';",
    // 4 -> 5: the labels of a categorical parameter (type 'categorical'), whose
    // points hold the index `choice`.
    R"sql(
CREATE TABLE parameter_choices (
  study_id INTEGER NOT NULL,
  position INTEGER NOT NULL,
  choice INTEGER NOT NULL,
  label TEXT NOT NULL,
  PRIMARY KEY (study_id, position, choice),
  FOREIGN KEY (study_id, position) REFERENCES parameters(study_id, position)
    ON DELETE CASCADE
);
)sql",
    // 5 -> 6: a study's revision, one up at each commit, so that several
    // server processes can share the file. A new study starts above the
    // revisions of every deleted one, which `revision_sequence` keeps.
    R"sql(
ALTER TABLE studies ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE TABLE revision_sequence (last INTEGER NOT NULL);
INSERT INTO revision_sequence (last) VALUES (0);
)sql",
    // 6 -> 7: the order in which a study's results arrived, which its strategy
    // sees: the revision of the commit that stored each, then its trial id.
    // Rows from before keep their row order, below every revision.
    R"sql(
ALTER TABLE observations ADD COLUMN completion_revision INTEGER NOT NULL DEFAULT 0;
UPDATE observations SET completion_revision =
  rowid - (SELECT max(rowid) FROM observations) - 1;
)sql",
    // 7 -> 8: the revision of the commit that last wrote each trial and the
    // strategy state, and the revision a study was created at, so that a
    // server can read just what changed since the revision it has. Rows from
    // before are at revision 0, older than any view of them.
    R"sql(
ALTER TABLE studies ADD COLUMN first_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE INDEX trials_by_revision ON trials (study_id, revision);
CREATE INDEX observations_by_revision ON observations (study_id, completion_revision);
ALTER TABLE strategy_state ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

absl::Status MapException(const SQLite::Exception& e, absl::string_view what) {
  const int code = e.getErrorCode();
  switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(
          absl::StrCat(what, ": the database stayed busy past its timeout; retry"));
    case SQLITE_CONSTRAINT:
      if (e.getExtendedErrorCode() == SQLITE_CONSTRAINT_UNIQUE ||
          e.getExtendedErrorCode() == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(
            absl::StrCat(what, ": the record already exists"));
      }
      break;
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(what, ": the disk is full"));
    default:
      break;
  }
  return absl::InternalError(
      absl::StrCat(what, ": storage error ", code, " (", sqlite3_errstr(code), ")"));
}

class SqliteStudyStore : public StudyStore {
 public:
  SqliteStudyStore(std::unique_ptr<SQLite::Database> db, std::string lock_path)
      : db_(std::move(db)), lock_path_(std::move(lock_path)) {}

  absl::StatusOr<StudyRecord> CreateStudy(const v1::Study& study) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      const v1::StudySpec& spec = study.spec();
      const std::string spec_bytes = SpecBytes(spec);
      const int64_t revision = NextRevision();
      SQLite::Statement insert(
          *db_,
          "INSERT INTO studies (name, spec, strategy, direction, "
          "dimension, budget, seed, state, create_time_us, "
          "update_time_us, revision, first_revision) VALUES (?, ?, ?, ?, ?, ?, ?, "
          "?, ?, ?, ?, ?)");
      insert.bind(1, study.name());
      insert.bind(2, spec_bytes.data(), static_cast<int>(spec_bytes.size()));
      insert.bind(3, spec.strategy());
      insert.bind(4, DirectionText(spec.direction()));
      insert.bind(5, spec.parameters_size());
      insert.bind(6, spec.budget());
      insert.bind(7, static_cast<int64_t>(spec.seed()));
      insert.bind(8, StudyStateText(study.state()));
      insert.bind(9, static_cast<int64_t>(ToMicros(study.create_time())));
      insert.bind(10, static_cast<int64_t>(ToMicros(study.update_time())));
      insert.bind(11, revision);
      insert.bind(12, revision);
      insert.exec();
      const int64_t id = db_->getLastInsertRowid();
      SQLite::Statement param(*db_,
                              "INSERT INTO parameters (study_id, position, name, lower, "
                              "upper, scale, type) VALUES (?, ?, ?, ?, ?, ?, ?)");
      for (int i = 0; i < spec.parameters_size(); ++i) {
        param.reset();
        param.bind(1, id);
        param.bind(2, i);
        param.bind(3, spec.parameters(i).name());
        param.bind(4, spec.parameters(i).lower());
        param.bind(5, spec.parameters(i).upper());
        param.bind(6, ScaleText(spec.parameters(i).scale()));
        param.bind(7, ParameterTypeText(spec.parameters(i).type()));
        param.exec();
      }
      SQLite::Statement choice(*db_,
                               "INSERT INTO parameter_choices (study_id, position, "
                               "choice, label) VALUES (?, ?, ?, ?)");
      for (int i = 0; i < spec.parameters_size(); ++i) {
        for (int c = 0; c < spec.parameters(i).choices_size(); ++c) {
          choice.reset();
          choice.bind(1, id);
          choice.bind(2, i);
          choice.bind(3, c);
          choice.bind(4, spec.parameters(i).choices(c));
          choice.exec();
        }
      }
      txn.commit();
      StudyRecord record;
      record.id = id;
      record.revision = revision;
      record.study = study;
      return record;
    } catch (const SQLite::Exception& e) {
      return MapException(e, absl::StrCat("creating study \"", study.name(), "\""));
    }
  }

  absl::StatusOr<std::optional<StudyRecord>> FindStudy(absl::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      SQLite::Statement query(*db_, std::string(kSelectStudy) + " WHERE name = ?");
      query.bind(1, std::string(name));
      if (!query.executeStep()) return std::optional<StudyRecord>();
      return ReadStudyRow(query);
    } catch (const SQLite::Exception& e) {
      return MapException(e, "reading a study");
    }
  }

  absl::StatusOr<std::vector<StudyRecord>> ListStudies(absl::string_view after_name,
                                                       int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      SQLite::Statement query(
          *db_, std::string(kSelectStudy) + " WHERE name > ? ORDER BY name LIMIT ?");
      query.bind(1, std::string(after_name));
      query.bind(2, limit);
      std::vector<StudyRecord> out;
      while (query.executeStep()) {
        auto record = ReadStudyRow(query);
        if (!record.ok()) return record.status();
        out.push_back(*std::move(record));
      }
      return out;
    } catch (const SQLite::Exception& e) {
      return MapException(e, "listing studies");
    }
  }

  absl::Status DeleteStudy(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      // A study created later under this id starts above its revisions.
      SQLite::Statement keep(*db_,
                             "UPDATE revision_sequence SET last = max(last, "
                             "coalesce((SELECT revision FROM studies WHERE id = ?), 0))");
      keep.bind(1, study_id);
      keep.exec();
      SQLite::Statement del(*db_, "DELETE FROM studies WHERE id = ?");
      del.bind(1, study_id);
      if (del.exec() != 1) return absl::NotFoundError("study not found");
      txn.commit();
      return absl::OkStatus();
    } catch (const SQLite::Exception& e) {
      return MapException(e, "deleting a study");
    }
  }

  absl::StatusOr<StudySnapshot> LoadStudy(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      // One read transaction, so the snapshot is consistent.
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::DEFERRED);
      StudySnapshot snapshot;
      auto record = ReadStudy(study_id, /*first_revision=*/nullptr);
      if (!record.ok()) return record.status();
      snapshot.record = *std::move(record);
      absl::Status read = ReadTrials(study_id, std::nullopt, &snapshot.trials);
      if (!read.ok()) return read;
      snapshot.result_order = ReadResultOrder(study_id, std::nullopt);
      std::optional<std::string> state = ReadStrategyState(study_id, std::nullopt);
      if (state.has_value()) snapshot.strategy_state = *std::move(state);
      txn.commit();
      return snapshot;
    } catch (const SQLite::Exception& e) {
      return MapException(e, "loading a study");
    }
  }

  absl::StatusOr<StudyChanges> LoadChanges(int64_t study_id,
                                           int64_t since_revision) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::DEFERRED);
      StudyChanges changes;
      int64_t first_revision = 0;
      auto record = ReadStudy(study_id, &first_revision);
      if (!record.ok()) return record.status();
      changes.record = *std::move(record);
      if (since_revision < first_revision) {
        return absl::FailedPreconditionError(
            absl::StrCat("study ", study_id, " was created after revision ",
                         since_revision, "; load it whole"));
      }
      if (changes.record.revision == since_revision) return changes;
      absl::Status read = ReadTrials(study_id, since_revision, &changes.trials);
      if (!read.ok()) return read;
      changes.result_order = ReadResultOrder(study_id, since_revision);
      changes.strategy_state = ReadStrategyState(study_id, since_revision);
      SQLite::Statement counts(
          *db_,
          "SELECT (SELECT coalesce(max(trial_id), 0) FROM trials WHERE study_id = ?1), "
          "(SELECT count(*) FROM observations WHERE study_id = ?1)");
      counts.bind(1, study_id);
      counts.executeStep();
      changes.trial_count = counts.getColumn(0).getInt64();
      changes.result_count = counts.getColumn(1).getInt64();
      txn.commit();
      return changes;
    } catch (const SQLite::Exception& e) {
      return MapException(e, "loading a study's changes");
    }
  }

  absl::StatusOr<std::optional<RequestRecord>> FindRequest(
      int64_t study_id, absl::string_view request_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      SQLite::Statement query(*db_,
                              "SELECT method, fingerprint, response FROM requests WHERE "
                              "study_id = ? AND request_id = ?");
      query.bind(1, study_id);
      query.bind(2, std::string(request_id));
      if (!query.executeStep()) return std::optional<RequestRecord>();
      RequestRecord record;
      record.request_id = std::string(request_id);
      record.method = query.getColumn(0).getString();
      record.fingerprint = BlobOf(query.getColumn(1));
      record.response = BlobOf(query.getColumn(2));
      return record;
    } catch (const SQLite::Exception& e) {
      return MapException(e, "reading a request record");
    }
  }

  absl::StatusOr<int64_t> Revision(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      // Every call asks this, so the statement is prepared once.
      if (revision_query_ == nullptr) {
        revision_query_ = std::make_unique<SQLite::Statement>(
            *db_, "SELECT revision FROM studies WHERE id = ?");
      }
      SQLite::Statement& query = *revision_query_;
      query.bind(1, study_id);
      std::optional<int64_t> revision;
      if (query.executeStep()) revision = query.getColumn(0).getInt64();
      query.reset();  // Ends the read.
      if (!revision.has_value()) return absl::NotFoundError("study not found");
      return *revision;
    } catch (const SQLite::Exception& e) {
      if (revision_query_ != nullptr) revision_query_->tryReset();
      return MapException(e, "reading a study's revision");
    }
  }

  absl::StatusOr<int64_t> Commit(const StudyWrite& write) override {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      SQLite::Statement study(*db_,
                              "UPDATE studies SET update_time_us = ?, state = "
                              "coalesce(?, state), revision = revision + 1 WHERE id = ? "
                              "AND revision = ?");
      study.bind(1, static_cast<int64_t>(write.update_time_micros));
      if (write.state.has_value()) {
        study.bind(2, StudyStateText(*write.state));
      } else {
        study.bind(2);
      }
      study.bind(3, write.study_id);
      study.bind(4, write.expected_revision);
      if (study.exec() != 1) {
        SQLite::Statement stored(*db_, "SELECT revision FROM studies WHERE id = ?");
        stored.bind(1, write.study_id);
        if (!stored.executeStep()) return absl::NotFoundError("study not found");
        return absl::AbortedError(absl::StrCat(
            "the study changed meanwhile (revision ", stored.getColumn(0).getInt64(),
            ", the write expected ", write.expected_revision, "); nothing was written"));
      }
      const int64_t revision = write.expected_revision + 1;
      for (const v1::Trial& t : write.trials)
        WriteTrial(write.study_id, write.update_time_micros, revision, t);
      if (write.strategy_state.has_value()) {
        SQLite::Statement state(
            *db_,
            "INSERT INTO strategy_state (study_id, state, update_time_us, revision) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (study_id) DO UPDATE SET "
            "state = excluded.state, update_time_us = "
            "excluded.update_time_us, revision = excluded.revision");
        state.bind(1, write.study_id);
        state.bind(2, write.strategy_state->data(),
                   static_cast<int>(write.strategy_state->size()));
        state.bind(3, static_cast<int64_t>(write.update_time_micros));
        state.bind(4, revision);
        state.exec();
      }
      if (write.request.has_value()) {
        const RequestRecord& r = *write.request;
        SQLite::Statement request(
            *db_,
            "INSERT INTO requests (study_id, request_id, method, "
            "fingerprint, response, create_time_us) VALUES (?, ?, ?, "
            "?, ?, ?)");
        request.bind(1, write.study_id);
        request.bind(2, r.request_id);
        request.bind(3, r.method);
        request.bind(4, r.fingerprint.data(), static_cast<int>(r.fingerprint.size()));
        request.bind(5, r.response.data(), static_cast<int>(r.response.size()));
        request.bind(6, static_cast<int64_t>(write.update_time_micros));
        request.exec();
      }
      txn.commit();
      return revision;
    } catch (const SQLite::Exception& e) {
      return MapException(e, "writing a study");
    }
  }

  // The request record is left to FindRequest: reading the file costs no
  // round trip.
  absl::StatusOr<std::unique_ptr<StudyLock>> LockStudy(
      int64_t study_id, absl::string_view /*request_id*/) override {
    // A descriptor of its own for each lock: open file description locks
    // exclude each other also within one process, and closing it releases the
    // lock, also when the process dies.
    const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::InternalError(absl::StrCat("cannot open the lock file ", lock_path_,
                                              ": ", std::strerror(errno)));
    }
    struct flock range = {};
    range.l_type = F_WRLCK;
    range.l_whence = SEEK_SET;
    range.l_start = study_id;
    range.l_len = 1;
    while (::fcntl(fd, F_OFD_SETLKW, &range) != 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot lock study ", study_id, " in ",
                                              lock_path_, ": ", std::strerror(error)));
    }
    return std::unique_ptr<StudyLock>(new FileLock(fd));
  }

 private:
  static constexpr const char* kSelectStudy =
      "SELECT id, name, spec, state, create_time_us, update_time_us, revision, "
      "first_revision FROM studies";
  static constexpr int kFirstRevisionColumn = 7;

  class FileLock : public StudyLock {
   public:
    explicit FileLock(int fd) : fd_(fd) {}
    ~FileLock() override { ::close(fd_); }

   private:
    const int fd_;
  };

  // The study's row, and in `first_revision` (unless null) the revision it
  // was created at. NOT_FOUND for an unknown id. Throws SQLite::Exception.
  absl::StatusOr<StudyRecord> ReadStudy(int64_t study_id, int64_t* first_revision) {
    SQLite::Statement query(*db_, std::string(kSelectStudy) + " WHERE id = ?");
    query.bind(1, study_id);
    if (!query.executeStep()) return absl::NotFoundError("study not found");
    if (first_revision != nullptr)
      *first_revision = query.getColumn(kFirstRevisionColumn).getInt64();
    return ReadStudyRow(query);
  }

  // The study's trials in id order, with their observations merged in; only
  // those written after `since` when it is set. Precondition: inside a
  // transaction. Throws SQLite::Exception.
  absl::Status ReadTrials(int64_t study_id, std::optional<int64_t> since,
                          std::vector<v1::Trial>* out) {
    SQLite::Statement trials(
        *db_,
        absl::StrCat(
            "SELECT t.trial_id, t.state, t.kind, t.need_gradient, t.client_id, t.x, "
            "t.lease_expire_time_us, t.why_winner, t.why_acquisition_value, "
            "t.why_predicted_improvement, t.why_radius, t.why_sequence_index, "
            "t.create_time_us, t.abandon_reason, o.failed, o.value, o.gradient, "
            "o.noise_std, o.failure_reason, o.observe_time_us, "
            "t.why_acquisition_weight FROM trials t LEFT JOIN observations o "
            "ON o.study_id = t.study_id AND o.trial_id = t.trial_id "
            "WHERE t.study_id = ?",
            since.has_value() ? " AND t.revision > ?" : "", " ORDER BY t.trial_id"));
    trials.bind(1, study_id);
    if (since.has_value()) trials.bind(2, *since);
    while (trials.executeStep()) {
      v1::Trial& t = out->emplace_back();
      t.set_id(trials.getColumn(0).getInt64());
      t.set_state(ParseTrialState(trials.getColumn(1).getString()));
      t.set_kind(ParseTrialKind(trials.getColumn(2).getString()));
      t.set_need_gradient(trials.getColumn(3).getInt() != 0);
      t.set_client_id(trials.getColumn(4).getString());
      absl::Status parsed = ParseArray(trials.getColumn(5).getString(), t.mutable_x());
      if (!parsed.ok()) return parsed;
      FromMicros(trials.getColumn(6).getInt64(), t.mutable_lease_expire_time());
      v1::TrialWhy* why = t.mutable_why();
      why->set_winner(trials.getColumn(7).getString());
      if (!trials.isColumnNull(8))
        why->set_acquisition_value(trials.getColumn(8).getDouble());
      if (!trials.isColumnNull(9)) {
        why->set_predicted_improvement(trials.getColumn(9).getDouble());
      }
      if (!trials.isColumnNull(10)) why->set_radius(trials.getColumn(10).getDouble());
      if (!trials.isColumnNull(11))
        why->set_sequence_index(trials.getColumn(11).getInt64());
      if (!trials.isColumnNull(20))
        why->set_acquisition_weight(trials.getColumn(20).getDouble());
      FromMicros(trials.getColumn(12).getInt64(), t.mutable_create_time());
      t.set_failure_reason(trials.getColumn(13).getString());
      if (!trials.isColumnNull(14)) {
        if (!trials.isColumnNull(15)) t.set_value(trials.getColumn(15).getDouble());
        if (!trials.isColumnNull(16)) {
          parsed = ParseArray(trials.getColumn(16).getString(), t.mutable_gradient());
          if (!parsed.ok()) return parsed;
        }
        if (!trials.isColumnNull(17)) t.set_noise_std(trials.getColumn(17).getDouble());
        t.set_failure_reason(trials.getColumn(18).getString());
        FromMicros(trials.getColumn(19).getInt64(), t.mutable_complete_time());
      }
    }
    return absl::OkStatus();
  }

  // The ids of the trials with a result in the order the results were stored;
  // only those stored after `since` when it is set. Precondition: inside a
  // transaction. Throws SQLite::Exception.
  std::vector<int64_t> ReadResultOrder(int64_t study_id, std::optional<int64_t> since) {
    SQLite::Statement order(
        *db_, absl::StrCat("SELECT trial_id FROM observations WHERE study_id = ?",
                           since.has_value() ? " AND completion_revision > ?" : "",
                           " ORDER BY completion_revision, trial_id"));
    order.bind(1, study_id);
    if (since.has_value()) order.bind(2, *since);
    std::vector<int64_t> out;
    while (order.executeStep()) out.push_back(order.getColumn(0).getInt64());
    return out;
  }

  // The strategy state; nullopt when there is none, or when `since` is set and
  // it was written before. Precondition: inside a transaction. Throws
  // SQLite::Exception.
  std::optional<std::string> ReadStrategyState(int64_t study_id,
                                               std::optional<int64_t> since) {
    SQLite::Statement state(
        *db_, absl::StrCat("SELECT state FROM strategy_state WHERE study_id = ?",
                           since.has_value() ? " AND revision > ?" : ""));
    state.bind(1, study_id);
    if (since.has_value()) state.bind(2, *since);
    if (!state.executeStep()) return std::nullopt;
    return BlobOf(state.getColumn(0));
  }

  // The first revision of a new study: above every revision a deleted study
  // had. Precondition: inside a write transaction. Throws SQLite::Exception.
  int64_t NextRevision() {
    db_->exec("UPDATE revision_sequence SET last = last + 1");
    return db_->execAndGet("SELECT last FROM revision_sequence").getInt64();
  }

  static std::string BlobOf(const SQLite::Column& column) {
    return std::string(static_cast<const char*>(column.getBlob()), column.getBytes());
  }

  static absl::StatusOr<StudyRecord> ReadStudyRow(SQLite::Statement& query) {
    StudyRecord record;
    record.id = query.getColumn(0).getInt64();
    record.study.set_name(query.getColumn(1).getString());
    if (!record.study.mutable_spec()->ParseFromString(BlobOf(query.getColumn(2)))) {
      return absl::InternalError(absl::StrCat("the stored spec of study \"",
                                              record.study.name(), "\" is corrupt"));
    }
    record.study.set_state(ParseStudyState(query.getColumn(3).getString()));
    FromMicros(query.getColumn(4).getInt64(), record.study.mutable_create_time());
    FromMicros(query.getColumn(5).getInt64(), record.study.mutable_update_time());
    record.revision = query.getColumn(6).getInt64();
    return record;
  }

  // Precondition: inside a write transaction. Throws SQLite::Exception.
  void WriteTrial(int64_t study_id, int64_t now_us, int64_t revision,
                  const v1::Trial& t) {
    SQLite::Statement trial(
        *db_,
        "INSERT INTO trials (study_id, trial_id, state, kind, need_gradient, client_id, "
        "x, "
        "lease_expire_time_us, why_winner, why_acquisition_value, "
        "why_predicted_improvement, why_radius, why_sequence_index, abandon_reason, "
        "create_time_us, update_time_us, why_acquisition_weight, revision) VALUES (?, "
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (study_id, "
        "trial_id) DO UPDATE SET state = excluded.state, "
        "abandon_reason = excluded.abandon_reason, "
        "client_id = excluded.client_id, lease_expire_time_us = "
        "excluded.lease_expire_time_us, update_time_us = excluded.update_time_us, "
        "revision = excluded.revision");
    trial.bind(1, study_id);
    trial.bind(2, static_cast<int64_t>(t.id()));
    trial.bind(3, TrialStateText(t.state()));
    trial.bind(4, TrialKindText(t.kind()));
    trial.bind(5, t.need_gradient() ? 1 : 0);
    trial.bind(6, t.client_id());
    trial.bind(7, FormatArray(t.x()));
    trial.bind(8, static_cast<int64_t>(ToMicros(t.lease_expire_time())));
    const v1::TrialWhy& why = t.why();
    trial.bind(9, why.winner());
    if (why.has_acquisition_value()) trial.bind(10, why.acquisition_value());
    if (why.has_predicted_improvement()) trial.bind(11, why.predicted_improvement());
    if (why.has_radius()) trial.bind(12, why.radius());
    if (why.has_sequence_index())
      trial.bind(13, static_cast<int64_t>(why.sequence_index()));
    trial.bind(14, t.state() == v1::TRIAL_STATE_ABANDONED ? t.failure_reason() : "");
    trial.bind(15, static_cast<int64_t>(ToMicros(t.create_time())));
    trial.bind(16, static_cast<int64_t>(now_us));
    if (why.has_acquisition_weight()) trial.bind(17, why.acquisition_weight());
    trial.bind(18, revision);
    trial.exec();

    const bool has_result =
        t.state() == v1::TRIAL_STATE_COMPLETED || t.state() == v1::TRIAL_STATE_FAILED;
    if (!has_result) return;
    SQLite::Statement obs(*db_,
                          "INSERT INTO observations (study_id, trial_id, failed, value, "
                          "gradient, noise_std, failure_reason, observe_time_us, "
                          "completion_revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON "
                          "CONFLICT (study_id, trial_id) DO NOTHING");
    obs.bind(1, study_id);
    obs.bind(2, static_cast<int64_t>(t.id()));
    obs.bind(3, t.state() == v1::TRIAL_STATE_FAILED ? 1 : 0);
    if (t.has_value()) obs.bind(4, t.value());
    if (t.gradient_size() > 0) obs.bind(5, FormatArray(t.gradient()));
    if (t.has_noise_std()) obs.bind(6, t.noise_std());
    obs.bind(7, t.failure_reason());
    obs.bind(8, static_cast<int64_t>(ToMicros(t.complete_time())));
    obs.bind(9, revision);
    obs.exec();
  }

  std::string Description() const override {
    return absl::StrCat("SQLite file ", db_->getFilename(), " (schema ", kSchemaVersion,
                        ")");
  }

  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;
  // Revision's statement, prepared at its first use.
  std::unique_ptr<SQLite::Statement> revision_query_;
  const std::string lock_path_;
};

absl::Status Migrate(SQLite::Database& db) {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  int version = 0;
  {
    SQLite::Statement q(db, "SELECT max(version) FROM schema_version");
    if (q.executeStep() && !q.isColumnNull(0)) version = q.getColumn(0).getInt();
  }
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database has schema version ", version, "; this server knows up to ",
        kSchemaVersion, ": upgrade the server"));
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(kMigrations[v]);
    SQLite::Statement record(db, "INSERT INTO schema_version (version) VALUES (?)");
    record.bind(1, v + 1);
    record.exec();
    txn.commit();
  }
  return absl::OkStatus();
}

}  // namespace

int SqliteSchemaVersion() { return kSchemaVersion; }

absl::StatusOr<std::unique_ptr<StudyStore>> OpenSqliteStore(
    const std::string& path, const SqliteOptions& options) {
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX,
        options.busy_timeout_ms);
    {
      const std::string result = db->execAndGet("PRAGMA integrity_check").getString();
      if (result != "ok") {
        return absl::FailedPreconditionError(absl::StrCat(
            "database ", path, " fails PRAGMA integrity_check: ", result.substr(0, 200)));
      }
    }
    if (db->execAndGet("PRAGMA journal_mode=WAL").getString() != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat("database ", path, ": cannot switch to WAL journal mode"));
    }
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    absl::Status migrated = Migrate(*db);
    if (!migrated.ok()) return migrated;
    // The study locks' file, created now so that a folder where it cannot be
    // made fails at start rather than at the first change.
    const std::string lock_path = path + "-lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot open the lock file ", lock_path, ": ", std::strerror(errno)));
    }
    ::close(fd);
    return std::unique_ptr<StudyStore>(new SqliteStudyStore(std::move(db), lock_path));
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_NOTADB || e.getErrorCode() == SQLITE_CORRUPT) {
      return absl::FailedPreconditionError(
          absl::StrCat("database ", path, " is not a valid SQLite file: ", e.what()));
    }
    if (e.getErrorCode() == SQLITE_CANTOPEN) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open database ", path, ": ", e.what()));
    }
    return MapException(e, absl::StrCat("opening database ", path));
  }
}

}  // namespace lago::storage
