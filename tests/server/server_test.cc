// The service through a real gRPC server on a loopback port, a real SQLite
// file and the real C++ client.
#include "server/server.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <thread>
#include <vector>

#include "client/cpp/lago_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logging.h"
#include "tests/server/test_util.h"

namespace lago::server {
namespace {

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

v1::StudySpec TwoParameterSpec() {
  v1::StudySpec spec;
  for (const char* name : {"x", "y"}) {
    v1::Parameter* p = spec.add_parameters();
    p->set_name(name);
    p->set_lower(-5.0);
    p->set_upper(5.0);
  }
  spec.set_seed(7);
  return spec;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer() { Start(&server_, &client_); }

  // A server on the test's database file, and a client of it.
  void Start(std::unique_ptr<Server>* server_out,
             std::unique_ptr<client::Client>* client_out) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.db_path = database();
    options.max_message_bytes = 1 << 20;
    options.busy_timeout_ms = 100;
    std::atomic<int64_t>* now = &now_seconds_;
    options.service.clock = [now] { return absl::FromUnixSeconds(now->load()); };
    auto server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    *server_out = *std::move(server);
    client::ClientOptions client_options;
    client_options.deadline = absl::Seconds(20);
    client_options.max_attempts = 1;
    *client_out = client::Client::Create(
        "127.0.0.1:" + std::to_string((*server_out)->port()), client_options);
  }

  void TwoServersShareAStudy();
  void WorkersOnTwoServersKeepEveryResult();
  void AViewBroughtUpToDateMatchesAFreshLoad();
  void AStudyCreatedAgainWithTheSameSpecIsLoadedAnew();
  void ARetryOnAnotherServerGetsTheFirstAnswer();

  void RestartServer() {
    client_.reset();
    server_->Shutdown(absl::Seconds(1));
    server_->Wait();
    server_.reset();
    StartServer();
  }

  std::string db_path() const { return dir_.path() + "/lago.db"; }
  // Where the servers keep their studies: the SQLite file db_path() here.
  virtual std::string database() const { return db_path(); }
  std::string Dump() const { return lago::testing::DumpDatabase(db_path()); }

  void CreateStudy(const std::string& name, const v1::StudySpec& spec) {
    auto study = client_->CreateStudy(name, spec);
    ASSERT_TRUE(study.ok()) << study.status();
  }

  v1::Trial SuggestOne(const std::string& study, const std::string& client_id = "") {
    auto trials = client_->Suggest(study, 1, client_id);
    EXPECT_TRUE(trials.ok()) << trials.status();
    return trials.ok() && !trials->empty() ? (*trials)[0] : v1::Trial();
  }

  v1::Trial Observe(const std::string& study, int64_t id, double value,
                    const std::vector<double>& gradient = {}) {
    auto trial = client_->Observe(study, id, value, gradient);
    EXPECT_TRUE(trial.ok()) << trial.status();
    return trial.ok() ? *trial : v1::Trial();
  }

  lago::testing::TempDir dir_;
  std::atomic<int64_t> now_seconds_{1800000000};
  std::unique_ptr<Server> server_;
  std::unique_ptr<client::Client> client_;
};

// Every row of the error table: the gRPC code, a message naming the field and
// the value, and a database that the failed call did not touch.
TEST_F(ServerTest, BadInputGetsItsCodeANamedFieldAndChangesNothing) {
  CreateStudy("s", TwoParameterSpec());
  v1::StudySpec budget_spec = TwoParameterSpec();
  budget_spec.set_budget(1);
  CreateStudy("small", budget_spec);
  CreateStudy("stopped", TwoParameterSpec());
  ASSERT_TRUE(client_
                  ->StopStudy([] {
                    v1::StopStudyRequest r;
                    r.set_name("stopped");
                    return r;
                  }())
                  .ok());
  const v1::Trial first = SuggestOne("s");
  Observe("s", first.id(), 1.5);
  SuggestOne("s");                                  // Trial 2 stays pending.
  Observe("small", SuggestOne("small").id(), 3.0);  // Spends the budget of 1.
  v1::SuggestTrialsRequest with_id;
  with_id.set_study("s");
  with_id.set_request_id("req-1");
  ASSERT_TRUE(client_->SuggestTrials(with_id).ok());

  struct Case {
    std::string what;
    std::function<absl::Status()> call;
    absl::StatusCode code;
    std::string message;  // Empty: gRPC's own message, which names no field.
  };
  auto create = [this](const std::string& name, v1::StudySpec spec) {
    return [this, name, spec] { return client_->CreateStudy(name, spec).status(); };
  };
  auto spec_with = [](std::function<void(v1::StudySpec*)> change) {
    v1::StudySpec spec = TwoParameterSpec();
    change(&spec);
    return spec;
  };
  auto observe = [this](int64_t id, double value, std::vector<double> gradient) {
    return [this, id, value, gradient] {
      v1::ObserveTrialRequest r;
      r.set_study("s");
      r.set_trial_id(id);
      r.set_value(value);
      for (double g : gradient) r.add_gradient(g);
      return client_->ObserveTrial(r).status();
    };
  };
  auto suggest = [this](std::function<void(v1::SuggestTrialsRequest*)> change) {
    return [this, change] {
      v1::SuggestTrialsRequest r;
      r.set_study("s");
      change(&r);
      return client_->SuggestTrials(r).status();
    };
  };
  auto import = [this](std::vector<std::vector<double>> xs) {
    return [this, xs] {
      v1::AddObservationsRequest r;
      r.set_study("s");
      for (const auto& x : xs) {
        v1::Observation* o = r.add_observations();
        for (double v : x) o->add_x(v);
        o->set_value(1.0);
      }
      return client_->AddObservations(r).status();
    };
  };
  using C = absl::StatusCode;
  const std::vector<Case> cases = {
      {"empty study name", create("", TwoParameterSpec()), C::kInvalidArgument,
       "name: \"\" is not a valid study name"},
      {"lower >= upper", create("t", spec_with([](v1::StudySpec* s) {
                                  s->mutable_parameters(1)->set_lower(6);
                                })),
       C::kInvalidArgument, "spec.parameters[1] (y): lower 6 must be below upper 5"},
      {"NaN bound", create("t", spec_with([](v1::StudySpec* s) {
                             s->mutable_parameters(0)->set_upper(kNaN);
                           })),
       C::kInvalidArgument, "spec.parameters[0] (x): bounds [-5, nan] must be finite"},
      {"no parameters", create("t", v1::StudySpec()), C::kInvalidArgument,
       "spec.parameters: at least one parameter"},
      {"negative budget",
       create("t", spec_with([](v1::StudySpec* s) { s->set_budget(-1); })),
       C::kInvalidArgument, "spec.budget: -1 must be finite and >= 0"},
      {"infinite gradient cost",
       create("t", spec_with([](v1::StudySpec* s) { s->set_gradient_cost(kInf); })),
       C::kInvalidArgument, "spec.gradient_cost: inf"},
      {"unknown strategy",
       create("t", spec_with([](v1::StudySpec* s) { s->set_strategy("simplex"); })),
       C::kInvalidArgument, "spec.strategy: \"simplex\" is not a strategy"},
      {"unknown strategy option", create("t", spec_with([](v1::StudySpec* s) {
                                           (*s->mutable_strategy_options())["xi"] = "1";
                                         })),
       C::kInvalidArgument,
       "spec.strategy_options[\"xi\"]: not an option of this strategy"},
      {"negative count", suggest([](v1::SuggestTrialsRequest* r) { r->set_count(-1); }),
       C::kInvalidArgument, "count: -1 is outside [0, 1000]"},
      {"count too large",
       suggest([](v1::SuggestTrialsRequest* r) { r->set_count(1001); }),
       C::kInvalidArgument, "count: 1001"},
      {"client id too long", suggest([](v1::SuggestTrialsRequest* r) {
         r->set_client_id(std::string(200, 'c'));
       }),
       C::kInvalidArgument, "client_id: must be at most 128"},
      {"empty study in suggest",
       suggest([](v1::SuggestTrialsRequest* r) { r->set_study(""); }),
       C::kInvalidArgument, "study: \"\" is not a valid study name"},
      {"NaN value", observe(2, kNaN, {}), C::kInvalidArgument,
       "value: nan is not finite"},
      {"infinite value", observe(2, -kInf, {}), C::kInvalidArgument,
       "value: -inf is not finite"},
      {"gradient of the wrong dimension", observe(2, 1.0, {1, 2, 3}), C::kInvalidArgument,
       "gradient: has 3 entries; the study has 2 parameters"},
      {"NaN in the gradient", observe(2, 1.0, {0.5, kNaN}), C::kInvalidArgument,
       "gradient[1]: nan is not finite"},
      {"trial id 0", observe(0, 1.0, {}), C::kInvalidArgument,
       "trial_id: 0 must be >= 1"},
      {"imported point out of bounds", import({{7.0, 0.0}}), C::kInvalidArgument,
       "observations[0].x[0] (x): 7 is outside [-5, 5]"},
      {"imported point of the wrong dimension", import({{0.0, 0.0}, {1.0}}),
       C::kInvalidArgument,
       "observations[1].x: has 1 entries; the study has 2 parameters"},
      {"bad page token",
       [this] {
         v1::ListTrialsRequest r;
         r.set_study("s");
         r.set_page_token("abc");
         return client_->ListTrials(r).status();
       },
       C::kInvalidArgument, "page_token: \"abc\" is not a page token"},
      {"unknown study",
       [this] {
         v1::GetStudyRequest r;
         r.set_name("nope");
         return client_->GetStudy(r).status();
       },
       C::kNotFound, "name: no study named \"nope\""},
      {"suggest on an unknown study",
       suggest([](v1::SuggestTrialsRequest* r) { r->set_study("nope"); }), C::kNotFound,
       "study: no study named \"nope\""},
      {"unknown trial", observe(99, 1.0, {}), C::kNotFound,
       "trial_id: 99 is not a trial of study \"s\""},
      {"a name taken by another spec",
       create("s", spec_with([](v1::StudySpec* s) { s->set_seed(8); })),
       C::kAlreadyExists, "name: study \"s\" already exists with a different spec"},
      {"a completed trial observed with another value", observe(first.id(), 2.5, {}),
       C::kFailedPrecondition,
       "trial_id: trial 1 of study \"s\" already has a different result"},
      {"suggest on a stopped study",
       suggest([](v1::SuggestTrialsRequest* r) { r->set_study("stopped"); }),
       C::kFailedPrecondition, "study: \"stopped\" is stopped"},
      {"a request id reused for another request",
       suggest([](v1::SuggestTrialsRequest* r) {
         r->set_request_id("req-1");
         r->set_count(2);
       }),
       C::kFailedPrecondition, "request_id: \"req-1\" was already used"},
      {"budget spent",
       suggest([](v1::SuggestTrialsRequest* r) { r->set_study("small"); }),
       C::kResourceExhausted, "study: the budget of \"small\" (1 cost units) is spent"},
      {"message too large",
       [this] {
         v1::CreateStudyRequest r;
         r.set_name("huge");
         *r.mutable_spec() = TwoParameterSpec();
         (*r.mutable_spec()->mutable_metadata())["blob"] = std::string(2 << 20, 'z');
         return client_->CreateStudy(r).status();
       },
       C::kResourceExhausted, ""},
  };
  for (const Case& c : cases) {
    const std::string before = Dump();
    const absl::Status status = c.call();
    EXPECT_EQ(status.code(), c.code) << c.what << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.what;
    EXPECT_EQ(Dump(), before) << c.what << " changed the database";
  }
}

TEST_F(ServerTest, ShuttingDownIsUnavailableAndChangesNothing) {
  CreateStudy("s", TwoParameterSpec());
  const std::string before = Dump();
  server_->Shutdown(absl::Seconds(1));
  server_->Wait();
  const absl::Status status = client_->Suggest("s").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(Dump(), before);
}

TEST_F(ServerTest, ABusyDatabaseIsUnavailableAndChangesNothing) {
  CreateStudy("s", TwoParameterSpec());
  const std::string before = Dump();
  {
    // Another process holds the write lock past the server's busy timeout.
    SQLite::Database other(db_path(), SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");
    const absl::Status status = client_->Suggest("s").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("busy"));
    other.exec("ROLLBACK");
  }
  EXPECT_EQ(Dump(), before);
  // Once the lock is gone the same call succeeds, and its trial is the first.
  EXPECT_EQ(SuggestOne("s").id(), 1);
}

TEST_F(ServerTest, CreateIsIdempotentForAnEqualSpec) {
  v1::CreateStudyRequest request;
  request.set_name("s");
  *request.mutable_spec() = TwoParameterSpec();
  auto first = client_->CreateStudy(request);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created());
  // Defaults written out are the same spec.
  request.mutable_spec()->set_direction(v1::DIRECTION_MINIMIZE);
  request.mutable_spec()->set_strategy("lago");
  request.mutable_spec()->set_lease_seconds(3600);
  auto second = client_->CreateStudy(request);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->created());
  EXPECT_EQ(second->study().spec().strategy(), "lago");
}

TEST_F(ServerTest, SuggestAndObserveRoundTripAndSurviveARestart) {
  CreateStudy("s", TwoParameterSpec());
  std::vector<v1::Trial> suggested;
  for (int i = 0; i < 5; ++i) {
    v1::Trial t = SuggestOne("s");
    EXPECT_EQ(t.id(), i + 1);
    EXPECT_EQ(t.state(), v1::TRIAL_STATE_PENDING);
    EXPECT_EQ(t.kind(), v1::TRIAL_KIND_INITIAL);
    EXPECT_FALSE(t.need_gradient());
    for (double v : t.x()) {
      EXPECT_GE(v, -5.0);
      EXPECT_LE(v, 5.0);
    }
    Observe("s", t.id(), t.x(0) * t.x(0) + t.x(1), {2 * t.x(0), 1.0});
    suggested.push_back(t);
  }
  RestartServer();
  auto trials = client_->AllTrials("s");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const v1::Trial& t = (*trials)[i];
    EXPECT_EQ(t.state(), v1::TRIAL_STATE_COMPLETED);
    // Points and values come back bit for bit.
    EXPECT_EQ(t.x(0), suggested[i].x(0));
    EXPECT_EQ(t.x(1), suggested[i].x(1));
    EXPECT_EQ(t.value(), t.x(0) * t.x(0) + t.x(1));
    EXPECT_EQ(t.gradient(0), 2 * t.x(0));
  }
  // The sequence continues: trial 6 is Sobol point 5.
  v1::Trial next = SuggestOne("s");
  EXPECT_EQ(next.id(), 6);
  EXPECT_EQ(next.why().sequence_index(), 5);
}

TEST_F(ServerTest, ARequestIdReplaysTheFirstAnswerAlsoAfterARestart) {
  CreateStudy("s", TwoParameterSpec());
  v1::SuggestTrialsRequest suggest;
  suggest.set_study("s");
  suggest.set_count(2);
  suggest.set_request_id("suggest-1");
  auto first = client_->SuggestTrials(suggest);
  ASSERT_TRUE(first.ok());
  v1::ObserveTrialRequest observe;
  observe.set_study("s");
  observe.set_trial_id(1);
  observe.set_value(4.0);
  observe.set_request_id("observe-1");
  ASSERT_TRUE(client_->ObserveTrial(observe).ok());
  const std::string before = Dump();
  RestartServer();
  auto again = client_->SuggestTrials(suggest);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->trials_size(), 2);
  EXPECT_EQ(again->trials(0).id(), 1);
  EXPECT_EQ(again->trials(1).id(), 2);
  EXPECT_EQ(again->trials(0).x(0), first->trials(0).x(0));
  auto observed_again = client_->ObserveTrial(observe);
  ASSERT_TRUE(observed_again.ok()) << observed_again.status();
  EXPECT_EQ(observed_again->trial().value(), 4.0);
  EXPECT_EQ(Dump(), before) << "a replayed request wrote to the database";
}

TEST_F(ServerTest, TheSameResultTwiceIsAcceptedOnce) {
  CreateStudy("s", TwoParameterSpec());
  const v1::Trial t = SuggestOne("s");
  Observe("s", t.id(), 2.0);
  const std::string before = Dump();
  EXPECT_EQ(Observe("s", t.id(), 2.0).value(), 2.0);
  EXPECT_EQ(Dump(), before);
}

TEST_F(ServerTest, AClientThatAsksAgainGetsItsOwnPendingTrial) {
  CreateStudy("s", TwoParameterSpec());
  const v1::Trial mine = SuggestOne("s", "worker-a");
  const v1::Trial theirs = SuggestOne("s", "worker-b");
  EXPECT_NE(mine.id(), theirs.id());
  EXPECT_EQ(SuggestOne("s", "worker-a").id(), mine.id());
  EXPECT_EQ(SuggestOne("s", "worker-b").id(), theirs.id());
  Observe("s", mine.id(), 1.0);
  EXPECT_EQ(SuggestOne("s", "worker-a").id(), 3);
}

TEST_F(ServerTest, ASuggestionWhoseClientGaveUpStoresNothing) {
  // A lago study whose informed step takes a while: a million candidates.
  v1::StudySpec spec = TwoParameterSpec();
  spec.set_strategy("lago");
  (*spec.mutable_strategy_options())["initial_points"] = "2";
  (*spec.mutable_strategy_options())["candidates"] = "1000000";
  CreateStudy("s", spec);
  for (int i = 0; i < 2; ++i) Observe("s", SuggestOne("s").id(), i);

  client::ClientOptions hasty;
  hasty.deadline = absl::Milliseconds(30);
  hasty.max_attempts = 1;
  auto impatient =
      client::Client::Create("127.0.0.1:" + std::to_string(server_->port()), hasty);
  const absl::Time start = absl::Now();
  auto gave_up = impatient->Suggest("s", 1, "impatient");
  EXPECT_EQ(gave_up.status().code(), absl::StatusCode::kDeadlineExceeded);

  // The next call waits for the study's lock, so the cancelled one is over:
  // it left no trial and no strategy state behind.
  const v1::Trial next = SuggestOne("s", "patient");
  EXPECT_GT(absl::Now() - start, absl::Milliseconds(60)) << "the step was too fast to "
                                                            "outlive the deadline";
  EXPECT_EQ(next.id(), 3);
  EXPECT_EQ(next.client_id(), "patient");
  auto trials = client_->AllTrials("s");
  ASSERT_TRUE(trials.ok());
  EXPECT_EQ(trials->size(), 3u);
}

// Results that arrive out of trial order reach the strategy in the order they
// arrived, also after a restart: the next suggestion is the one an
// uninterrupted server makes.
TEST_F(ServerTest, ARestartKeepsTheOrderInWhichResultsArrived) {
  v1::StudySpec spec = TwoParameterSpec();
  spec.set_strategy("lago");
  spec.set_gradient_mode(v1::GRADIENT_MODE_ENHANCED);
  (*spec.mutable_strategy_options())["initial_points"] = "4";
  auto f = [](const v1::Trial& t) {
    const double a = t.x(0) - 1.0, b = t.x(1) + 2.0;
    return std::make_pair(a * a + 4.0 * b * b, std::vector<double>{2.0 * a, 8.0 * b});
  };
  auto observe = [&](const std::string& study, const v1::Trial& t) {
    const auto [value, gradient] = f(t);
    Observe(study, t.id(), value, gradient);
  };
  for (const char* study : {"a", "b"}) {
    CreateStudy(study, spec);
    // Two trials in flight; the newer one always reports first.
    v1::Trial older = SuggestOne(study, "w1");
    v1::Trial newer = SuggestOne(study, "w2");
    for (int round = 0; round < 8; ++round) {
      observe(study, newer);
      v1::Trial next = SuggestOne(study, "w2");
      observe(study, older);
      older = next;
      newer = SuggestOne(study, "w1");
    }
  }
  const v1::Trial uninterrupted = SuggestOne("b", "w3");
  RestartServer();
  const v1::Trial restarted = SuggestOne("a", "w3");
  EXPECT_EQ(restarted.id(), uninterrupted.id());
  EXPECT_EQ(restarted.kind(), uninterrupted.kind());
  ASSERT_EQ(restarted.x_size(), 2);
  EXPECT_EQ(restarted.x(0), uninterrupted.x(0));
  EXPECT_EQ(restarted.x(1), uninterrupted.x(1));
}

TEST_F(ServerTest, AStrategyThatStopsEarlyLeavesTheStudyDone) {
  v1::StudySpec spec;
  v1::Parameter* x = spec.add_parameters();
  x->set_name("x");
  x->set_lower(0.0);
  x->set_upper(1.0);
  spec.set_strategy("lago");
  spec.set_gradient_mode(v1::GRADIENT_MODE_ENHANCED);
  (*spec.mutable_strategy_options())["initial_points"] = "3";
  (*spec.mutable_strategy_options())["early_stop"] = "1";
  CreateStudy("s", spec);
  absl::Status ended;
  for (int i = 0; i < 30; ++i) {
    auto trials = client_->Suggest("s", 1, "");
    if (!trials.ok()) {
      ended = trials.status();
      break;
    }
    const double v = (*trials)[0].x(0) - 0.3;
    Observe("s", (*trials)[0].id(), v * v, {2.0 * v});
  }
  ASSERT_EQ(ended.code(), absl::StatusCode::kFailedPrecondition) << ended;
  EXPECT_THAT(std::string(ended.message()),
              HasSubstr("\"s\" is done: the strategy stopped early"));
  const std::string before = Dump();
  RestartServer();
  v1::GetStudyRequest get;
  get.set_name("s");
  auto study = client_->GetStudy(get);
  ASSERT_TRUE(study.ok());
  EXPECT_EQ(study->study().state(), v1::STUDY_STATE_DONE);
  auto again = client_->Suggest("s", 1, "");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("is done"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(ServerTest, AnExpiredLeaseMakesATrialStaleAndItsResultIsStillStored) {
  v1::StudySpec spec = TwoParameterSpec();
  spec.set_lease_seconds(60);
  CreateStudy("s", spec);
  const v1::Trial kept = SuggestOne("s");
  const v1::Trial lost = SuggestOne("s");
  now_seconds_ += 50;
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_study("s");
  heartbeat.set_trial_id(kept.id());
  auto renewed = client_->Heartbeat(heartbeat);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(renewed->trial().lease_expire_time().seconds(), now_seconds_.load() + 60);
  now_seconds_ += 20;
  auto trials = client_->AllTrials("s");
  ASSERT_TRUE(trials.ok());
  EXPECT_EQ((*trials)[0].state(), v1::TRIAL_STATE_PENDING);
  EXPECT_EQ((*trials)[1].state(), v1::TRIAL_STATE_STALE);
  v1::ListTrialsRequest stale;
  stale.set_study("s");
  stale.add_states(v1::TRIAL_STATE_STALE);
  auto only_stale = client_->ListTrials(stale);
  ASSERT_EQ(only_stale->trials_size(), 1);
  EXPECT_EQ(only_stale->trials(0).id(), lost.id());
  // A late result for a stale trial is precious: it is stored.
  EXPECT_EQ(Observe("s", lost.id(), -3.0).state(), v1::TRIAL_STATE_COMPLETED);
}

TEST_F(ServerTest, AnAbandonedTrialStillTakesALateResult) {
  CreateStudy("s", TwoParameterSpec());
  const v1::Trial t = SuggestOne("s");
  v1::AbandonTrialRequest abandon;
  abandon.set_study("s");
  abandon.set_trial_id(t.id());
  abandon.set_reason("robot arm jammed");
  auto abandoned = client_->AbandonTrial(abandon);
  ASSERT_TRUE(abandoned.ok());
  EXPECT_EQ(abandoned->trial().state(), v1::TRIAL_STATE_ABANDONED);
  RestartServer();
  auto trials = client_->AllTrials("s");
  EXPECT_EQ((*trials)[0].failure_reason(), "robot arm jammed");
  EXPECT_EQ(Observe("s", t.id(), 0.5).state(), v1::TRIAL_STATE_COMPLETED);
}

TEST_F(ServerTest, FailedEvaluationsAreStoredWithTheirReason) {
  CreateStudy("s", TwoParameterSpec());
  const v1::Trial t = SuggestOne("s");
  v1::ObserveTrialRequest failed;
  failed.set_study("s");
  failed.set_trial_id(t.id());
  failed.set_failed(true);
  failed.set_value(kNaN);  // Ignored for a failure.
  failed.set_failure_reason("simulation diverged");
  auto result = client_->ObserveTrial(failed);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->trial().state(), v1::TRIAL_STATE_FAILED);
  RestartServer();
  EXPECT_EQ((*client_->AllTrials("s"))[0].failure_reason(), "simulation diverged");
  EXPECT_FALSE((*client_->Best("s")).has_value());
}

TEST_F(ServerTest, ListTrialsPagesInIdOrder) {
  CreateStudy("s", TwoParameterSpec());
  ASSERT_TRUE(client_->Suggest("s", 25).ok());
  v1::ListTrialsRequest request;
  request.set_study("s");
  request.set_page_size(10);
  std::vector<int64_t> ids;
  int pages = 0;
  do {
    auto page = client_->ListTrials(request);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const v1::Trial& t : page->trials()) ids.push_back(t.id());
    request.set_page_token(page->next_page_token());
    ++pages;
  } while (!request.page_token().empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(ids.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(ids[i], i + 1);
}

TEST_F(ServerTest, BestFollowsTheDirection) {
  v1::StudySpec spec = TwoParameterSpec();
  spec.set_direction(v1::DIRECTION_MAXIMIZE);
  CreateStudy("max", spec);
  for (double v : {1.0, 7.0, 3.0}) Observe("max", SuggestOne("max").id(), v);
  auto best = client_->Best("max");
  ASSERT_TRUE(best.ok() && best->has_value());
  EXPECT_EQ((*best)->value(), 7.0);
  EXPECT_EQ((*best)->id(), 2);
}

TEST_F(ServerTest, TheBudgetCountsGradientsAtTheirCost) {
  v1::StudySpec spec = TwoParameterSpec();
  spec.set_gradient_mode(v1::GRADIENT_MODE_ENHANCED);
  spec.set_gradient_cost(2);
  spec.set_budget(6);  // Two evaluations with gradients, 3 units each.
  CreateStudy("s", spec);
  auto batch = client_->Suggest("s", 5);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 2u) << "only what the budget can pay for";
  EXPECT_TRUE((*batch)[0].need_gradient());
  EXPECT_EQ(client_->Suggest("s").status().code(), absl::StatusCode::kResourceExhausted);
  for (const v1::Trial& t : *batch) Observe("s", t.id(), 1.0, {0.0, 0.0});
  v1::GetStudyRequest get;
  get.set_name("s");
  auto study = client_->GetStudy(get);
  EXPECT_EQ(study->study().stats().cost_spent(), 6.0);
  EXPECT_EQ(study->study().state(), v1::STUDY_STATE_DONE);
  EXPECT_EQ(client_->Suggest("s").status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ServerTest, ABudgetBeyondWhatAnIntHoldsIsNoLimitOnABatch) {
  // Found by the fuzzer: the number of trials a budget pays for was an int.
  v1::StudySpec spec = TwoParameterSpec();
  spec.set_budget(1e300);
  CreateStudy("s", spec);
  auto batch = client_->Suggest("s", 3);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->size(), 3u);
}

TEST_F(ServerTest, ImportedObservationsJoinTheStudy) {
  CreateStudy("s", TwoParameterSpec());
  v1::AddObservationsRequest request;
  request.set_study("s");
  for (double v : {2.0, -1.0}) {
    v1::Observation* o = request.add_observations();
    o->add_x(v);
    o->add_x(0.0);
    o->set_value(v);
  }
  auto added = client_->AddObservations(request);
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->trials_size(), 2);
  EXPECT_EQ(added->trials(1).kind(), v1::TRIAL_KIND_IMPORTED);
  EXPECT_EQ((*client_->Best("s"))->value(), -1.0);
  EXPECT_EQ(SuggestOne("s").id(), 3);
}

TEST_F(ServerTest, DeleteRemovesTheStudy) {
  CreateStudy("s", TwoParameterSpec());
  Observe("s", SuggestOne("s").id(), 1.0);
  v1::DeleteStudyRequest del;
  del.set_name("s");
  ASSERT_TRUE(client_->DeleteStudy(del).ok());
  EXPECT_EQ(client_->Suggest("s").status().code(), absl::StatusCode::kNotFound);
  // The name is free again, for another spec too.
  v1::StudySpec other = TwoParameterSpec();
  other.set_seed(99);
  CreateStudy("s", other);
  EXPECT_EQ(SuggestOne("s").id(), 1);
}

TEST_F(ServerTest, ListStudiesPagesByName) {
  for (const char* name : {"c", "a", "b"}) CreateStudy(name, TwoParameterSpec());
  v1::ListStudiesRequest request;
  request.set_page_size(2);
  auto first = client_->ListStudies(request);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->studies_size(), 2);
  EXPECT_EQ(first->studies(0).name(), "a");
  EXPECT_EQ(first->studies(1).name(), "b");
  request.set_page_token(first->next_page_token());
  auto second = client_->ListStudies(request);
  ASSERT_EQ(second->studies_size(), 1);
  EXPECT_EQ(second->studies(0).name(), "c");
  EXPECT_TRUE(second->next_page_token().empty());
}

// Two server processes on one database: each sees what the other wrote, and
// neither hands out a trial id or a point twice.
void ServerTest::TwoServersShareAStudy() {
  std::unique_ptr<Server> other_server;
  std::unique_ptr<client::Client> other;
  Start(&other_server, &other);
  CreateStudy("s", TwoParameterSpec());
  const v1::Trial first = SuggestOne("s");
  auto second = other->Suggest("s");
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].id(), 2);
  EXPECT_EQ((*second)[0].why().sequence_index(), 1);
  // Each result goes to the trial of the other server.
  auto observed = other->Observe("s", first.id(), 3.0);
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->x(0), first.x(0));
  Observe("s", 2, -1.0);
  for (client::Client* c : {client_.get(), other.get()}) {
    auto trials = c->AllTrials("s");
    ASSERT_TRUE(trials.ok()) << trials.status();
    ASSERT_EQ(trials->size(), 2u);
    EXPECT_EQ((*trials)[0].value(), 3.0);
    EXPECT_EQ((*trials)[1].x(1), (*second)[0].x(1));
    EXPECT_EQ((*trials)[1].value(), -1.0);
    EXPECT_EQ((*c->Best("s"))->id(), 2);
    v1::GetStudyRequest get;
    get.set_name("s");
    EXPECT_EQ(c->GetStudy(get)->study().stats().completed(), 2);
  }
  // Deleted by one server, gone from the other; created again with another
  // spec, the other serves the new study.
  v1::DeleteStudyRequest del;
  del.set_name("s");
  ASSERT_TRUE(other->DeleteStudy(del).ok());
  EXPECT_EQ(client_->Suggest("s").status().code(), absl::StatusCode::kNotFound);
  v1::StudySpec again = TwoParameterSpec();
  again.mutable_parameters(0)->set_upper(50.0);
  ASSERT_TRUE(other->CreateStudy("s", again).ok());
  const v1::Trial renewed = SuggestOne("s");
  EXPECT_EQ(renewed.id(), 1);
  v1::GetStudyRequest get;
  get.set_name("s");
  EXPECT_EQ(client_->GetStudy(get)->study().spec().parameters(0).upper(), 50.0);
  other.reset();
  other_server->Shutdown(absl::Seconds(1));
  other_server->Wait();
}

void ServerTest::WorkersOnTwoServersKeepEveryResult() {
  std::unique_ptr<Server> other_server;
  std::unique_ptr<client::Client> other;
  Start(&other_server, &other);
  CreateStudy("s", TwoParameterSpec());
  constexpr int kWorkers = 4;
  constexpr int kRounds = 15;
  auto f = [](const v1::Trial& t) { return t.x(0) + 10.0 * t.x(1); };
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int round = 0; round < kRounds; ++round) {
        client::Client* c = (w + round) % 2 == 0 ? client_.get() : other.get();
        auto trials = c->Suggest("s", 1, absl::StrCat("worker-", w));
        if (!trials.ok() || trials->size() != 1) {
          ++errors;
          continue;
        }
        // The result goes through the other server.
        client::Client* teller = c == client_.get() ? other.get() : client_.get();
        if (!teller->Observe("s", (*trials)[0].id(), f((*trials)[0])).ok()) ++errors;
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  auto trials = client_->AllTrials("s");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), static_cast<size_t>(kWorkers * kRounds));
  std::set<int64_t> indices;
  for (size_t i = 0; i < trials->size(); ++i) {
    const v1::Trial& t = (*trials)[i];
    EXPECT_EQ(t.id(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(t.state(), v1::TRIAL_STATE_COMPLETED) << t.id();
    EXPECT_EQ(t.value(), f(t)) << "trial " << t.id() << " has another point's value";
    indices.insert(t.why().sequence_index());
  }
  EXPECT_EQ(indices.size(), trials->size()) << "a Sobol point was handed out twice";
  other.reset();
  other_server->Shutdown(absl::Seconds(1));
  other_server->Wait();
}

// Every kind of change, each made by the server that did not make the one
// before, so that each call first reads what the other wrote since its
// revision. The first server's view then equals that of a server that loads
// the study whole: trials, stats, and the model, which sees the results in
// the order they arrived.
void ServerTest::AViewBroughtUpToDateMatchesAFreshLoad() {
  std::unique_ptr<Server> other_server;
  std::unique_ptr<client::Client> other;
  Start(&other_server, &other);
  v1::StudySpec spec = TwoParameterSpec();
  spec.set_strategy("lago");
  CreateStudy("s", spec);
  // The servers' debug log from here on; given back to stderr also when an
  // assertion below ends the test.
  struct DebugLog {
    DebugLog() {
      SetLogLevel(LogLevel::kDebug);
      ::testing::internal::CaptureStderr();
    }
    ~DebugLog() { Take(); }
    std::string Take() {
      if (taken) return "";
      taken = true;
      SetLogLevel(LogLevel::kInfo);
      return ::testing::internal::GetCapturedStderr();
    }
    bool taken = false;
  } debug_log;
  const v1::Trial t1 = SuggestOne("s", "a");
  auto t2 = other->Suggest("s", 1, "b");
  ASSERT_TRUE(t2.ok()) << t2.status();
  ASSERT_TRUE(other->Observe("s", t1.id(), 1.5).ok());
  const v1::Trial t3 = SuggestOne("s", "c");
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_study("s");
  heartbeat.set_trial_id((*t2)[0].id());
  now_seconds_ += 10;
  ASSERT_TRUE(client_->Heartbeat(heartbeat).ok());
  v1::AbandonTrialRequest abandon;
  abandon.set_study("s");
  abandon.set_trial_id(t3.id());
  abandon.set_reason("the robot jammed");
  ASSERT_TRUE(other->AbandonTrial(abandon).ok());
  v1::ObserveTrialRequest failed;
  failed.set_study("s");
  failed.set_trial_id((*t2)[0].id());
  failed.set_failed(true);
  failed.set_failure_reason("diverged");
  ASSERT_TRUE(client_->ObserveTrial(failed).ok());
  v1::AddObservationsRequest imported;
  imported.set_study("s");
  for (double v : {2.0, -1.0}) {
    v1::Observation* o = imported.add_observations();
    o->add_x(v);
    o->add_x(0.5);
    o->set_value(v);
  }
  ASSERT_TRUE(other->AddObservations(imported).ok());
  // A result for the abandoned trial is kept all the same.
  Observe("s", t3.id(), 0.25);
  v1::StopStudyRequest stop;
  stop.set_name("s");
  ASSERT_TRUE(other->StopStudy(stop).ok());
  auto trials = client_->AllTrials("s");
  v1::GetStudyRequest get;
  get.set_name("s");
  auto study = client_->GetStudy(get);
  v1::PredictRequest predict;
  predict.set_study("s");
  v1::Point* point = predict.add_points();
  point->add_x(0.5);
  point->add_x(-2.0);
  auto prediction = client_->Predict(predict);
  const std::string log = debug_log.Take();
  ASSERT_TRUE(trials.ok() && study.ok() && prediction.ok())
      << trials.status() << study.status() << prediction.status();
  ASSERT_EQ(trials->size(), 5u);
  EXPECT_EQ((*trials)[2].state(), v1::TRIAL_STATE_COMPLETED);
  EXPECT_EQ(study->study().state(), v1::STUDY_STATE_STOPPED);
  // Each server read only the changes, never the whole study.
  EXPECT_THAT(log, HasSubstr("changed trials from revision"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("loaded whole")));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("loading it whole")));

  std::unique_ptr<Server> fresh_server;
  std::unique_ptr<client::Client> fresh;
  Start(&fresh_server, &fresh);
  auto fresh_trials = fresh->AllTrials("s");
  ASSERT_TRUE(fresh_trials.ok()) << fresh_trials.status();
  ASSERT_EQ(fresh_trials->size(), trials->size());
  for (size_t i = 0; i < trials->size(); ++i) {
    EXPECT_EQ((*trials)[i].DebugString(), (*fresh_trials)[i].DebugString());
  }
  EXPECT_EQ(study->DebugString(), fresh->GetStudy(get)->DebugString());
  EXPECT_EQ(prediction->DebugString(), fresh->Predict(predict)->DebugString());
  for (auto* s : {&fresh_server, &other_server}) {
    (*s)->Shutdown(absl::Seconds(1));
    (*s)->Wait();
  }
}

// A study deleted and created again by another server, with the same name
// and spec, is a new study: the first server sees none of the old trials.
void ServerTest::AStudyCreatedAgainWithTheSameSpecIsLoadedAnew() {
  std::unique_ptr<Server> other_server;
  std::unique_ptr<client::Client> other;
  Start(&other_server, &other);
  CreateStudy("s", TwoParameterSpec());
  Observe("s", SuggestOne("s").id(), 1.0);
  SuggestOne("s");
  v1::DeleteStudyRequest del;
  del.set_name("s");
  ASSERT_TRUE(other->DeleteStudy(del).ok());
  ASSERT_TRUE(other->CreateStudy("s", TwoParameterSpec()).ok());
  auto mine = other->Suggest("s");
  ASSERT_TRUE(mine.ok()) << mine.status();
  auto trials = client_->AllTrials("s");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 1u);
  EXPECT_EQ((*trials)[0].DebugString(), (*mine)[0].DebugString());
  EXPECT_EQ(SuggestOne("s").id(), 2);
  other_server->Shutdown(absl::Seconds(1));
  other_server->Wait();
}

TEST_F(ServerTest, AViewBroughtUpToDateMatchesAFreshLoad) {
  AViewBroughtUpToDateMatchesAFreshLoad();
}

TEST_F(ServerTest, AStudyCreatedAgainWithTheSameSpecIsLoadedAnew) {
  AStudyCreatedAgainWithTheSameSpecIsLoadedAnew();
}

// A writer that keeps no trial revisions (a server of an older version)
// leaves changes the first server cannot see as changes; the stored counts
// give it away, and the server loads the study whole.
TEST_F(ServerTest, ChangesThatDoNotFitTheViewAreReadWhole) {
  CreateStudy("s", TwoParameterSpec());
  const v1::Trial first = SuggestOne("s");
  {
    SQLite::Database db(db_path(), SQLite::OPEN_READWRITE);
    db.exec(
        "INSERT INTO trials (study_id, trial_id, state, kind, need_gradient, "
        "client_id, x, lease_expire_time_us, why_winner, create_time_us, "
        "update_time_us) SELECT study_id, 2, 'pending', kind, 0, 'old', x, "
        "lease_expire_time_us, why_winner, create_time_us, update_time_us FROM trials "
        "WHERE trial_id = 1");
    db.exec("UPDATE studies SET revision = revision + 1");
  }
  ::testing::internal::CaptureStderr();
  auto trials = client_->AllTrials("s");
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_EQ((*trials)[1].client_id(), "old");
  EXPECT_EQ((*trials)[1].x(0), first.x(0));
  EXPECT_THAT(log,
              HasSubstr("do not fit its view: 1 trials, 2 stored; loading it whole"));
  EXPECT_EQ(SuggestOne("s").id(), 3);
}

// A client retries each request on another server, as after a lost answer
// behind a load balancer: the second server reads the stored answer (on
// PostgreSQL together with the study's lock) and writes nothing. A reused id
// with another request is refused.
void ServerTest::ARetryOnAnotherServerGetsTheFirstAnswer() {
  CreateStudy("s", TwoParameterSpec());
  std::unique_ptr<Server> other_server;
  std::unique_ptr<client::Client> other;
  Start(&other_server, &other);
  v1::SuggestTrialsRequest suggest;
  suggest.set_study("s");
  suggest.set_count(2);
  suggest.set_request_id("it's a \\retry");
  auto first = client_->SuggestTrials(suggest);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = other->SuggestTrials(suggest);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->DebugString(), first->DebugString());

  v1::ObserveTrialRequest observe;
  observe.set_study("s");
  observe.set_trial_id(first->trials(0).id());
  observe.set_value(4.0);
  observe.set_request_id("observe-1");
  auto observed = client_->ObserveTrial(observe);
  ASSERT_TRUE(observed.ok()) << observed.status();
  auto observed_again = other->ObserveTrial(observe);
  ASSERT_TRUE(observed_again.ok()) << observed_again.status();
  EXPECT_EQ(observed_again->DebugString(), observed->DebugString());

  v1::AddObservationsRequest add;
  add.set_study("s");
  add.set_request_id("add-1");
  v1::Observation* o = add.add_observations();
  o->add_x(0.5);
  o->add_x(-1.0);
  o->set_value(3.0);
  auto added = client_->AddObservations(add);
  ASSERT_TRUE(added.ok()) << added.status();
  auto added_again = other->AddObservations(add);
  ASSERT_TRUE(added_again.ok()) << added_again.status();
  EXPECT_EQ(added_again->DebugString(), added->DebugString());

  // The same id with another request: refused, naming the id and the method.
  observe.set_value(5.0);
  auto reused = other->ObserveTrial(observe);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(reused.status().message()),
              HasSubstr("request_id: \"observe-1\" was already used for a different "
                        "ObserveTrial request"));
  // Two suggested trials and one added: nothing twice.
  auto trials = client_->AllTrials("s");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 3u);
  EXPECT_EQ((*trials)[0].value(), 4.0);
  EXPECT_EQ((*trials)[1].state(), v1::TRIAL_STATE_PENDING);
  EXPECT_EQ((*trials)[2].value(), 3.0);
  other_server->Shutdown(absl::Seconds(1));
  other_server->Wait();
}

TEST_F(ServerTest, ARetryOnAnotherServerGetsTheFirstAnswer) {
  ARetryOnAnotherServerGetsTheFirstAnswer();
}

TEST_F(ServerTest, TwoServersOnOneFileShareAStudy) { TwoServersShareAStudy(); }

TEST_F(ServerTest, WorkersOnTwoServersGetDistinctPointsAndKeepEveryResult) {
  WorkersOnTwoServersKeepEveryResult();
}

// The same service on a PostgreSQL database of the test server.
class PostgresServerTest : public ServerTest {
 protected:
  void SetUp() override {
    LAGO_REQUIRE_POSTGRES(postgres_);
    ServerTest::SetUp();
  }
  std::string database() const override { return postgres_->uri(); }
  std::unique_ptr<lago::testing::PostgresDatabase> postgres_;
};

TEST_F(PostgresServerTest, ResultsAndStrategyStateSurviveARestart) {
  CreateStudy("s", TwoParameterSpec());
  const v1::Trial first = SuggestOne("s");
  Observe("s", first.id(), 2.5);
  const v1::Trial pending = SuggestOne("s");
  RestartServer();
  auto trials = client_->AllTrials("s");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_EQ((*trials)[0].value(), 2.5);
  EXPECT_EQ((*trials)[0].x(0), first.x(0));
  EXPECT_EQ((*trials)[1].state(), v1::TRIAL_STATE_PENDING);
  // The strategy carries on from its stored state: the next Sobol point.
  const v1::Trial next = SuggestOne("s");
  EXPECT_EQ(next.id(), 3);
  EXPECT_EQ(next.why().sequence_index(), pending.why().sequence_index() + 1);
  v1::StudySpec other = TwoParameterSpec();
  other.set_seed(8);
  EXPECT_EQ(client_->CreateStudy("s", other).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(PostgresServerTest, TwoServersShareAStudy) { TwoServersShareAStudy(); }

TEST_F(PostgresServerTest, ARetryOnAnotherServerGetsTheFirstAnswer) {
  ARetryOnAnotherServerGetsTheFirstAnswer();
}

TEST_F(PostgresServerTest, WorkersOnTwoServersGetDistinctPointsAndKeepEveryResult) {
  WorkersOnTwoServersKeepEveryResult();
}

TEST_F(PostgresServerTest, AViewBroughtUpToDateMatchesAFreshLoad) {
  AViewBroughtUpToDateMatchesAFreshLoad();
}

TEST_F(PostgresServerTest, AStudyCreatedAgainWithTheSameSpecIsLoadedAnew) {
  AStudyCreatedAgainWithTheSameSpecIsLoadedAnew();
}

}  // namespace
}  // namespace lago::server
