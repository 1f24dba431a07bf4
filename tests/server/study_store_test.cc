#include "server/storage/study_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace lago::storage {
namespace {

using ::testing::ElementsAre;
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

// A write to the study of `record`, from the revision the record has.
StudyWrite WriteFrom(const StudyRecord& record) {
  StudyWrite write;
  write.study_id = record.id;
  write.expected_revision = record.revision;
  return write;
}

// Trial `id` at x = 0.5, completed with `value`.
v1::Trial CompletedTrial(int64_t id, double value) {
  v1::Trial t;
  t.set_id(id);
  t.add_x(0.5);
  t.set_state(v1::TRIAL_STATE_COMPLETED);
  t.set_value(value);
  return t;
}

enum class Backend { kSqlite, kPostgres };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

// What every backend promises (study_store.h), on a new SQLite file or a new
// PostgreSQL database of the test server.
class StudyStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) LAGO_REQUIRE_POSTGRES(postgres_);
  }

  std::string database() const {
    return postgres_ != nullptr ? postgres_->uri() : dir_.path() + "/lago.db";
  }

  // A new store on the test's database: another process, as far as the
  // database can tell.
  absl::StatusOr<std::unique_ptr<StudyStore>> Open(int busy_timeout_ms = 5000) {
    return OpenStore(database(), busy_timeout_ms);
  }

  // The first column of each row of `sql`, read on a connection of its own.
  std::vector<std::string> Column(const std::string& sql) const {
    if (postgres_ != nullptr) return postgres_->Column(sql);
    SQLite::Database db(database(), SQLite::OPEN_READONLY);
    SQLite::Statement query(db, sql);
    std::vector<std::string> out;
    while (query.executeStep()) out.push_back(query.getColumn(0).getString());
    return out;
  }

  // Every row of every table as text: equal dumps, equal contents.
  std::string Dump() const {
    if (postgres_ == nullptr) return lago::testing::DumpDatabase(database());
    std::string out;
    for (const char* table :
         {"studies", "revision_sequence", "parameters", "parameter_choices", "trials",
          "observations", "strategy_state", "requests", "schema_version"}) {
      out += std::string(table) + ":\n";
      for (const std::string& row : postgres_->Column(
               std::string("SELECT r::text FROM ") + table + " r ORDER BY r::text"))
        out += row + "\n";
    }
    return out;
  }

  // Another process in the middle of a write, holding what a commit needs
  // (SQLite's write lock, or the studies' row locks) until Release().
  class WriteInProgress {
   public:
    explicit WriteInProgress(const StudyStoreTest& test) {
      if (test.postgres_ != nullptr) {
        session_ = std::make_unique<lago::testing::PostgresSession>(test.database());
        session_->Column("BEGIN");
        session_->Column("SELECT id FROM studies FOR UPDATE");
      } else {
        sqlite_ =
            std::make_unique<SQLite::Database>(test.database(), SQLite::OPEN_READWRITE);
        sqlite_->exec("BEGIN IMMEDIATE");
      }
    }
    void Release() {
      if (session_ != nullptr) session_->Column("ROLLBACK");
      if (sqlite_ != nullptr) sqlite_->exec("ROLLBACK");
      session_.reset();
      sqlite_.reset();
    }

   private:
    std::unique_ptr<lago::testing::PostgresSession> session_;
    std::unique_ptr<SQLite::Database> sqlite_;
  };

  lago::testing::TempDir dir_;
  std::unique_ptr<lago::testing::PostgresDatabase> postgres_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StudyStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         BackendName);

TEST_P(StudyStoreTest, StudiesAndTrialsSurviveAReopen) {
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
    auto store = Open();
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
  auto store = Open();
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

// One commit of many trials with every optional field present or absent, and
// text that a careless quoting of rows would break: each comes back as it went
// in.
TEST_P(StudyStoreTest, ManyTrialsInOneCommitComeBackBitForBit) {
  auto store = Open();
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok()) << record.status();
  const std::vector<std::string> texts = {"",
                                          "NULL",
                                          "a\"b",
                                          "back\\slash",
                                          "{braces},commas",
                                          "\xc3\xa9t\xc3\xa9 \t tab",
                                          "'single' quotes"};
  // Not -0.0: SQLite stores a REAL column's -0.0 as 0. Arrays, kept as text,
  // keep it (x below).
  const std::vector<double> values = {0.1 + 0.2, -1.0 / 3.0, 5e-324, -1e308, 1e308, 2.5};
  StudyWrite write = WriteFrom(*record);
  write.update_time_micros = 1800000001000000;
  constexpr int kTrials = 3000;
  for (int i = 1; i <= kTrials; ++i) {
    v1::Trial t;
    t.set_id(i);
    t.add_x(values[i % values.size()]);
    t.add_x(static_cast<double>(i));
    t.add_x(-0.0);
    t.set_kind(i % 2 == 0 ? v1::TRIAL_KIND_GLOBAL : v1::TRIAL_KIND_LOCAL);
    t.set_need_gradient(i % 3 == 0);
    t.set_client_id(texts[i % texts.size()]);
    t.mutable_lease_expire_time()->set_seconds(1800000000 + i);
    t.mutable_create_time()->set_seconds(1800000000 - i);
    v1::TrialWhy* why = t.mutable_why();
    why->set_winner(texts[(i + 1) % texts.size()]);
    if (i % 2 == 0) why->set_acquisition_value(values[(i + 1) % values.size()]);
    if (i % 3 == 0) why->set_predicted_improvement(values[(i + 2) % values.size()]);
    if (i % 4 == 0) why->set_radius(0.5);
    if (i % 5 == 0) why->set_sequence_index(i);
    if (i % 6 == 0) why->set_acquisition_weight(0.125);
    switch (i % 4) {
      case 0:
        t.set_state(v1::TRIAL_STATE_PENDING);
        break;
      case 1:
        t.set_state(v1::TRIAL_STATE_COMPLETED);
        t.set_value(values[i % values.size()]);
        if (i % 3 == 0) t.add_gradient(values[(i + 3) % values.size()]);
        if (i % 5 == 0) t.set_noise_std(0.25);
        t.mutable_complete_time()->set_seconds(1800000002);
        break;
      case 2:
        t.set_state(v1::TRIAL_STATE_FAILED);
        t.set_failure_reason(texts[(i + 2) % texts.size()]);
        t.mutable_complete_time()->set_seconds(1800000003);
        break;
      default:
        t.set_state(v1::TRIAL_STATE_ABANDONED);
        t.set_failure_reason(texts[(i + 3) % texts.size()]);
        break;
    }
    write.trials.push_back(t);
  }
  write.strategy_state = std::string("state\0with a NUL byte", 22);
  auto committed = (*store)->Commit(write);
  ASSERT_TRUE(committed.ok()) << committed.status();
  auto other = Open();
  auto snapshot = (*other)->LoadStudy(record->id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->trials.size(), write.trials.size());
  for (size_t i = 0; i < write.trials.size(); ++i) {
    ASSERT_EQ(snapshot->trials[i].SerializeAsString(),
              write.trials[i].SerializeAsString())
        << "trial " << i + 1 << ": " << snapshot->trials[i].DebugString() << " against "
        << write.trials[i].DebugString();
  }
  EXPECT_EQ(snapshot->strategy_state, *write.strategy_state);
  EXPECT_EQ(snapshot->result_order.size(), static_cast<size_t>(kTrials / 2));
}

// A trial listed twice in one write is stored as two writes one after the
// other would store it: its row from the last entry, its result from the
// first.
TEST_P(StudyStoreTest, ATrialListedTwiceInOneWriteKeepsItsLastRowAndFirstResult) {
  auto store = Open();
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok()) << record.status();
  StudyWrite write = WriteFrom(*record);
  v1::Trial t = CompletedTrial(1, 1.0);
  t.set_client_id("first");
  write.trials.push_back(t);
  t.set_value(2.0);
  t.set_client_id("second");
  write.trials.push_back(t);
  ASSERT_TRUE((*store)->Commit(write).ok());
  auto snapshot = (*store)->LoadStudy(record->id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->trials.size(), 1u);
  EXPECT_EQ(snapshot->trials[0].client_id(), "second");
  EXPECT_EQ(snapshot->trials[0].value(), 1.0);
  EXPECT_EQ(snapshot->result_order, (std::vector<int64_t>{1}));
}

TEST_P(StudyStoreTest, DuplicateNameIsAlreadyExists) {
  auto store = Open();
  ASSERT_TRUE((*store)->CreateStudy(MakeStudy("s")).ok());
  EXPECT_EQ((*store)->CreateStudy(MakeStudy("s")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(StudyStoreTest, DeleteRemovesEveryRowOfTheStudy) {
  auto store = Open();
  auto keep = (*store)->CreateStudy(MakeStudy("keep"));
  auto gone = (*store)->CreateStudy(MakeCategoricalStudy("gone"));
  StudyWrite write = WriteFrom(*gone);
  write.trials.push_back(CompletedTrial(1, 1.0));
  write.strategy_state = "s";
  ASSERT_TRUE((*store)->Commit(write).ok());
  ASSERT_TRUE((*store)->DeleteStudy(gone->id).ok());
  for (const char* table :
       {"parameters", "parameter_choices", "trials", "observations", "strategy_state"}) {
    EXPECT_THAT(Column(std::string("SELECT count(*) FROM ") + table +
                       " WHERE study_id = " + std::to_string(gone->id)),
                ElementsAre("0"))
        << table;
  }
  EXPECT_EQ((*store)->DeleteStudy(gone->id).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*(*store)->FindStudy("keep")).has_value());
}

TEST_P(StudyStoreTest, ACategoricalParameterHasItsTypeAndLabelsInTables) {
  auto store = Open();
  auto created = (*store)->CreateStudy(MakeCategoricalStudy("c"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(Column("SELECT type FROM parameters ORDER BY position"),
              ElementsAre("continuous", "categorical"));
  EXPECT_THAT(
      Column("SELECT label FROM parameter_choices WHERE position = 1 ORDER BY choice"),
      ElementsAre("water", "ethanol", "ethyl acetate"));
  // The spec itself, labels included, comes back from the database.
  auto found = (*store)->FindStudy("c");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->study.spec().parameters(1).choices(2), "ethyl acetate");
}

TEST_P(StudyStoreTest, ACommitFromAnotherRevisionIsAbortedAndChangesNothing) {
  auto store = Open();
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok());
  StudyWrite write = WriteFrom(*record);
  write.strategy_state = "first";
  auto revision = (*store)->Commit(write);
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_GT(*revision, record->revision);
  EXPECT_EQ(*(*store)->Revision(record->id), *revision);

  // A second process computed its write from the revision before.
  const std::string before = Dump();
  auto other = Open();
  ASSERT_TRUE(other.ok());
  write.strategy_state = "second";
  const absl::Status status = (*other)->Commit(write).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("nothing was written"));
  EXPECT_EQ(Dump(), before);
  EXPECT_EQ((*(*other)->LoadStudy(record->id)).strategy_state, "first");
  EXPECT_EQ((*other)->Revision(record->id + 1).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StudyStoreTest, AStudyCreatedAgainNeverRepeatsARevision) {
  auto store = Open();
  auto first = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(first.ok());
  StudyWrite write;
  write.study_id = first->id;
  write.expected_revision = first->revision;
  auto committed = (*store)->Commit(write);
  ASSERT_TRUE(committed.ok());
  ASSERT_TRUE((*store)->DeleteStudy(first->id).ok());
  // SQLite gives the freed id to the next study (PostgreSQL never reuses one).
  auto second = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(second.ok());
  if (GetParam() == Backend::kSqlite) {
    EXPECT_EQ(second->id, first->id);
  }
  EXPECT_GT(second->revision, *committed);
  write.study_id = second->id;
  EXPECT_EQ((*store)->Commit(write).status().code(), absl::StatusCode::kAborted);
}

// Ids of `trials`, in their order.
std::vector<int64_t> IdsOf(const std::vector<v1::Trial>& trials) {
  std::vector<int64_t> ids;
  for (const v1::Trial& t : trials) ids.push_back(t.id());
  return ids;
}

TEST_P(StudyStoreTest, ChangesAfterARevisionAreWhatTheLaterCommitsWrote) {
  auto store = Open();
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok());
  const int64_t created = record->revision;
  StudyWrite write;
  write.study_id = record->id;
  write.expected_revision = created;
  auto trial = [](int64_t id, v1::TrialState state, double value) {
    v1::Trial t;
    t.set_id(id);
    t.add_x(0.25 * static_cast<double>(id));
    t.set_state(state);
    if (state == v1::TRIAL_STATE_COMPLETED) t.set_value(value);
    return t;
  };
  // One commit after another; each returns its revision.
  auto commit = [&](std::vector<v1::Trial> trials,
                    std::optional<std::string> state) -> int64_t {
    write.trials = std::move(trials);
    write.strategy_state = std::move(state);
    auto revision = (*store)->Commit(write);
    EXPECT_TRUE(revision.ok()) << revision.status();
    write.expected_revision = revision.value_or(0);
    return write.expected_revision;
  };
  const int64_t r1 =
      commit({trial(1, v1::TRIAL_STATE_PENDING, 0), trial(2, v1::TRIAL_STATE_PENDING, 0)},
             "state 1");
  const int64_t r2 = commit(
      {trial(2, v1::TRIAL_STATE_COMPLETED, 2.0), trial(3, v1::TRIAL_STATE_PENDING, 0)},
      std::nullopt);
  const int64_t r3 = commit(
      {trial(1, v1::TRIAL_STATE_FAILED, 0), trial(3, v1::TRIAL_STATE_COMPLETED, 3.0)},
      "state 3");
  const int64_t r4 = commit({trial(4, v1::TRIAL_STATE_PENDING, 0)}, std::nullopt);

  // Read by another process, as a second server would.
  auto other = Open();
  ASSERT_TRUE(other.ok());
  auto after_r1 = (*other)->LoadChanges(record->id, r1);
  ASSERT_TRUE(after_r1.ok()) << after_r1.status();
  EXPECT_EQ(after_r1->record.revision, r4);
  EXPECT_EQ(IdsOf(after_r1->trials), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(after_r1->trials[1].value(), 2.0);
  EXPECT_EQ(after_r1->trials[0].state(), v1::TRIAL_STATE_FAILED);
  // Results in the order they were stored: trial 2's, then 1's and 3's together.
  EXPECT_EQ(after_r1->result_order, (std::vector<int64_t>{2, 1, 3}));
  EXPECT_EQ(after_r1->strategy_state, "state 3");
  EXPECT_EQ(after_r1->trial_count, 4);
  EXPECT_EQ(after_r1->result_count, 3);

  auto after_r3 = (*other)->LoadChanges(record->id, r3);
  ASSERT_TRUE(after_r3.ok()) << after_r3.status();
  EXPECT_EQ(IdsOf(after_r3->trials), (std::vector<int64_t>{4}));
  EXPECT_TRUE(after_r3->result_order.empty());
  EXPECT_FALSE(after_r3->strategy_state.has_value());

  auto after_r2 = (*other)->LoadChanges(record->id, r2);
  ASSERT_TRUE(after_r2.ok()) << after_r2.status();
  EXPECT_EQ(IdsOf(after_r2->trials), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(after_r2->result_order, (std::vector<int64_t>{1, 3}));

  // From the study's first revision: every trial, as a whole load reads it.
  auto all = (*other)->LoadChanges(record->id, created);
  auto whole = (*other)->LoadStudy(record->id);
  ASSERT_TRUE(all.ok() && whole.ok());
  ASSERT_EQ(all->trials.size(), whole->trials.size());
  for (size_t i = 0; i < all->trials.size(); ++i) {
    EXPECT_EQ(all->trials[i].SerializeAsString(), whole->trials[i].SerializeAsString())
        << "trial " << i + 1;
  }
  EXPECT_EQ(all->result_order, whole->result_order);

  // Nothing after the current revision: the record alone.
  auto none = (*other)->LoadChanges(record->id, r4);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->record.revision, r4);
  EXPECT_EQ(none->record.study.name(), "s");
  EXPECT_TRUE(none->trials.empty());
  EXPECT_FALSE(none->strategy_state.has_value());

  // A revision before the study's own: the id named another study then.
  EXPECT_EQ((*other)->LoadChanges(record->id, created - 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*store)->DeleteStudy(record->id).ok());
  EXPECT_EQ((*other)->LoadChanges(record->id, r4).status().code(),
            absl::StatusCode::kNotFound);
  auto again = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(again.ok());
  // SQLite gives the new study the freed id; PostgreSQL never reuses one.
  EXPECT_EQ((*other)->LoadChanges(again->id, r4).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(StudyStoreTest, AStudyLockExcludesOtherHoldersUntilReleased) {
  auto store = Open();
  auto other = Open();
  ASSERT_TRUE(store.ok() && other.ok());
  auto held = (*store)->LockStudy(1, "");
  ASSERT_TRUE(held.ok()) << held.status();
  // Another study's lock is free.
  EXPECT_TRUE((*other)->LockStudy(2, "").ok());
  // The same study waits, from another connection and from the same store.
  std::atomic<int> acquired{0};
  std::vector<std::thread> waiters;
  for (StudyStore* s : {other->get(), store->get()}) {
    waiters.emplace_back([s, &acquired] {
      auto lock = s->LockStudy(1, "");
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

// PostgreSQL reads the study's revision with its lock, after the lock is
// held: a lock that waited for another holder's commit sees that commit.
// Its unlock is sent without waiting; the connection's next lock reads the
// answer first. SQLite leaves the revision to Revision().
TEST_P(StudyStoreTest, ALockReadsTheRevisionOnceItIsHeld) {
  auto store = Open();
  auto other = Open();
  ASSERT_TRUE(store.ok() && other.ok());
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok()) << record.status();
  for (int round = 0; round < 3; ++round) {
    auto held = (*store)->LockStudy(record->id, "");
    ASSERT_TRUE(held.ok()) << held.status();
    std::optional<int64_t> seen;
    bool has_seen = false;
    std::thread waiter([&] {
      auto lock = (*other)->LockStudy(record->id, "");
      ASSERT_TRUE(lock.ok()) << lock.status();
      seen = (*lock)->revision();
      has_seen = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    StudyWrite write = WriteFrom(*record);
    auto committed = (*store)->Commit(write);
    ASSERT_TRUE(committed.ok()) << committed.status();
    record->revision = *committed;
    held->reset();
    waiter.join();
    ASSERT_TRUE(has_seen);
    if (GetParam() == Backend::kPostgres) {
      EXPECT_EQ(seen, *committed) << "round " << round;
    } else {
      EXPECT_FALSE(seen.has_value());
    }
  }
  // A lock on a study that does not exist reads no revision.
  auto missing = (*store)->LockStudy(record->id + 1000, "");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE((*missing)->revision().has_value());
}

// PostgreSQL also reads the record of the request id given to the lock, once
// the lock is held: a retried request whose first attempt committed while the
// retry waited for the lock finds that attempt's answer. The id is quoted
// into the statement, so it has quotes and a backslash. SQLite leaves the
// record to FindRequest.
TEST_P(StudyStoreTest, ALockReadsTheRequestRecordOnceItIsHeld) {
  auto store = Open();
  auto other = Open();
  ASSERT_TRUE(store.ok() && other.ok());
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok()) << record.status();
  const std::string id = "it's \\x27; a \"retry\" --";
  const bool postgres = GetParam() == Backend::kPostgres;

  // No record yet: read, and absent.
  {
    auto lock = (*other)->LockStudy(record->id, id);
    ASSERT_TRUE(lock.ok()) << lock.status();
    EXPECT_EQ((*lock)->read_request(id), postgres);
    EXPECT_FALSE((*lock)->request().has_value());
  }

  auto held = (*store)->LockStudy(record->id, "");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_FALSE((*held)->read_request(""));
  std::optional<RequestRecord> seen;
  bool read = false;
  std::optional<int64_t> revision;
  std::thread waiter([&] {
    auto lock = (*other)->LockStudy(record->id, id);
    ASSERT_TRUE(lock.ok()) << lock.status();
    read = (*lock)->read_request(id);
    // Only the id it was given.
    EXPECT_FALSE((*lock)->read_request("another"));
    seen = (*lock)->request();
    revision = (*lock)->revision();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  StudyWrite write = WriteFrom(*record);
  write.request = RequestRecord{id, "SuggestTrials", std::string("f\0p", 3),
                                std::string("\x00\xff response", 11)};
  auto committed = (*store)->Commit(write);
  ASSERT_TRUE(committed.ok()) << committed.status();
  held->reset();
  waiter.join();
  EXPECT_EQ(read, postgres);
  if (postgres) {
    EXPECT_EQ(revision, *committed);
    ASSERT_TRUE(seen.has_value());
    EXPECT_EQ(seen->request_id, id);
    EXPECT_EQ(seen->method, "SuggestTrials");
    EXPECT_EQ(seen->fingerprint, std::string("f\0p", 3));
    EXPECT_EQ(seen->response, std::string("\x00\xff response", 11));
  } else {
    EXPECT_FALSE(seen.has_value());
  }
  // Another id of the same study has no record.
  {
    auto lock = (*other)->LockStudy(record->id, "another");
    ASSERT_TRUE(lock.ok()) << lock.status();
    EXPECT_EQ((*lock)->read_request("another"), postgres);
    EXPECT_FALSE((*lock)->request().has_value());
  }
  // The record belongs to its study: another study's lock does not find it.
  auto second = (*store)->CreateStudy(MakeStudy("t"));
  ASSERT_TRUE(second.ok()) << second.status();
  auto lock = (*other)->LockStudy(second->id, id);
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ((*lock)->read_request(id), postgres);
  EXPECT_FALSE((*lock)->request().has_value());
  // A study that does not exist: no revision, no record.
  auto missing = (*other)->LockStudy(second->id + 1000, id);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE((*missing)->revision().has_value());
  EXPECT_FALSE((*missing)->request().has_value());
}

// Two servers commit from the same revision at once: one write lands, the
// other is refused whole.
TEST_P(StudyStoreTest, OfTwoConcurrentCommitsFromOneRevisionOneLands) {
  auto store = Open();
  auto other = Open();
  ASSERT_TRUE(store.ok() && other.ok());
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok()) << record.status();
  for (int round = 0; round < 10; ++round) {
    const int64_t revision = *(*store)->Revision(record->id);
    std::vector<absl::StatusOr<int64_t>> results(2, absl::UnknownError("not run"));
    std::vector<std::thread> writers;
    for (int w = 0; w < 2; ++w) {
      StudyStore* s = w == 0 ? store->get() : other->get();
      writers.emplace_back([&, s, w] {
        StudyWrite write;
        write.study_id = record->id;
        write.expected_revision = revision;
        write.strategy_state = absl::StrCat("writer ", w);
        v1::Trial t;
        t.set_id(round * 2 + w + 1);
        t.add_x(0.5);
        t.set_state(v1::TRIAL_STATE_PENDING);
        write.trials.push_back(t);
        results[w] = s->Commit(write);
      });
    }
    for (std::thread& t : writers) t.join();
    int landed = -1;
    for (int w = 0; w < 2; ++w) {
      if (results[w].ok()) {
        EXPECT_EQ(landed, -1) << "both commits landed in round " << round;
        EXPECT_EQ(*results[w], revision + 1);
        landed = w;
      } else {
        EXPECT_EQ(results[w].status().code(), absl::StatusCode::kAborted)
            << results[w].status();
      }
    }
    ASSERT_NE(landed, -1) << "neither commit landed in round " << round;
    auto snapshot = (*other)->LoadStudy(record->id);
    ASSERT_TRUE(snapshot.ok());
    EXPECT_EQ(snapshot->strategy_state, absl::StrCat("writer ", landed));
    ASSERT_EQ(snapshot->trials.size(), static_cast<size_t>(round + 1));
    EXPECT_EQ(snapshot->trials.back().id(), round * 2 + landed + 1);
  }
}

// The database stays busy past the timeout (SQLite's busy timeout,
// PostgreSQL's lock_timeout): UNAVAILABLE, without SQL, and nothing written.
TEST_P(StudyStoreTest, ABusyDatabaseIsUnavailableAndChangesNothing) {
  auto store = Open(/*busy_timeout_ms=*/50);
  ASSERT_TRUE(store.ok()) << store.status();
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok());
  const std::string before = Dump();
  WriteInProgress other(*this);
  StudyWrite write = WriteFrom(*record);
  write.strategy_state = "x";
  const absl::Status status = (*store)->Commit(write).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("SELECT")));
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("UPDATE")));
  other.Release();
  EXPECT_EQ(Dump(), before);
  EXPECT_EQ(*(*store)->Revision(record->id), record->revision);
  // The lock gone, the same write lands.
  EXPECT_TRUE((*store)->Commit(write).ok());
}

TEST_P(StudyStoreTest, StudiesAreListedInByteOrderPageByPage) {
  auto store = Open();
  for (const char* name : {"b", "a", "B", "a-2", "\xc3\xa9t\xc3\xa9"}) {
    ASSERT_TRUE((*store)->CreateStudy(MakeStudy(name)).ok()) << name;
  }
  std::vector<std::string> names;
  std::string after;
  for (;;) {
    auto page = (*store)->ListStudies(after, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    for (const StudyRecord& r : *page) names.push_back(r.study.name());
    after = page->back().study.name();
  }
  EXPECT_THAT(names, ElementsAre("B", "a", "a-2", "b", "\xc3\xa9t\xc3\xa9"));
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { LAGO_REQUIRE_POSTGRES(db_); }
  std::unique_ptr<lago::testing::PostgresDatabase> db_;
};

TEST_F(PostgresStoreTest, ServersStartingTogetherCreateTheSchemaOnce) {
  std::vector<absl::StatusOr<std::unique_ptr<StudyStore>>> stores;
  for (int i = 0; i < 4; ++i) stores.emplace_back(absl::UnknownError("not run"));
  std::vector<std::thread> openers;
  for (int i = 0; i < 4; ++i)
    openers.emplace_back([&, i] { stores[i] = OpenPostgresStore(db_->uri()); });
  for (std::thread& t : openers) t.join();
  for (const auto& store : stores) ASSERT_TRUE(store.ok()) << store.status();
  // Each version's migration ran once.
  std::vector<std::string> versions;
  for (int v = 1; v <= PostgresSchemaVersion(); ++v)
    versions.push_back(std::to_string(v));
  EXPECT_EQ(db_->Column("SELECT version FROM schema_version ORDER BY version"), versions);
  EXPECT_THAT((*stores[0])->Description(),
              ::testing::StartsWith("PostgreSQL database postgresql://"));
}

TEST_F(PostgresStoreTest, ALostConnectionIsOpenedAgainAtTheNextCall) {
  auto store = OpenPostgresStore(db_->uri());
  ASSERT_TRUE(store.ok()) << store.status();
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok());
  // An administrator (or a restart of PostgreSQL) ends the server's sessions.
  db_->Column(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
      "application_name = 'lago-server' AND datname = current_database()");
  const absl::StatusOr<int64_t> first = (*store)->Revision(record->id);
  if (!first.ok()) {
    EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  }
  auto again = (*store)->Revision(record->id);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, record->revision);
}

TEST_F(PostgresStoreTest, AnUnreachableServerIsAClearErrorWithoutThePassword) {
  auto store = OpenPostgresStore("postgresql://lago:s3cret@127.0.0.1:1/lago");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(store.status().message());
  EXPECT_THAT(message, HasSubstr("postgresql://lago:***@127.0.0.1:1/lago"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("s3cret")));
}

TEST_F(PostgresStoreTest, TextWithANulCharacterIsRefusedWholeAndNamed) {
  auto store = OpenPostgresStore(db_->uri());
  ASSERT_TRUE(store.ok()) << store.status();
  auto record = (*store)->CreateStudy(MakeStudy("s"));
  ASSERT_TRUE(record.ok());
  StudyWrite write = WriteFrom(*record);
  v1::Trial t;
  t.set_id(1);
  t.add_x(0.5);
  t.set_client_id(std::string("worker\0one", 10));
  write.trials.push_back(t);
  const absl::Status status = (*store)->Commit(write).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("NUL"));
  EXPECT_EQ(*(*store)->Revision(record->id), record->revision);
  EXPECT_TRUE((*store)->LoadStudy(record->id)->trials.empty());
}

TEST_F(PostgresStoreTest, MigratesAVersion1DatabaseAndKeepsItsTrials) {
  int64_t id = 0;
  int64_t revision = 0;
  {
    auto store = OpenPostgresStore(db_->uri());
    ASSERT_TRUE(store.ok()) << store.status();
    auto record = (*store)->CreateStudy(MakeStudy("old"));
    ASSERT_TRUE(record.ok());
    id = record->id;
    StudyWrite write = WriteFrom(*record);
    write.trials.push_back(CompletedTrial(1, 1.0));
    write.strategy_state = "before";
    auto committed = (*store)->Commit(write);
    ASSERT_TRUE(committed.ok()) << committed.status();
    revision = *committed;
  }
  // The database as a server of schema version 1 left it.
  for (const char* sql :
       {"DROP INDEX trials_by_revision", "DROP INDEX observations_by_revision",
        "ALTER TABLE studies DROP COLUMN first_revision",
        "ALTER TABLE trials DROP COLUMN revision",
        "ALTER TABLE strategy_state DROP COLUMN revision",
        "DELETE FROM schema_version WHERE version > 1"}) {
    db_->Column(sql);
  }
  auto store = OpenPostgresStore(db_->uri());
  ASSERT_TRUE(store.ok()) << store.status();
  auto snapshot = (*store)->LoadStudy(id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->trials.size(), 1u);
  EXPECT_EQ(snapshot->trials[0].value(), 1.0);
  EXPECT_EQ(snapshot->strategy_state, "before");
  // A view of the migrated study reads only what later commits wrote.
  StudyWrite write;
  write.study_id = id;
  write.expected_revision = revision;
  v1::Trial t;
  t.set_id(2);
  t.add_x(0.25);
  write.trials.push_back(t);
  ASSERT_TRUE((*store)->Commit(write).ok());
  auto changes = (*store)->LoadChanges(id, revision);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->trials.size(), 1u);
  EXPECT_EQ(changes->trials[0].id(), 2);
  EXPECT_FALSE(changes->strategy_state.has_value());
  EXPECT_EQ(changes->trial_count, 2);
  EXPECT_EQ(changes->result_count, 1);
}

TEST(StoreNames, APasswordInAUriIsRedacted) {
  EXPECT_TRUE(IsPostgresUri("postgresql://h/db"));
  EXPECT_TRUE(IsPostgresUri("postgres://h/db"));
  EXPECT_FALSE(IsPostgresUri("data/lago.db"));
  EXPECT_EQ(RedactPassword("postgresql://u:p@w@h:5432/db"),
            "postgresql://u:***@w@h:5432/db");
  EXPECT_EQ(RedactPassword("postgres://u:pw@h/db"), "postgres://u:***@h/db");
  EXPECT_EQ(RedactPassword("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(RedactPassword("postgresql://h:5432/db"), "postgresql://h:5432/db");
  EXPECT_EQ(RedactPassword("data/a:b@c.db"), "data/a:b@c.db");
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
    db.exec("DROP INDEX trials_by_revision");
    db.exec("DROP INDEX observations_by_revision");
    db.exec("ALTER TABLE studies DROP COLUMN first_revision");
    db.exec("ALTER TABLE trials DROP COLUMN revision");
    db.exec("ALTER TABLE strategy_state DROP COLUMN revision");
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
  // A view from before that commit reads only what it wrote; rows from before
  // the migration are older than any view.
  auto changes = (*store)->LoadChanges(id, 0);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->trials.size(), 1u);
  EXPECT_EQ(changes->trials[0].id(), 4);
  EXPECT_EQ(changes->result_order, (std::vector<int64_t>{4}));
  EXPECT_EQ(changes->trial_count, 4);
  EXPECT_EQ(changes->result_count, 3);
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
