#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/study_store.h"
#include "tests/server/test_util.h"

namespace lago::storage {
namespace {

using ::testing::HasSubstr;

v1::Study MakeStudy(const std::string& name) {
  v1::Study study;
  study.set_name(name);
  v1::Parameter* p = study.mutable_spec()->add_parameters();
  p->set_name("x");
  p->set_lower(-1.0);
  p->set_upper(1.0);
  study.mutable_spec()->set_strategy("sobol");
  study.set_state(v1::STUDY_STATE_ACTIVE);
  study.mutable_create_time()->set_seconds(1800000000);
  study.mutable_update_time()->set_seconds(1800000000);
  return study;
}

// MakeStudy with a second, categorical parameter.
v1::Study MakeCategoricalStudy(const std::string& name) {
  v1::Study study = MakeStudy(name);
  v1::Parameter* p = study.mutable_spec()->add_parameters();
  p->set_name("solvent");
  p->set_type(v1::PARAMETER_TYPE_CATEGORICAL);
  p->set_upper(2.0);
  for (const char* label : {"water", "ethanol", "ethyl acetate"}) p->add_choices(label);
  return study;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::string db_path() const { return dir_.path() + "/lago.db"; }
  lago::testing::TempDir dir_;
};

TEST_F(SqliteStoreTest, OpensWithWalFullSyncAndTheCurrentSchema) {
  auto store = OpenSqliteStore(db_path());
  ASSERT_TRUE(store.ok()) << store.status();
  SQLite::Database db(db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(db.execAndGet("SELECT max(version) FROM schema_version").getInt(),
            SqliteSchemaVersion());
  for (const char* table : {"studies", "parameters", "parameter_choices", "trials",
                            "observations", "strategy_state", "requests"}) {
    EXPECT_TRUE(db.tableExists(table)) << table;
  }
}

TEST_F(SqliteStoreTest, StudiesAndTrialsSurviveAReopen) {
  int64_t id = 0;
  v1::Trial trial;
  trial.set_id(1);
  // Values that a lossy text format would round: the store must keep every bit.
  trial.add_x(0.1 + 0.2);
  trial.set_kind(v1::TRIAL_KIND_INITIAL);
  trial.set_state(v1::TRIAL_STATE_COMPLETED);
  trial.set_value(-1.0 / 3.0);
  trial.add_gradient(5e-324);
  trial.set_noise_std(0.25);
  trial.mutable_why()->set_winner("sobol");
  trial.mutable_why()->set_sequence_index(7);
  trial.mutable_why()->set_acquisition_weight(0.125);
  trial.mutable_complete_time()->set_seconds(1800000001);
  {
    auto store = OpenSqliteStore(db_path());
    ASSERT_TRUE(store.ok());
    auto record = (*store)->CreateStudy(MakeStudy("s"));
    ASSERT_TRUE(record.ok()) << record.status();
    id = record->id;
    StudyWrite write;
    write.study_id = id;
    write.expected_revision = record->revision;
    write.update_time_micros = 1800000001000000;
    write.trials.push_back(trial);
    write.strategy_state = "next_index=1";
    write.request = RequestRecord{"r1", "ObserveTrial", "fp", "response-bytes"};
    ASSERT_TRUE((*store)->Commit(write).ok());
  }
  auto store = OpenSqliteStore(db_path());
  ASSERT_TRUE(store.ok());
  auto snapshot = (*store)->LoadStudy(id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->record.study.name(), "s");
  EXPECT_EQ(snapshot->strategy_state, "next_index=1");
  ASSERT_EQ(snapshot->trials.size(), 1u);
  const v1::Trial& t = snapshot->trials[0];
  EXPECT_EQ(t.x(0), 0.1 + 0.2);
  EXPECT_EQ(t.value(), -1.0 / 3.0);
  EXPECT_EQ(t.gradient(0), 5e-324);
  EXPECT_EQ(t.noise_std(), 0.25);
  EXPECT_EQ(t.state(), v1::TRIAL_STATE_COMPLETED);
  EXPECT_EQ(t.why().sequence_index(), 7);
  EXPECT_EQ(t.why().acquisition_weight(), 0.125);
  EXPECT_FALSE(t.why().has_acquisition_value());
  EXPECT_EQ(t.complete_time().seconds(), 1800000001);
  auto request = (*store)->FindRequest(id, "r1");
  ASSERT_TRUE(request.ok() && request->has_value());
  EXPECT_EQ((*request)->response, "response-bytes");
  EXPECT_FALSE((*(*store)->FindRequest(id, "r2")).has_value());
}

TEST_F(SqliteStoreTest, DuplicateNameIsAlreadyExists) {
  auto store = OpenSqliteStore(db_path());
  ASSERT_TRUE((*store)->CreateStudy(MakeStudy("s")).ok());
  EXPECT_EQ((*store)->CreateStudy(MakeStudy("s")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(SqliteStoreTest, DeleteRemovesEveryRowOfTheStudy) {
  auto store = OpenSqliteStore(db_path());
  auto keep = (*store)->CreateStudy(MakeStudy("keep"));
  auto gone = (*store)->CreateStudy(MakeCategoricalStudy("gone"));
  StudyWrite write;
  write.study_id = gone->id;
  write.expected_revision = gone->revision;
  v1::Trial t;
  t.set_id(1);
  t.add_x(0.5);
  t.set_state(v1::TRIAL_STATE_COMPLETED);
  t.set_value(1.0);
  write.trials.push_back(t);
  write.strategy_state = "s";
  ASSERT_TRUE((*store)->Commit(write).ok());
  ASSERT_TRUE((*store)->DeleteStudy(gone->id).ok());
  SQLite::Database db(db_path(), SQLite::OPEN_READONLY);
  for (const char* table :
       {"parameters", "parameter_choices", "trials", "observations", "strategy_state"}) {
    EXPECT_EQ(db.execAndGet(std::string("SELECT count(*) FROM ") + table +
                            " WHERE study_id = " + std::to_string(gone->id))
                  .getInt(),
              0)
        << table;
  }
  EXPECT_EQ((*store)->DeleteStudy(gone->id).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*(*store)->FindStudy("keep")).has_value());
}

TEST_F(SqliteStoreTest, ACategoricalParameterHasItsTypeAndLabelsInTables) {
  auto store = OpenSqliteStore(db_path());
  auto created = (*store)->CreateStudy(MakeCategoricalStudy("c"));
  ASSERT_TRUE(created.ok()) << created.status();
  SQLite::Database db(db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT group_concat(type, ',') FROM (SELECT type FROM "
                          "parameters ORDER BY position)")
                .getString(),
            "continuous,categorical");
  EXPECT_EQ(db.execAndGet("SELECT group_concat(label, ',') FROM (SELECT label FROM "
                          "parameter_choices WHERE position = 1 ORDER BY choice)")
                .getString(),
            "water,ethanol,ethyl acetate");
  // The spec itself, labels included, comes back from the file.
  auto found = (*store)->FindStudy("c");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->study.spec().parameters(1).choices(2), "ethyl acetate");
}

TEST_F(SqliteStoreTest, ABusyDatabaseIsUnavailableAndChangesNothing) {
  SqliteOptions options;
  options.busy_timeout_ms = 50;
  auto store = OpenSqliteStore(db_path(), options);
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  const std::string before = lago::testing::DumpDatabase(db_path());
  // Another process holds the write lock.
  SQLite::Database other(db_path(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  StudyWrite write;
  write.study_id = record->id;
  write.expected_revision = record->revision;
  write.strategy_state = "x";
  const absl::Status status = (*store)->Commit(write).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("SELECT")));
  other.exec("ROLLBACK");
  EXPECT_EQ(lago::testing::DumpDatabase(db_path()), before);
}

TEST_F(SqliteStoreTest, ACommitFromAnotherRevisionIsAbortedAndChangesNothing) {
  auto store = OpenSqliteStore(db_path());
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok());
  StudyWrite write;
  write.study_id = record->id;
  write.expected_revision = record->revision;
  write.strategy_state = "first";
  auto revision = (*store)->Commit(write);
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_GT(*revision, record->revision);
  EXPECT_EQ(*(*store)->Revision(record->id), *revision);

  // A second process computed its write from the revision before.
  const std::string before = lago::testing::DumpDatabase(db_path());
  auto other = OpenSqliteStore(db_path());
  ASSERT_TRUE(other.ok());
  write.strategy_state = "second";
  const absl::Status status = (*other)->Commit(write).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("nothing was written"));
  EXPECT_EQ(lago::testing::DumpDatabase(db_path()), before);
  EXPECT_EQ((*(*other)->LoadStudy(record->id)).strategy_state, "first");
  EXPECT_EQ((*other)->Revision(record->id + 1).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, AStudyCreatedAgainNeverRepeatsARevision) {
  auto store = OpenSqliteStore(db_path());
  auto first = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(first.ok());
  StudyWrite write;
  write.study_id = first->id;
  write.expected_revision = first->revision;
  auto committed = (*store)->Commit(write);
  ASSERT_TRUE(committed.ok());
  ASSERT_TRUE((*store)->DeleteStudy(first->id).ok());
  // SQLite gives the freed id to the next study.
  auto second = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->id, first->id);
  EXPECT_GT(second->revision, *committed);
  write.study_id = second->id;
  EXPECT_EQ((*store)->Commit(write).status().code(), absl::StatusCode::kAborted);
}

TEST_F(SqliteStoreTest, AStudyLockExcludesOtherHoldersUntilReleased) {
  auto store = OpenSqliteStore(db_path());
  auto other = OpenSqliteStore(db_path());
  ASSERT_TRUE(store.ok() && other.ok());
  auto held = (*store)->LockStudy(1);
  ASSERT_TRUE(held.ok()) << held.status();
  // Another study's lock is free.
  EXPECT_TRUE((*other)->LockStudy(2).ok());
  // The same study waits, from another connection and from the same store.
  std::atomic<int> acquired{0};
  std::vector<std::thread> waiters;
  for (StudyStore* s : {other->get(), store->get()}) {
    waiters.emplace_back([s, &acquired] {
      auto lock = s->LockStudy(1);
      ASSERT_TRUE(lock.ok()) << lock.status();
      ++acquired;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(acquired.load(), 0);
  held->reset();
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(acquired.load(), 2);
}

TEST_F(SqliteStoreTest, RefusesAFileThatIsNotADatabase) {
  std::ofstream(db_path()) << std::string(8192, 'x');
  auto store = OpenSqliteStore(db_path());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(db_path()));
}

TEST_F(SqliteStoreTest, RefusesACorruptDatabase) {
  {
    auto store = OpenSqliteStore(db_path());
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE((*store)->CreateStudy(MakeStudy("study-" + std::to_string(i))).ok());
    }
  }  // Closing the last connection checkpoints the WAL into the file.
  {
    // Overwrite the middle of a B-tree page behind SQLite's back.
    std::fstream f(db_path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 3 + 100);
    const std::string junk(2000, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto store = OpenSqliteStore(db_path());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition)
      << store.status();
}

TEST_F(SqliteStoreTest, MigratesAVersion1DatabaseAndKeepsItsTrials) {
  int64_t id = 0;
  {
    auto store = OpenSqliteStore(db_path());
    ASSERT_TRUE(store.ok());
    auto record = (*store)->CreateStudy(MakeStudy("old"));
    ASSERT_TRUE(record.ok());
    id = record->id;
    StudyWrite write;
    write.study_id = id;
    write.expected_revision = record->revision;
    write.update_time_micros = 1800000001000000;
    v1::Trial t;
    t.set_id(1);
    t.add_x(0.5);
    t.set_state(v1::TRIAL_STATE_PENDING);
    t.mutable_why()->set_winner("global");
    t.mutable_why()->set_acquisition_value(2.5);
    write.trials.push_back(t);
    // Trial 3's result arrives before trial 2's.
    for (int id : {3, 2}) {
      t.set_id(id);
      t.set_state(v1::TRIAL_STATE_COMPLETED);
      t.set_value(id);
      write.trials.push_back(t);
      auto revision = (*store)->Commit(write);
      ASSERT_TRUE(revision.ok()) << revision.status();
      write.expected_revision = *revision;
      write.trials.clear();
    }
  }
  {
    // The same file as a server before schema version 2 left it.
    SQLite::Database db(db_path(), SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE trials DROP COLUMN why_acquisition_weight");
    db.exec("ALTER TABLE parameters DROP COLUMN scale");
    db.exec("ALTER TABLE parameters DROP COLUMN type");
    db.exec("DROP TABLE parameter_choices");
    db.exec("ALTER TABLE studies DROP COLUMN revision");
    db.exec("DROP TABLE revision_sequence");
    db.exec("ALTER TABLE observations DROP COLUMN completion_revision");
    db.exec("DELETE FROM schema_version WHERE version > 1");
  }
  auto store = OpenSqliteStore(db_path());
  ASSERT_TRUE(store.ok()) << store.status();
  auto snapshot = (*store)->LoadStudy(id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->trials.size(), 3u);
  EXPECT_EQ(snapshot->trials[0].why().acquisition_value(), 2.5);
  // Results from before their order was stored keep the order of their rows.
  EXPECT_EQ(snapshot->result_order, (std::vector<int64_t>{3, 2}));
  EXPECT_FALSE(snapshot->trials[0].why().has_acquisition_weight());
  // Studies from before revisions are at revision 0.
  EXPECT_EQ(snapshot->record.revision, 0);
  {
    SQLite::Database db(db_path(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("SELECT max(version) FROM schema_version").getInt(),
              SqliteSchemaVersion());
    // Parameters from before scales are linear.
    EXPECT_EQ(db.execAndGet("SELECT group_concat(scale) FROM parameters").getString(),
              "linear");
    // And continuous, from before integer parameters.
    EXPECT_EQ(db.execAndGet("SELECT group_concat(type) FROM parameters").getString(),
              "continuous");
    // The table of categorical labels is back, empty.
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM parameter_choices").getInt(), 0);
  }
  // A trial written after the migration keeps its weight.
  StudyWrite write;
  write.study_id = id;
  write.update_time_micros = 1800000002000000;
  v1::Trial t = snapshot->trials[0];
  t.set_id(4);
  t.set_state(v1::TRIAL_STATE_COMPLETED);
  t.set_value(4.0);
  t.mutable_why()->set_acquisition_weight(0.5);
  write.trials.push_back(t);
  auto revision = (*store)->Commit(write);
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_GT(*revision, 0);
  snapshot = (*store)->LoadStudy(id);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->record.revision, *revision);
  ASSERT_EQ(snapshot->trials.size(), 4u);
  EXPECT_EQ(snapshot->trials[3].why().acquisition_weight(), 0.5);
  EXPECT_EQ(snapshot->result_order, (std::vector<int64_t>{3, 2, 4}));
}

TEST_F(SqliteStoreTest, RefusesANewerSchema) {
  { ASSERT_TRUE(OpenSqliteStore(db_path()).ok()); }
  {
    SQLite::Database db(db_path(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO schema_version (version) VALUES (99)");
  }
  auto store = OpenSqliteStore(db_path());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("schema version 99"));
}

}  // namespace
}  // namespace lago::storage
