#include "tests/fuzz/service_fuzzer.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "lago/v1/lago_service.pb.h"
#include "server/study_service.h"

namespace lago::fuzz {
namespace {

using server::StudyService;

[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "service_fuzzer: broken invariant: %s\n", what.c_str());
  std::abort();
}

// A database file of this process on tmpfs when there is one.
std::string DatabasePath() {
  const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  return absl::StrCat(dir, "/lago-fuzz-", getpid(), ".db");
}

void RemoveDatabase(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove(absl::StrCat(path, suffix).c_str());
  }
}

// Codes that a handler may return for bad or unlucky input.
void CheckCode(const absl::Status& status, const char* method) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kResourceExhausted:
      return;
    default:
      Violation(absl::StrCat(method, " returned ", status.ToString()));
  }
}

// Everything a client can read back, as bytes: each study and all its trials.
std::string View(StudyService& service) {
  std::string out;
  v1::ListStudiesRequest list;
  list.set_page_size(1000);
  auto studies = service.ListStudies(list);
  if (!studies.ok()) Violation("ListStudies: " + studies.status().ToString());
  for (const v1::Study& study : studies->studies()) {
    v1::Study copy = study;
    copy.clear_update_time();  // Not part of what must survive bit for bit.
    absl::StrAppend(&out, copy.DebugString(), "|");
    v1::ListTrialsRequest trials;
    trials.set_study(study.name());
    trials.set_page_size(1000);
    auto page = service.ListTrials(trials);
    if (!page.ok()) Violation("ListTrials: " + page.status().ToString());
    for (const v1::Trial& t : page->trials()) absl::StrAppend(&out, t.DebugString());
    absl::StrAppend(&out, "#");
  }
  return out;
}

void CheckStudies(StudyService& service) {
  v1::ListStudiesRequest list;
  list.set_page_size(1000);
  auto studies = service.ListStudies(list);
  if (!studies.ok()) Violation("ListStudies: " + studies.status().ToString());
  for (const v1::Study& study : studies->studies()) {
    v1::ListTrialsRequest request;
    request.set_study(study.name());
    request.set_page_size(1000);
    auto trials = service.ListTrials(request);
    if (!trials.ok()) Violation("ListTrials: " + trials.status().ToString());
    int64_t expected_id = 1, completed = 0, failed = 0;
    for (const v1::Trial& t : trials->trials()) {
      if (t.id() != expected_id++)
        Violation(absl::StrCat("trial ids not dense at ", t.id()));
      if (t.x_size() != study.spec().parameters_size()) Violation("wrong point size");
      for (int i = 0; i < t.x_size(); ++i) {
        const v1::Parameter& p = study.spec().parameters(i);
        if (!(t.x(i) >= p.lower() && t.x(i) <= p.upper())) {
          Violation(absl::StrCat("trial ", t.id(), " x[", i, "] = ", t.x(i),
                                 " is outside the box"));
        }
        // Integer and categorical entries hold whole numbers (for a
        // categorical one, the index of a choice).
        if (p.type() != v1::PARAMETER_TYPE_CONTINUOUS && t.x(i) != std::round(t.x(i))) {
          Violation(absl::StrCat("trial ", t.id(), " x[", i, "] = ", t.x(i),
                                 " is not a whole number"));
        }
      }
      if (t.state() == v1::TRIAL_STATE_COMPLETED) {
        ++completed;
        if (!std::isfinite(t.value())) Violation("a completed trial has no finite value");
      }
      failed += t.state() == v1::TRIAL_STATE_FAILED;
    }
    if (study.stats().trials() != trials->trials_size() ||
        study.stats().completed() != completed || study.stats().failed() != failed) {
      Violation(absl::StrCat("study ", study.name(), " counts ",
                             study.stats().ShortDebugString(), " do not match its ",
                             trials->trials_size(), " trials"));
    }
  }
}

// Requests that would only make a run slow, not reach new code.
bool TooCostly(const v1::CreateStudyRequest& r) {
  if (r.spec().parameters_size() > 6) return true;
  for (const auto& [key, value] : r.spec().strategy_options()) {
    if ((key == "candidates" || key == "refine" || key == "initial_points") &&
        value.size() > 2) {
      return true;
    }
  }
  return false;
}

class Runner {
 public:
  Runner() : path_(DatabasePath()) {
    RemoveDatabase(path_);
    Open();
  }
  ~Runner() {
    service_.reset();
    RemoveDatabase(path_);
  }

  void Call(uint8_t op, const std::string& payload) {
    switch (op % 14) {
      case 0: {
        v1::CreateStudyRequest r;
        if (r.ParseFromString(payload) && !TooCostly(r))
          Check(service_->CreateStudy(r), "CreateStudy");
        break;
      }
      case 1:
        Handle<v1::GetStudyRequest>(payload, &StudyService::GetStudy, "GetStudy");
        break;
      case 2:
        Handle<v1::ListStudiesRequest>(payload, &StudyService::ListStudies,
                                       "ListStudies");
        break;
      case 3:
        Handle<v1::DeleteStudyRequest>(payload, &StudyService::DeleteStudy,
                                       "DeleteStudy");
        break;
      case 4:
        Handle<v1::StopStudyRequest>(payload, &StudyService::StopStudy, "StopStudy");
        break;
      case 5: {
        v1::SuggestTrialsRequest r;
        if (r.ParseFromString(payload) && r.count() <= 16) {
          Check(service_->SuggestTrials(r), "SuggestTrials");
        }
        break;
      }
      case 6:
        Handle<v1::ObserveTrialRequest>(payload, &StudyService::ObserveTrial,
                                        "ObserveTrial");
        break;
      case 7:
        Handle<v1::HeartbeatRequest>(payload, &StudyService::Heartbeat, "Heartbeat");
        break;
      case 8:
        Handle<v1::AbandonTrialRequest>(payload, &StudyService::AbandonTrial,
                                        "AbandonTrial");
        break;
      case 9:
        Handle<v1::ListTrialsRequest>(payload, &StudyService::ListTrials, "ListTrials");
        break;
      case 10: {
        // Both read only: the same payload is also a Predict request.
        Handle<v1::GetBestRequest>(payload, &StudyService::GetBest, "GetBest");
        v1::PredictRequest r;
        if (r.ParseFromString(payload) && r.points_size() <= 64) {
          Check(service_->Predict(r), "Predict");
        }
        break;
      }
      case 11: {
        v1::AddObservationsRequest r;
        if (r.ParseFromString(payload) && r.observations_size() <= 64) {
          Check(service_->AddObservations(r), "AddObservations");
        }
        break;
      }
      case 12:
        now_ +=
            absl::Seconds(10 * (payload.empty() ? 1 : static_cast<uint8_t>(payload[0])));
        break;
      default:
        Restart();
        break;
    }
    CheckStudies(*service_);
  }

  // A fresh service on the same file must show what this one shows.
  void Restart() {
    const std::string before = View(*service_);
    service_.reset();
    Open();
    const std::string after = View(*service_);
    if (before != after) {
      Violation(absl::StrCat("a restarted service shows different studies or trials:\n",
                             before, "\n---- after the restart ----\n", after));
    }
  }

 private:
  void Open() {
    auto store = storage::OpenSqliteStore(path_);
    if (!store.ok()) Violation("cannot open the store: " + store.status().ToString());
    server::StudyServiceOptions options;
    const absl::Time* now = &now_;
    options.clock = [now] { return *now; };
    service_ = std::make_unique<StudyService>(*std::move(store), options);
  }

  template <typename Result>
  void Check(const Result& result, const char* method) {
    CheckCode(result.status(), method);
  }

  template <typename Request, typename Method>
  void Handle(const std::string& payload, Method method, const char* name) {
    Request r;
    if (!r.ParseFromString(payload)) return;
    Check((service_.get()->*method)(r), name);
  }

  std::string path_;
  absl::Time now_ = absl::FromUnixSeconds(1800000000);
  std::unique_ptr<StudyService> service_;
};

void Append(std::string* program, uint8_t op, const google::protobuf::Message& m) {
  const std::string payload = m.SerializeAsString();
  program->push_back(static_cast<char>(op));
  program->push_back(static_cast<char>(payload.size() & 0xff));
  program->push_back(static_cast<char>((payload.size() >> 8) & 0xff));
  program->append(payload);
}

void AppendRaw(std::string* program, uint8_t op, const std::string& payload) {
  program->push_back(static_cast<char>(op));
  program->push_back(static_cast<char>(payload.size() & 0xff));
  program->push_back(static_cast<char>((payload.size() >> 8) & 0xff));
  program->append(payload);
}

}  // namespace

void RunProgram(const uint8_t* data, size_t size) {
  // Mutated strings are often not UTF-8; protobuf refuses them (as gRPC
  // would) and need not say so on every input.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  Runner runner;
  size_t pos = 0;
  int calls = 0;
  while (pos + 3 <= size && calls < 64) {
    const uint8_t op = data[pos];
    const size_t length = data[pos + 1] | (static_cast<size_t>(data[pos + 2]) << 8);
    pos += 3;
    const size_t take = std::min(length, size - pos);
    runner.Call(op, std::string(reinterpret_cast<const char*>(data + pos), take));
    pos += take;
    ++calls;
  }
  runner.Restart();
}

std::vector<std::string> SeedPrograms() {
  std::vector<std::string> out;
  for (const char* strategy : {"sobol", "random", "lago", "bo", "trust-region"}) {
    for (int mode = 0; mode < 3; ++mode) {
      std::string p;
      v1::CreateStudyRequest create;
      create.set_name("s");
      v1::StudySpec* spec = create.mutable_spec();
      for (const char* name : {"x", "y"}) {
        v1::Parameter* q = spec->add_parameters();
        q->set_name(name);
        q->set_lower(-1.0);
        q->set_upper(2.0);
      }
      spec->set_strategy(strategy);
      spec->set_gradient_mode(static_cast<v1::GradientMode>(mode + 1));
      spec->set_seed(3);
      spec->set_budget(mode == 1 ? 12.0 : 0.0);
      spec->set_lease_seconds(60);
      if (std::string(strategy) != "sobol" && std::string(strategy) != "random") {
        (*spec->mutable_strategy_options())["initial_points"] = "3";
        (*spec->mutable_strategy_options())["candidates"] = "64";
      }
      Append(&p, 0, create);
      for (int i = 1; i <= 6; ++i) {
        v1::SuggestTrialsRequest suggest;
        suggest.set_study("s");
        suggest.set_client_id(i % 2 ? "a" : "b");
        suggest.set_count(i == 5 ? 2 : 1);
        suggest.set_request_id(absl::StrCat("r", i));
        Append(&p, 5, suggest);
        v1::ObserveTrialRequest observe;
        observe.set_study("s");
        observe.set_trial_id(i);
        observe.set_value(0.5 * i - 1.0);
        if (mode != 2) {
          observe.add_gradient(0.1 * i);
          observe.add_gradient(-0.2);
        }
        observe.set_request_id(absl::StrCat("o", i));
        if (i == 4) {
          observe.set_failed(true);
          observe.set_failure_reason("robot");
        }
        Append(&p, 6, observe);
        if (i == 3) AppendRaw(&p, 12, std::string(1, '\x07'));
        if (i == 4) AppendRaw(&p, 13, "");
      }
      v1::HeartbeatRequest heartbeat;
      heartbeat.set_study("s");
      heartbeat.set_trial_id(7);
      Append(&p, 7, heartbeat);
      v1::AbandonTrialRequest abandon;
      abandon.set_study("s");
      abandon.set_trial_id(7);
      abandon.set_reason("jammed");
      Append(&p, 8, abandon);
      v1::AddObservationsRequest add;
      add.set_study("s");
      v1::Observation* o = add.add_observations();
      o->add_x(0.5);
      o->add_x(1.5);
      o->set_value(-2.0);
      Append(&p, 11, add);
      v1::ListTrialsRequest trials;
      trials.set_study("s");
      trials.set_page_size(3);
      trials.add_states(v1::TRIAL_STATE_COMPLETED);
      Append(&p, 9, trials);
      v1::GetBestRequest best;
      best.set_study("s");
      Append(&p, 10, best);
      v1::GetStudyRequest get;
      get.set_name("s");
      Append(&p, 1, get);
      v1::ListStudiesRequest list;
      list.set_page_size(1);
      Append(&p, 2, list);
      v1::StopStudyRequest stop;
      stop.set_name("s");
      Append(&p, 4, stop);
      v1::DeleteStudyRequest del;
      del.set_name(mode == 0 ? "s" : "other");
      Append(&p, 3, del);
      out.push_back(std::move(p));
    }
  }
  // A continuous, a categorical and an integer parameter: values only, then
  // with gradients (0 along the categorical and integer parameters, but for
  // one observation that the server refuses).
  const std::pair<const char*, v1::GradientMode> mixed[] = {
      {"lago", v1::GRADIENT_MODE_UNSPECIFIED},
      {"bo", v1::GRADIENT_MODE_UNSPECIFIED},
      {"sobol", v1::GRADIENT_MODE_UNSPECIFIED},
      {"lago", v1::GRADIENT_MODE_ENHANCED},
      {"trust-region", v1::GRADIENT_MODE_ON_REQUEST}};
  for (const auto& [strategy, mode] : mixed) {
    std::string p;
    v1::CreateStudyRequest create;
    create.set_name("m");
    v1::StudySpec* spec = create.mutable_spec();
    v1::Parameter* x = spec->add_parameters();
    x->set_name("x");
    x->set_upper(1.0);
    v1::Parameter* c = spec->add_parameters();
    c->set_name("c");
    c->set_type(v1::PARAMETER_TYPE_CATEGORICAL);
    for (const char* label : {"a", "b", "c"}) c->add_choices(label);
    v1::Parameter* n = spec->add_parameters();
    n->set_name("n");
    n->set_type(v1::PARAMETER_TYPE_INTEGER);
    n->set_upper(3.0);
    spec->set_strategy(strategy);
    spec->set_seed(5);
    spec->set_gradient_mode(mode);
    if (std::string(strategy) != "sobol") {
      (*spec->mutable_strategy_options())["initial_points"] = "4";
      (*spec->mutable_strategy_options())["candidates"] = "64";
    }
    Append(&p, 0, create);
    for (int i = 1; i <= 6; ++i) {
      v1::SuggestTrialsRequest suggest;
      suggest.set_study("m");
      suggest.set_request_id(absl::StrCat("r", i));
      Append(&p, 5, suggest);
      v1::ObserveTrialRequest observe;
      observe.set_study("m");
      observe.set_trial_id(i);
      observe.set_value(0.25 * i);
      observe.set_request_id(absl::StrCat("o", i));
      if (mode != v1::GRADIENT_MODE_UNSPECIFIED) {
        for (double g : {0.5 - 0.2 * i, i == 2 ? 1.0 : 0.0, 0.0}) observe.add_gradient(g);
      }
      Append(&p, 6, observe);
    }
    v1::AddObservationsRequest add;
    add.set_study("m");
    v1::Observation* o = add.add_observations();
    for (double v : {0.5, 2.0, 1.0}) o->add_x(v);
    o->set_value(-1.0);
    Append(&p, 11, add);
    v1::GetBestRequest best;
    best.set_study("m");
    best.set_include_model(true);
    Append(&p, 10, best);
    out.push_back(std::move(p));
  }
  // Noisy values: the fitted noise (`noise`), known noises (`noise_std`),
  // both, and the trust region on the posterior mean (`region_mean`), with
  // a point measured three times (with known noises, where the study has
  // them, on the last two) before the suggestions.
  const std::tuple<const char*, v1::GradientMode, const char*, bool> noisy[] = {
      {"lago", v1::GRADIENT_MODE_UNSPECIFIED, "1", false},
      {"lago", v1::GRADIENT_MODE_UNSPECIFIED, "1", true},
      {"bo", v1::GRADIENT_MODE_UNSPECIFIED, "0", true},
      {"trust-region", v1::GRADIENT_MODE_ENHANCED, "1", true}};
  for (const auto& [strategy, mode, noise, known] : noisy) {
    std::string p;
    v1::CreateStudyRequest create;
    create.set_name("n");
    v1::StudySpec* spec = create.mutable_spec();
    for (const char* name : {"x", "y"}) {
      v1::Parameter* q = spec->add_parameters();
      q->set_name(name);
      q->set_upper(1.0);
    }
    spec->set_strategy(strategy);
    spec->set_seed(7);
    spec->set_gradient_mode(mode);
    auto& options = *spec->mutable_strategy_options();
    options["initial_points"] = "4";
    options["candidates"] = "64";
    options["noise"] = noise;
    options["region_mean"] = "1";
    Append(&p, 0, create);
    v1::AddObservationsRequest add;
    add.set_study("n");
    for (int i = 0; i < 3; ++i) {
      v1::Observation* o = add.add_observations();
      o->add_x(0.25);
      o->add_x(0.75);
      o->set_value(1.0 + 0.5 * i);
      if (mode != v1::GRADIENT_MODE_UNSPECIFIED && i == 0) {
        o->add_gradient(0.5);
        o->add_gradient(-0.5);
      }
      if (known && i > 0) o->set_noise_std(0.1 * i);
    }
    Append(&p, 11, add);
    for (int i = 1; i <= 6; ++i) {
      v1::SuggestTrialsRequest suggest;
      suggest.set_study("n");
      suggest.set_request_id(absl::StrCat("r", i));
      Append(&p, 5, suggest);
      v1::ObserveTrialRequest observe;
      observe.set_study("n");
      observe.set_trial_id(i + 3);
      observe.set_value(std::sin(3.0 * i));
      if (mode != v1::GRADIENT_MODE_UNSPECIFIED) {
        observe.add_gradient(0.2 * i - 0.5);
        observe.add_gradient(0.1);
      }
      if (known && i % 2 == 0) observe.set_noise_std(0.05 * i);
      observe.set_request_id(absl::StrCat("o", i));
      Append(&p, 6, observe);
    }
    v1::GetBestRequest best;
    best.set_study("n");
    best.set_include_model(true);
    Append(&p, 10, best);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace lago::fuzz
