#include "server/study_service.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/search_space.h"
#include "core/status_macros.h"
#include "core/strategy.h"
#include "server/convert.h"
#include "server/logging.h"

namespace lago::server {
namespace {

constexpr int kMaxSuggestCount = 1000;
constexpr int kMaxPageSize = 1000;
constexpr int kDefaultPageSize = 100;
constexpr size_t kMaxIdLength = 128;
constexpr size_t kMaxReasonLength = 4096;
constexpr int kMaxImport = 10000;
// Points one Predict call may ask about.
constexpr int kMaxPredict = 1000;

bool IsPrintableAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

absl::Status CheckStudyName(const std::string& name, const char* field) {
  if (!core::IsValidName(name, 128, /*allow_leading_digit=*/true)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", name.substr(0, 80),
                     "\" is not a valid study name (1 to 128 of [A-Za-z0-9_.-], not "
                     "starting with . or -)"));
  }
  return absl::OkStatus();
}

absl::Status CheckId(const std::string& id, const char* field) {
  if (id.size() > kMaxIdLength || !IsPrintableAscii(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be at most ", kMaxIdLength,
                     " printable ASCII characters; got ", id.size(), " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckReason(const std::string& reason, const char* field) {
  if (reason.size() > kMaxReasonLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", reason.size(), " characters; at most ", kMaxReasonLength));
  }
  return absl::OkStatus();
}

absl::Status CheckTrialId(int64_t id) {
  if (id < 1) {
    return absl::InvalidArgumentError(absl::StrCat("trial_id: ", id, " must be >= 1"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested == 0) return kDefaultPageSize;
  if (requested < 0 || requested > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", requested, " is outside [0, ", kMaxPageSize, "]"));
  }
  return requested;
}

absl::Status CheckNoise(bool has_noise, double noise, const std::string& field) {
  if (has_noise && (!std::isfinite(noise) || noise < 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", noise, " must be finite and >= 0"));
  }
  return absl::OkStatus();
}

bool HasResult(const v1::Trial& t) {
  return t.state() == v1::TRIAL_STATE_COMPLETED || t.state() == v1::TRIAL_STATE_FAILED;
}

bool SameDouble(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Whether `request` reports the result `t` already has.
bool SameResult(const v1::Trial& t, const v1::ObserveTrialRequest& request) {
  if (request.failed()) {
    return t.state() == v1::TRIAL_STATE_FAILED &&
           t.failure_reason() == request.failure_reason();
  }
  if (t.state() != v1::TRIAL_STATE_COMPLETED || !SameDouble(t.value(), request.value())) {
    return false;
  }
  if (t.gradient_size() != request.gradient_size()) return false;
  for (int i = 0; i < t.gradient_size(); ++i) {
    if (!SameDouble(t.gradient(i), request.gradient(i))) return false;
  }
  return t.has_noise_std() == request.has_noise_std() &&
         (!t.has_noise_std() || SameDouble(t.noise_std(), request.noise_std()));
}

// Cost units a result spent: a value costs 1, a gradient gradient_cost.
double CostOf(const v1::StudySpec& spec, const v1::Trial& t) {
  if (t.state() == v1::TRIAL_STATE_FAILED) return 1.0;
  if (t.state() != v1::TRIAL_STATE_COMPLETED) return 0.0;
  return 1.0 + (t.gradient_size() > 0 ? spec.gradient_cost() : 0.0);
}

bool IsStale(const v1::Trial& t, absl::Time now) {
  return t.state() == v1::TRIAL_STATE_PENDING &&
         FromTimestamp(t.lease_expire_time()) <= now;
}

// The trial as a client sees it: a pending trial whose lease ran out is STALE.
v1::Trial Present(const v1::Trial& t, absl::Time now) {
  v1::Trial out = t;
  if (IsStale(t, now)) out.set_state(v1::TRIAL_STATE_STALE);
  return out;
}

bool Better(const v1::StudySpec& spec, double a, double b) {
  return spec.direction() == v1::DIRECTION_MAXIMIZE ? a > b : a < b;
}

std::string Fingerprint(const char* method, const google::protobuf::Message& request) {
  return absl::StrCat(method, ":", CanonicalBytes(request));
}

}  // namespace

struct StudyService::StudyEntry {
  std::mutex mu;
  // Set under `mu` when the study is deleted; a holder must then answer NOT_FOUND.
  bool deleted = false;
  // Set under `mu` when another process deleted the study: a holder must
  // acquire it again.
  bool dropped = false;
  int64_t id = 0;
  // The stored revision this view was loaded at or last committed.
  int64_t revision = 0;
  // Name, normalised spec, state and times as stored.
  v1::Study study;
  std::optional<core::SearchSpace> space;
  std::unique_ptr<core::Strategy> strategy;
  std::string strategy_state;
  // trials[i] has id i + 1.
  std::vector<v1::Trial> trials;
  // The completed trials as the strategy sees them, in completion order.
  std::vector<core::CompletedPoint> completed;
  // The trials with a result (COMPLETED or FAILED).
  int64_t results = 0;
  // For a stored strategy state without hyperparameters (no suggestion since
  // the results came): the state with those a prediction fitted at revision
  // `model_revision`, which later predictions at that revision read instead
  // of fitting again. Memory only: it is what they would fit.
  std::string model_state;
  int64_t model_revision = -1;
  double cost_spent = 0.0;

  absl::Status CheckAlive() const {
    if (deleted)
      return absl::NotFoundError(
          absl::StrCat("study \"", study.name(), "\" was deleted"));
    return absl::OkStatus();
  }

  absl::StatusOr<v1::Trial*> FindTrial(int64_t trial_id) {
    if (trial_id < 1 || trial_id > static_cast<int64_t>(trials.size())) {
      return absl::NotFoundError(absl::StrCat("trial_id: ", trial_id,
                                              " is not a trial of study \"", study.name(),
                                              "\" (it has ", trials.size(), " trials)"));
    }
    return &trials[trial_id - 1];
  }

  core::CompletedPoint ToCompleted(const v1::Trial& t) const {
    core::CompletedPoint p;
    p.trial_id = t.id();
    p.x = space->ToUnit(t.x());
    p.kind = FromProto(t.kind());
    if (t.why().has_sequence_index()) p.sequence_index = t.why().sequence_index();
    p.value = ToMinimization(study.spec(), t.value());
    if (t.has_noise_std()) p.noise_std = t.noise_std();
    if (t.gradient_size() > 0) {
      Eigen::VectorXd g = space->GradientToUnit(t.gradient(), t.x());
      if (study.spec().direction() == v1::DIRECTION_MAXIMIZE) g = -g;
      p.gradient = std::move(g);
    }
    return p;
  }

  // Records a result in the memory view; `t` is already durable.
  void ApplyResult(const v1::Trial& t) {
    ++results;
    cost_spent += CostOf(study.spec(), t);
    if (t.state() == v1::TRIAL_STATE_COMPLETED) completed.push_back(ToCompleted(t));
  }

  // Makes the memory view that of `snapshot`, a snapshot of this study (`space`
  // is set). INTERNAL, changing nothing, when its trial ids have a gap or its
  // order of results does not list each result once.
  absl::Status Load(storage::StudySnapshot snapshot) {
    for (size_t i = 0; i < snapshot.trials.size(); ++i) {
      if (snapshot.trials[i].id() != static_cast<int64_t>(i + 1)) {
        return absl::InternalError(
            absl::StrCat("stored study \"", snapshot.record.study.name(),
                         "\" has a gap in its trial ids at ", i + 1));
      }
    }
    std::vector<bool> applied(snapshot.trials.size(), false);
    for (int64_t id : snapshot.result_order) {
      if (id < 1 || id > static_cast<int64_t>(snapshot.trials.size()) ||
          applied[id - 1] || !HasResult(snapshot.trials[id - 1])) {
        return absl::InternalError(absl::StrCat("stored study \"",
                                                snapshot.record.study.name(),
                                                "\" lists trial ", id, " as a result"));
      }
      applied[id - 1] = true;
    }
    for (size_t i = 0; i < applied.size(); ++i) {
      if (!applied[i] && HasResult(snapshot.trials[i])) {
        return absl::InternalError(absl::StrCat("stored study \"",
                                                snapshot.record.study.name(),
                                                "\" has no result for trial ", i + 1));
      }
    }
    study = std::move(snapshot.record.study);
    revision = snapshot.record.revision;
    strategy_state = std::move(snapshot.strategy_state);
    trials = std::move(snapshot.trials);
    completed.clear();
    results = 0;
    cost_spent = 0.0;
    // Results in the order they arrived, as the strategy saw them.
    for (int64_t id : snapshot.result_order) ApplyResult(trials[id - 1]);
    return absl::OkStatus();
  }

  // Brings the memory view up to date with `changes`, what changed in the
  // store after its revision. FAILED_PRECONDITION, changing nothing, when they
  // do not fit the view: trial ids that skip one, a result taken back, a new
  // result missing from the order of results or listed twice, or counts other
  // than the stored ones (as when a server of an older version wrote).
  absl::Status ApplyChanges(storage::StudyChanges changes) {
    const auto misfit = [&](absl::string_view why) {
      return absl::FailedPreconditionError(
          absl::StrCat("the changes to study \"", study.name(), "\" after revision ",
                       revision, " do not fit its view: ", why));
    };
    const int64_t known = static_cast<int64_t>(trials.size());
    int64_t last = 0;
    // The changed trials that gain a result, by id.
    std::vector<int64_t> gained;
    for (const v1::Trial& t : changes.trials) {
      if (t.id() <= last || t.id() > std::max(known, last) + 1) {
        return misfit(absl::StrCat("trial ", t.id(), " after trial ", last));
      }
      last = t.id();
      const bool had = t.id() <= known && HasResult(trials[t.id() - 1]);
      if (had && !HasResult(t)) {
        return misfit(absl::StrCat("trial ", t.id(), " lost its result"));
      }
      if (!had && HasResult(t)) gained.push_back(t.id());
    }
    if (std::max(known, last) != changes.trial_count) {
      return misfit(absl::StrCat(std::max(known, last), " trials, ", changes.trial_count,
                                 " stored"));
    }
    std::vector<int64_t> listed = changes.result_order;
    std::sort(listed.begin(), listed.end());
    if (listed != gained) return misfit("new results and their order differ");
    if (results + static_cast<int64_t>(gained.size()) != changes.result_count) {
      return misfit(absl::StrCat(results + static_cast<int64_t>(gained.size()),
                                 " results, ", changes.result_count, " stored"));
    }
    for (v1::Trial& t : changes.trials) {
      if (t.id() <= known) {
        trials[t.id() - 1] = std::move(t);
      } else {
        trials.push_back(std::move(t));
      }
    }
    for (int64_t id : changes.result_order) ApplyResult(trials[id - 1]);
    study = std::move(changes.record.study);
    revision = changes.record.revision;
    if (changes.strategy_state.has_value()) {
      strategy_state = *std::move(changes.strategy_state);
    }
    return absl::OkStatus();
  }
};

StudyService::StudyService(std::unique_ptr<storage::StudyStore> store,
                           StudyServiceOptions options)
    : store_(std::move(store)), options_(std::move(options)) {}

StudyService::~StudyService() = default;

absl::StatusOr<std::shared_ptr<StudyService::StudyEntry>> StudyService::Acquire(
    const std::string& name, const char* field) {
  RETURN_IF_ERROR(CheckStudyName(name, field));
  {
    std::lock_guard<std::mutex> lock(map_mu_);
    auto it = studies_.find(name);
    if (it != studies_.end()) return it->second;
  }
  // Load outside the map lock: loading one study must not stall the others.
  ASSIGN_OR_RETURN(std::optional<storage::StudyRecord> record, store_->FindStudy(name));
  if (!record.has_value()) {
    return absl::NotFoundError(absl::StrCat(field, ": no study named \"", name, "\""));
  }
  ASSIGN_OR_RETURN(storage::StudySnapshot snapshot, store_->LoadStudy(record->id));
  auto entry = std::make_shared<StudyEntry>();
  entry->id = snapshot.record.id;
  const v1::StudySpec& spec = snapshot.record.study.spec();
  auto space = SearchSpaceOf(spec);
  if (!space.ok()) {
    return absl::InternalError(absl::StrCat(
        "stored study \"", name, "\" has an invalid spec: ", space.status().message()));
  }
  entry->space = *std::move(space);
  auto strategy = core::MakeStrategy(spec.strategy(), ProblemOf(spec));
  if (!strategy.ok()) {
    return absl::InternalError(
        absl::StrCat("stored study \"", name, "\": ", strategy.status().message()));
  }
  entry->strategy = *std::move(strategy);
  RETURN_IF_ERROR(entry->Load(std::move(snapshot)));
  std::lock_guard<std::mutex> lock(map_mu_);
  auto [it, inserted] = studies_.emplace(name, std::move(entry));
  return it->second;  // If another thread loaded it first, share its entry.
}

absl::StatusOr<bool> StudyService::Sync(const std::shared_ptr<StudyEntry>& entry,
                                        std::optional<int64_t> stored_revision) {
  absl::StatusOr<int64_t> revision = stored_revision.has_value()
                                         ? absl::StatusOr<int64_t>(*stored_revision)
                                         : store_->Revision(entry->id);
  if (revision.ok() && *revision == entry->revision) return true;
  if (!revision.ok() && !absl::IsNotFound(revision.status())) return revision.status();
  if (revision.ok()) {
    // Another process changed the study: read what changed since this view's
    // revision, or the whole study when the changes do not fit the view, or
    // when the id now names another study.
    absl::StatusOr<storage::StudyChanges> changes =
        store_->LoadChanges(entry->id, entry->revision);
    if (!changes.ok() && !absl::IsNotFound(changes.status()) &&
        !absl::IsFailedPrecondition(changes.status())) {
      return changes.status();
    }
    if (changes.ok() && changes->record.study.name() == entry->study.name()) {
      const int64_t from = entry->revision;
      const size_t changed = changes->trials.size();
      absl::Status applied = entry->ApplyChanges(*std::move(changes));
      if (applied.ok()) {
        if (LogEnabled(LogLevel::kDebug)) {
          Log(LogLevel::kDebug, absl::StrCat("study ", entry->study.name(), ": read ",
                                             changed, " changed trials from revision ",
                                             from, " to ", entry->revision));
        }
        return true;
      }
      Log(LogLevel::kWarning, absl::StrCat(applied.message(), "; loading it whole"));
    }
    if (!absl::IsNotFound(changes.status())) {
      absl::StatusOr<storage::StudySnapshot> snapshot = store_->LoadStudy(entry->id);
      if (!snapshot.ok() && !absl::IsNotFound(snapshot.status())) {
        return snapshot.status();
      }
      if (snapshot.ok() && snapshot->record.study.name() == entry->study.name() &&
          CanonicalBytes(snapshot->record.study.spec()) ==
              CanonicalBytes(entry->study.spec())) {
        RETURN_IF_ERROR(entry->Load(*std::move(snapshot)));
        if (LogEnabled(LogLevel::kDebug)) {
          Log(LogLevel::kDebug,
              absl::StrCat("study ", entry->study.name(), ": loaded whole at revision ",
                           entry->revision));
        }
        return true;
      }
    }
  }
  entry->dropped = true;
  std::lock_guard<std::mutex> lock(map_mu_);
  auto it = studies_.find(entry->study.name());
  if (it != studies_.end() && it->second == entry) studies_.erase(it);
  return false;
}

absl::StatusOr<StudyService::HeldStudy> StudyService::Hold(
    const std::string& name, const char* field, bool change,
    const std::string& request_id) {
  // A study that another process deleted is acquired again: it may have been
  // created again under the same name.
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    HeldStudy held;
    ASSIGN_OR_RETURN(held.entry, Acquire(name, field));
    held.lock = std::unique_lock<std::mutex>(held.entry->mu);
    RETURN_IF_ERROR(held.entry->CheckAlive());
    if (held.entry->dropped) continue;
    std::optional<int64_t> revision;
    if (change) {
      ASSIGN_OR_RETURN(held.store_lock, store_->LockStudy(held.entry->id, request_id));
      revision = held.store_lock->revision();
    }
    ASSIGN_OR_RETURN(bool current, Sync(held.entry, revision));
    if (current) return held;
  }
  return absl::AbortedError(
      absl::StrCat(field, ": study \"", name, "\" was deleted by another server process ",
                   kAttempts, " times while this call waited; retry"));
}

v1::Study StudyService::StudyView(const StudyEntry& entry, absl::Time now) const {
  v1::Study study = entry.study;
  v1::StudyStats* stats = study.mutable_stats();
  stats->set_trials(static_cast<int64_t>(entry.trials.size()));
  for (const v1::Trial& t : entry.trials) {
    switch (Present(t, now).state()) {
      case v1::TRIAL_STATE_PENDING:
        stats->set_pending(stats->pending() + 1);
        break;
      case v1::TRIAL_STATE_STALE:
        stats->set_stale(stats->stale() + 1);
        break;
      case v1::TRIAL_STATE_COMPLETED:
        stats->set_completed(stats->completed() + 1);
        break;
      case v1::TRIAL_STATE_FAILED:
        stats->set_failed(stats->failed() + 1);
        break;
      case v1::TRIAL_STATE_ABANDONED:
        stats->set_abandoned(stats->abandoned() + 1);
        break;
      default:
        break;
    }
  }
  stats->set_cost_spent(entry.cost_spent);
  return study;
}

absl::StatusOr<v1::CreateStudyResponse> StudyService::CreateStudy(
    const v1::CreateStudyRequest& request) {
  RETURN_IF_ERROR(CheckStudyName(request.name(), "name"));
  ASSIGN_OR_RETURN(v1::StudySpec spec, NormalizeSpec(request.spec()));
  std::lock_guard<std::mutex> create_lock(create_mu_);
  const absl::Time now = options_.clock();
  v1::CreateStudyResponse response;
  // Another server process may create the name between the lookup and the
  // insert; the second lookup then finds its study.
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<storage::StudyRecord> existing,
                     store_->FindStudy(request.name()));
    if (existing.has_value()) {
      if (CanonicalBytes(existing->study.spec()) != CanonicalBytes(spec)) {
        return absl::AlreadyExistsError(absl::StrCat(
            "name: study \"", request.name(),
            "\" already exists with a different spec; choose another name or delete it"));
      }
      ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.name(), "name", /*change=*/false));
      *response.mutable_study() = StudyView(*entry, now);
      response.set_created(false);
      return response;
    }
    v1::Study study;
    study.set_name(request.name());
    *study.mutable_spec() = spec;
    study.set_state(v1::STUDY_STATE_ACTIVE);
    *study.mutable_create_time() = ToTimestamp(now);
    *study.mutable_update_time() = ToTimestamp(now);
    absl::StatusOr<storage::StudyRecord> record = store_->CreateStudy(study);
    if (absl::IsAlreadyExists(record.status()) && attempt == 0) continue;
    if (!record.ok()) return record.status();
    break;
  }
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.name(), "name", /*change=*/false));
  *response.mutable_study() = StudyView(*entry, now);
  response.set_created(true);
  return response;
}

absl::StatusOr<v1::GetStudyResponse> StudyService::GetStudy(
    const v1::GetStudyRequest& request) {
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.name(), "name", /*change=*/false));
  v1::GetStudyResponse response;
  *response.mutable_study() = StudyView(*entry, options_.clock());
  return response;
}

absl::StatusOr<v1::ListStudiesResponse> StudyService::ListStudies(
    const v1::ListStudiesRequest& request) {
  ASSIGN_OR_RETURN(int page_size, PageSize(request.page_size()));
  // One more than asked tells whether another page follows.
  ASSIGN_OR_RETURN(std::vector<storage::StudyRecord> records,
                   store_->ListStudies(request.page_token(), page_size + 1));
  v1::ListStudiesResponse response;
  const absl::Time now = options_.clock();
  for (int i = 0; i < static_cast<int>(records.size()) && i < page_size; ++i) {
    auto entry = Hold(records[i].study.name(), "page_token", /*change=*/false);
    if (absl::IsNotFound(entry.status())) continue;  // Deleted meanwhile.
    if (!entry.ok()) return entry.status();
    *response.add_studies() = StudyView(**entry, now);
  }
  if (static_cast<int>(records.size()) > page_size) {
    response.set_next_page_token(records[page_size - 1].study.name());
  }
  return response;
}

absl::StatusOr<v1::DeleteStudyResponse> StudyService::DeleteStudy(
    const v1::DeleteStudyRequest& request) {
  std::lock_guard<std::mutex> create_lock(create_mu_);
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.name(), "name", /*change=*/true));
  RETURN_IF_ERROR(store_->DeleteStudy(entry->id));
  entry->deleted = true;
  std::lock_guard<std::mutex> map_lock(map_mu_);
  studies_.erase(request.name());
  return v1::DeleteStudyResponse();
}

absl::StatusOr<v1::StopStudyResponse> StudyService::StopStudy(
    const v1::StopStudyRequest& request) {
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.name(), "name", /*change=*/true));
  const absl::Time now = options_.clock();
  if (entry->study.state() == v1::STUDY_STATE_ACTIVE) {
    storage::StudyWrite write;
    write.study_id = entry->id;
    write.expected_revision = entry->revision;
    write.update_time_micros = ToMicros(now);
    write.state = v1::STUDY_STATE_STOPPED;
    ASSIGN_OR_RETURN(entry->revision, store_->Commit(write));
    entry->study.set_state(v1::STUDY_STATE_STOPPED);
    *entry->study.mutable_update_time() = ToTimestamp(now);
  }
  v1::StopStudyResponse response;
  *response.mutable_study() = StudyView(*entry, now);
  return response;
}

namespace {

// The stored answer to `request_id`, if any: from `lock` when the store read
// it with the study's lock, else from the store. FAILED_PRECONDITION when the
// id was used for a different request.
template <typename Response>
absl::StatusOr<std::optional<Response>> Replay(storage::StudyStore& store,
                                               int64_t study_id,
                                               const storage::StudyLock* lock,
                                               const std::string& request_id,
                                               const std::string& fingerprint) {
  if (request_id.empty()) return std::optional<Response>();
  std::optional<storage::RequestRecord> record;
  if (lock != nullptr && lock->read_request(request_id)) {
    record = lock->request();
  } else {
    ASSIGN_OR_RETURN(record, store.FindRequest(study_id, request_id));
  }
  if (!record.has_value()) return std::optional<Response>();
  if (record->fingerprint != fingerprint) {
    return absl::FailedPreconditionError(
        absl::StrCat("request_id: \"", request_id, "\" was already used for a different ",
                     record->method, " request"));
  }
  Response response;
  if (!response.ParseFromString(record->response)) {
    return absl::InternalError(
        absl::StrCat("the stored answer to request_id \"", request_id, "\" is corrupt"));
  }
  return std::optional<Response>(std::move(response));
}

std::optional<storage::RequestRecord> MakeRequestRecord(
    const std::string& request_id, const char* method, const std::string& fingerprint,
    const google::protobuf::Message& response) {
  if (request_id.empty()) return std::nullopt;
  storage::RequestRecord record;
  record.request_id = request_id;
  record.method = method;
  record.fingerprint = fingerprint;
  record.response = CanonicalBytes(response);
  return record;
}

}  // namespace

absl::StatusOr<v1::SuggestTrialsResponse> StudyService::SuggestTrials(
    const v1::SuggestTrialsRequest& request, const std::function<bool()>& cancelled) {
  constexpr char kMethod[] = "SuggestTrials";
  RETURN_IF_ERROR(CheckId(request.client_id(), "client_id"));
  RETURN_IF_ERROR(CheckId(request.request_id(), "request_id"));
  const int count = request.count() == 0 ? 1 : request.count();
  if (count < 1 || count > kMaxSuggestCount) {
    return absl::InvalidArgumentError(absl::StrCat(
        "count: ", request.count(), " is outside [0, ", kMaxSuggestCount, "]"));
  }
  ASSIGN_OR_RETURN(HeldStudy entry,
                   Hold(request.study(), "study", /*change=*/true, request.request_id()));
  const std::string fingerprint = Fingerprint(kMethod, request);
  ASSIGN_OR_RETURN(auto replay, Replay<v1::SuggestTrialsResponse>(
                                    *store_, entry->id, entry.store_lock.get(),
                                    request.request_id(), fingerprint));
  if (replay.has_value()) return *std::move(replay);

  const absl::Time now = options_.clock();
  const v1::StudySpec& spec = entry->study.spec();
  const absl::Duration lease = absl::Seconds(spec.lease_seconds());
  storage::StudyWrite write;
  write.study_id = entry->id;
  write.expected_revision = entry->revision;
  write.update_time_micros = ToMicros(now);

  // A client that asks again gets its own pending trials back first.
  if (!request.client_id().empty()) {
    for (const v1::Trial& t : entry->trials) {
      if (static_cast<int>(write.trials.size()) == count) break;
      if (t.state() == v1::TRIAL_STATE_PENDING && t.client_id() == request.client_id()) {
        v1::Trial renewed = t;
        *renewed.mutable_lease_expire_time() = ToTimestamp(now + lease);
        write.trials.push_back(std::move(renewed));
      }
    }
  }
  const size_t reused = write.trials.size();
  int wanted = count - static_cast<int>(reused);
  std::string new_state;
  std::optional<std::string> finished;
  if (wanted > 0) {
    absl::Status refusal;
    if (entry->study.state() == v1::STUDY_STATE_STOPPED) {
      refusal = absl::FailedPreconditionError(absl::StrCat(
          "study: \"", entry->study.name(), "\" is stopped; it takes no new trials"));
    } else if (entry->study.state() == v1::STUDY_STATE_DONE &&
               (spec.budget() <= 0.0 || entry->cost_spent < spec.budget())) {
      refusal = absl::FailedPreconditionError(absl::StrCat(
          "study: \"", entry->study.name(),
          "\" is done (its strategy stopped it early); it takes no new trials"));
    } else if (spec.budget() > 0.0) {
      // Budget: spent cost plus the expected cost of trials still in flight.
      const double new_cost =
          1.0 + (spec.gradient_mode() == v1::GRADIENT_MODE_ENHANCED ? spec.gradient_cost()
                                                                    : 0.0);
      double committed = entry->cost_spent;
      for (const v1::Trial& t : entry->trials) {
        if (t.state() == v1::TRIAL_STATE_PENDING && !IsStale(t, now)) {
          committed += 1.0 + (t.need_gradient() ? spec.gradient_cost() : 0.0);
        }
      }
      // In double: a budget may be far beyond what an int holds.
      const double fits = std::floor((spec.budget() - committed) / new_cost + 1e-9);
      if (!(fits >= 1.0)) {
        refusal = absl::ResourceExhaustedError(absl::StrCat(
            "study: the budget of \"", entry->study.name(), "\" (", spec.budget(),
            " cost units) is spent or committed to pending trials (", committed, ")"));
      }
      if (fits < static_cast<double>(wanted))
        wanted = fits < 1.0 ? 0 : static_cast<int>(fits);
    }
    if (!refusal.ok()) {
      if (reused == 0) return refusal;
      wanted = 0;
    }
  }
  if (wanted > 0) {
    std::vector<core::PendingPoint> pending;
    for (const v1::Trial& t : entry->trials) {
      if (t.state() == v1::TRIAL_STATE_PENDING && !IsStale(t, now)) {
        core::PendingPoint p;
        p.trial_id = t.id();
        p.x = entry->space->ToUnit(t.x());
        p.kind = FromProto(t.kind());
        if (t.why().has_sequence_index()) p.sequence_index = t.why().sequence_index();
        pending.push_back(std::move(p));
      }
    }
    core::StrategyInput input;
    input.state = entry->strategy_state;
    input.completed = entry->completed;
    input.pending = pending;
    input.count = wanted;
    ASSIGN_OR_RETURN(core::StrategyOutput output, entry->strategy->Suggest(input));
    for (const std::string& warning : output.report.warnings) {
      Log(LogLevel::kWarning, absl::StrCat("study ", request.study(), ": ", warning));
    }
    if (LogEnabled(LogLevel::kDebug) && !output.report.summary.empty()) {
      Log(LogLevel::kDebug,
          absl::StrCat("study ", request.study(), ":", output.report.summary));
    }
    if (output.finished.has_value()) {
      // The strategy ends the study: the transition is stored, then reported.
      finished = std::move(output.finished);
      write.state = v1::STUDY_STATE_DONE;
      output.suggestions.clear();
      wanted = 0;
    } else if (static_cast<int>(output.suggestions.size()) != wanted) {
      return absl::InternalError(absl::StrCat("strategy ", spec.strategy(), " returned ",
                                              output.suggestions.size(), " points for ",
                                              wanted));
    }
    int64_t next_id = static_cast<int64_t>(entry->trials.size()) + 1;
    for (const core::Suggestion& s : output.suggestions) {
      v1::Trial t;
      t.set_id(next_id++);
      for (double v : entry->space->FromUnit(s.x)) t.add_x(v);
      t.set_kind(ToProto(s.kind));
      switch (spec.gradient_mode()) {
        case v1::GRADIENT_MODE_ENHANCED:
          t.set_need_gradient(true);
          break;
        case v1::GRADIENT_MODE_ON_REQUEST:
          t.set_need_gradient(s.need_gradient);
          break;
        default:
          t.set_need_gradient(false);
          break;
      }
      t.set_state(v1::TRIAL_STATE_PENDING);
      t.set_client_id(request.client_id());
      *t.mutable_lease_expire_time() = ToTimestamp(now + lease);
      *t.mutable_create_time() = ToTimestamp(now);
      ToProto(s.why, t.mutable_why());
      write.trials.push_back(std::move(t));
    }
    write.strategy_state = output.state;
    new_state = std::move(output.state);
  }

  if (cancelled && cancelled()) {
    return absl::CancelledError(
        "the client cancelled the call or its deadline passed while the points were "
        "computed; nothing was stored");
  }
  v1::SuggestTrialsResponse response;
  for (const v1::Trial& t : write.trials) *response.add_trials() = t;
  // A call that only ends the study answers with an error: nothing to replay.
  if (!finished.has_value() || reused > 0) {
    write.request =
        MakeRequestRecord(request.request_id(), kMethod, fingerprint, response);
  }
  ASSIGN_OR_RETURN(entry->revision, store_->Commit(write));

  // Durable: now the memory view follows.
  for (v1::Trial& t : write.trials) {
    const int64_t id = t.id();
    if (id <= static_cast<int64_t>(entry->trials.size())) {
      entry->trials[id - 1] = std::move(t);
    } else {
      entry->trials.push_back(std::move(t));
    }
  }
  if (write.strategy_state.has_value()) entry->strategy_state = std::move(new_state);
  if (write.state.has_value()) entry->study.set_state(*write.state);
  *entry->study.mutable_update_time() = ToTimestamp(now);
  if (finished.has_value() && reused == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("study: \"", entry->study.name(), "\" is done: ", *finished));
  }
  return response;
}

absl::StatusOr<v1::ObserveTrialResponse> StudyService::ObserveTrial(
    const v1::ObserveTrialRequest& request) {
  constexpr char kMethod[] = "ObserveTrial";
  RETURN_IF_ERROR(CheckTrialId(request.trial_id()));
  RETURN_IF_ERROR(CheckId(request.request_id(), "request_id"));
  if (!request.failed() && !std::isfinite(request.value())) {
    return absl::InvalidArgumentError(
        absl::StrCat("value: ", request.value(),
                     " is not finite; report a failed evaluation with failed=true"));
  }
  RETURN_IF_ERROR(CheckNoise(request.has_noise_std(), request.noise_std(), "noise_std"));
  RETURN_IF_ERROR(CheckReason(request.failure_reason(), "failure_reason"));
  ASSIGN_OR_RETURN(HeldStudy entry,
                   Hold(request.study(), "study", /*change=*/true, request.request_id()));
  if (!request.failed()) {
    RETURN_IF_ERROR(entry->space->CheckGradient(request.gradient(), "gradient"));
  }
  const std::string fingerprint = Fingerprint(kMethod, request);
  ASSIGN_OR_RETURN(auto replay, Replay<v1::ObserveTrialResponse>(
                                    *store_, entry->id, entry.store_lock.get(),
                                    request.request_id(), fingerprint));
  if (replay.has_value()) return *std::move(replay);
  ASSIGN_OR_RETURN(v1::Trial * trial, entry->FindTrial(request.trial_id()));
  const absl::Time now = options_.clock();
  v1::ObserveTrialResponse response;
  if (HasResult(*trial)) {
    // Telling the same result twice is harmless; a different one is refused.
    if (SameResult(*trial, request)) {
      *response.mutable_trial() = *trial;
      return response;
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "trial_id: trial ", trial->id(), " of study \"", entry->study.name(),
        "\" already has a different result (",
        trial->state() == v1::TRIAL_STATE_FAILED ? "failed"
                                                 : absl::StrCat("value ", trial->value()),
        ")"));
  }
  v1::Trial updated = *trial;
  if (request.failed()) {
    updated.set_state(v1::TRIAL_STATE_FAILED);
    updated.set_failure_reason(request.failure_reason());
  } else {
    updated.set_state(v1::TRIAL_STATE_COMPLETED);
    updated.set_value(request.value());
    *updated.mutable_gradient() = request.gradient();
    if (request.has_noise_std()) updated.set_noise_std(request.noise_std());
    updated.clear_failure_reason();
  }
  *updated.mutable_complete_time() = ToTimestamp(now);

  const v1::StudySpec& spec = entry->study.spec();
  storage::StudyWrite write;
  write.study_id = entry->id;
  write.expected_revision = entry->revision;
  write.update_time_micros = ToMicros(now);
  const double spent = entry->cost_spent + CostOf(spec, updated);
  if (spec.budget() > 0.0 && spent >= spec.budget() &&
      entry->study.state() == v1::STUDY_STATE_ACTIVE) {
    write.state = v1::STUDY_STATE_DONE;
  }
  *response.mutable_trial() = updated;
  write.trials.push_back(updated);
  write.request = MakeRequestRecord(request.request_id(), kMethod, fingerprint, response);
  ASSIGN_OR_RETURN(entry->revision, store_->Commit(write));

  *trial = std::move(updated);
  entry->ApplyResult(*trial);
  if (write.state.has_value()) entry->study.set_state(*write.state);
  *entry->study.mutable_update_time() = ToTimestamp(now);
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> StudyService::Heartbeat(
    const v1::HeartbeatRequest& request) {
  RETURN_IF_ERROR(CheckTrialId(request.trial_id()));
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.study(), "study", /*change=*/true));
  ASSIGN_OR_RETURN(v1::Trial * trial, entry->FindTrial(request.trial_id()));
  if (trial->state() != v1::TRIAL_STATE_PENDING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial_id: trial ", trial->id(), " is ", v1::TrialState_Name(trial->state()),
        "; only a pending trial has a lease"));
  }
  const absl::Time now = options_.clock();
  v1::Trial renewed = *trial;
  *renewed.mutable_lease_expire_time() =
      ToTimestamp(now + absl::Seconds(entry->study.spec().lease_seconds()));
  storage::StudyWrite write;
  write.study_id = entry->id;
  write.expected_revision = entry->revision;
  write.update_time_micros = ToMicros(now);
  write.trials.push_back(renewed);
  ASSIGN_OR_RETURN(entry->revision, store_->Commit(write));
  *trial = std::move(renewed);
  v1::HeartbeatResponse response;
  *response.mutable_trial() = *trial;
  return response;
}

absl::StatusOr<v1::AbandonTrialResponse> StudyService::AbandonTrial(
    const v1::AbandonTrialRequest& request) {
  RETURN_IF_ERROR(CheckTrialId(request.trial_id()));
  RETURN_IF_ERROR(CheckReason(request.reason(), "reason"));
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.study(), "study", /*change=*/true));
  ASSIGN_OR_RETURN(v1::Trial * trial, entry->FindTrial(request.trial_id()));
  const absl::Time now = options_.clock();
  v1::AbandonTrialResponse response;
  if (trial->state() == v1::TRIAL_STATE_ABANDONED) {
    *response.mutable_trial() = *trial;
    return response;
  }
  if (HasResult(*trial)) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial_id: trial ", trial->id(), " already has a result (",
                     v1::TrialState_Name(trial->state()), ")"));
  }
  v1::Trial abandoned = *trial;
  abandoned.set_state(v1::TRIAL_STATE_ABANDONED);
  abandoned.set_failure_reason(request.reason());
  storage::StudyWrite write;
  write.study_id = entry->id;
  write.expected_revision = entry->revision;
  write.update_time_micros = ToMicros(now);
  write.trials.push_back(abandoned);
  ASSIGN_OR_RETURN(entry->revision, store_->Commit(write));
  *trial = std::move(abandoned);
  *response.mutable_trial() = *trial;
  return response;
}

absl::StatusOr<v1::ListTrialsResponse> StudyService::ListTrials(
    const v1::ListTrialsRequest& request) {
  ASSIGN_OR_RETURN(int page_size, PageSize(request.page_size()));
  int64_t after = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &after) || after < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token: \"", request.page_token().substr(0, 64), "\" is not a page token"));
  }
  for (int s : request.states()) {
    if (!v1::TrialState_IsValid(s) || s == v1::TRIAL_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("states: ", s, " is not a trial state"));
    }
  }
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.study(), "study", /*change=*/false));
  const absl::Time now = options_.clock();
  v1::ListTrialsResponse response;
  for (size_t i = static_cast<size_t>(std::min<int64_t>(after, entry->trials.size()));
       i < entry->trials.size(); ++i) {
    v1::Trial t = Present(entry->trials[i], now);
    if (!request.states().empty() &&
        std::find(request.states().begin(), request.states().end(), t.state()) ==
            request.states().end()) {
      continue;
    }
    if (response.trials_size() == page_size) {
      response.set_next_page_token(absl::StrCat(response.trials(page_size - 1).id()));
      break;
    }
    *response.add_trials() = std::move(t);
  }
  return response;
}

absl::StatusOr<core::ModelPrediction> StudyService::ReadModel(
    StudyEntry& entry, absl::Span<const Eigen::VectorXd> points, bool optimum) {
  core::StrategyInput input;
  input.state =
      entry.model_revision == entry.revision ? entry.model_state : entry.strategy_state;
  input.completed = entry.completed;
  auto model = entry.strategy->Predict(input, points, optimum);
  if (model.ok() && !model->fitted_state.empty()) {
    entry.model_state = std::move(model->fitted_state);
    entry.model_revision = entry.revision;
  }
  if (absl::IsUnimplemented(model.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("study: strategy \"", entry.study.spec().strategy(), "\" of \"",
                     entry.study.name(), "\" keeps no model to predict with"));
  }
  if (!model.ok()) {
    return absl::Status(
        model.status().code(),
        absl::StrCat("study: \"", entry.study.name(), "\": ", model.status().message()));
  }
  return model;
}

namespace {

// Back to user units (at the point `x`) and the study's direction.
void ToProto(const core::PointPrediction& p, const core::SearchSpace& space,
             absl::Span<const double> x, double sign, v1::Prediction* out) {
  out->set_mean(sign * p.mean);
  out->set_std(p.std);
  const Eigen::VectorXd mean_gradient = sign * space.GradientFromUnit(p.mean_gradient, x);
  const Eigen::VectorXd std_gradient = space.GradientFromUnit(p.std_gradient, x);
  out->mutable_mean_gradient()->Add(mean_gradient.data(),
                                    mean_gradient.data() + mean_gradient.size());
  out->mutable_std_gradient()->Add(std_gradient.data(),
                                   std_gradient.data() + std_gradient.size());
}

double Sign(const v1::StudySpec& spec) {
  return spec.direction() == v1::DIRECTION_MAXIMIZE ? -1.0 : 1.0;
}

}  // namespace

absl::StatusOr<v1::GetBestResponse> StudyService::GetBest(
    const v1::GetBestRequest& request) {
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.study(), "study", /*change=*/false));
  const v1::Trial* best = nullptr;
  for (const v1::Trial& t : entry->trials) {
    if (t.state() != v1::TRIAL_STATE_COMPLETED) continue;
    if (best == nullptr || Better(entry->study.spec(), t.value(), best->value()))
      best = &t;
  }
  v1::GetBestResponse response;
  if (best != nullptr) *response.mutable_best() = *best;
  if (!request.include_model()) return response;
  const core::SearchSpace& space = *entry->space;
  // Every completed trial's point (the best trial's among them), for the
  // recommendation.
  std::vector<Eigen::VectorXd> points;
  std::vector<const v1::Trial*> completed;
  size_t best_index = 0;
  for (const v1::Trial& t : entry->trials) {
    if (t.state() != v1::TRIAL_STATE_COMPLETED) continue;
    if (&t == best) best_index = completed.size();
    completed.push_back(&t);
    points.push_back(space.ToUnit(t.x()));
  }
  ASSIGN_OR_RETURN(core::ModelPrediction model,
                   ReadModel(*entry, points, /*optimum=*/true));
  if (!model.optimum.has_value()) {
    return absl::InternalError(absl::StrCat("study: \"", entry->study.name(),
                                            "\": the strategy returned no optimum"));
  }
  const double sign = Sign(entry->study.spec());
  v1::ModelBest* out = response.mutable_model();
  if (best != nullptr) {
    ToProto(model.points[best_index], space, best->x(), sign, out->mutable_at_best());
    // Means are minimised (a maximised study's are negated).
    size_t lowest = 0;
    for (size_t i = 1; i < completed.size(); ++i) {
      if (model.points[i].mean < model.points[lowest].mean) lowest = i;
    }
    *out->mutable_recommended() = *completed[lowest];
    ToProto(model.points[lowest], space, completed[lowest]->x(), sign,
            out->mutable_at_recommended());
  }
  const std::vector<double> x = space.FromUnit(model.optimum->x);
  out->mutable_optimum_x()->Add(x.begin(), x.end());
  ToProto(model.optimum->prediction, space, x, sign, out->mutable_at_optimum());
  out->set_model_points(model.model_points);
  const Eigen::VectorXd lengthscales = space.LengthsFromUnit(model.lengthscales);
  out->mutable_lengthscales()->Add(lengthscales.data(),
                                   lengthscales.data() + lengthscales.size());
  return response;
}

absl::StatusOr<v1::PredictResponse> StudyService::Predict(
    const v1::PredictRequest& request) {
  if (request.points().empty() || request.points_size() > kMaxPredict) {
    return absl::InvalidArgumentError(absl::StrCat(
        "points: ", request.points_size(), " entries; 1 to ", kMaxPredict, " needed"));
  }
  ASSIGN_OR_RETURN(HeldStudy entry, Hold(request.study(), "study", /*change=*/false));
  const core::SearchSpace& space = *entry->space;
  std::vector<Eigen::VectorXd> points;
  for (int i = 0; i < request.points_size(); ++i) {
    const auto& x = request.points(i).x();
    RETURN_IF_ERROR(space.CheckPoint(x, absl::StrCat("points[", i, "].x")));
    points.push_back(space.ToUnit(x));
  }
  ASSIGN_OR_RETURN(core::ModelPrediction model,
                   ReadModel(*entry, points, /*optimum=*/false));
  const double sign = Sign(entry->study.spec());
  v1::PredictResponse response;
  for (int i = 0; i < request.points_size(); ++i) {
    ToProto(model.points[i], space, request.points(i).x(), sign,
            response.add_predictions());
  }
  response.set_model_points(model.model_points);
  const Eigen::VectorXd lengthscales = space.LengthsFromUnit(model.lengthscales);
  response.mutable_lengthscales()->Add(lengthscales.data(),
                                       lengthscales.data() + lengthscales.size());
  return response;
}

absl::StatusOr<v1::AddObservationsResponse> StudyService::AddObservations(
    const v1::AddObservationsRequest& request) {
  constexpr char kMethod[] = "AddObservations";
  RETURN_IF_ERROR(CheckId(request.request_id(), "request_id"));
  if (request.observations().empty() || request.observations_size() > kMaxImport) {
    return absl::InvalidArgumentError(
        absl::StrCat("observations: ", request.observations_size(), " entries; 1 to ",
                     kMaxImport, " needed"));
  }
  ASSIGN_OR_RETURN(HeldStudy entry,
                   Hold(request.study(), "study", /*change=*/true, request.request_id()));
  for (int i = 0; i < request.observations_size(); ++i) {
    const v1::Observation& o = request.observations(i);
    const std::string field = absl::StrCat("observations[", i, "]");
    RETURN_IF_ERROR(entry->space->CheckEvaluatedPoint(o.x(), field + ".x"));
    if (!std::isfinite(o.value())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".value: ", o.value(), " is not finite"));
    }
    RETURN_IF_ERROR(entry->space->CheckGradient(o.gradient(), field + ".gradient"));
    RETURN_IF_ERROR(CheckNoise(o.has_noise_std(), o.noise_std(), field + ".noise_std"));
  }
  const std::string fingerprint = Fingerprint(kMethod, request);
  ASSIGN_OR_RETURN(auto replay, Replay<v1::AddObservationsResponse>(
                                    *store_, entry->id, entry.store_lock.get(),
                                    request.request_id(), fingerprint));
  if (replay.has_value()) return *std::move(replay);

  const absl::Time now = options_.clock();
  const v1::StudySpec& spec = entry->study.spec();
  storage::StudyWrite write;
  write.study_id = entry->id;
  write.expected_revision = entry->revision;
  write.update_time_micros = ToMicros(now);
  int64_t next_id = static_cast<int64_t>(entry->trials.size()) + 1;
  double spent = entry->cost_spent;
  v1::AddObservationsResponse response;
  for (const v1::Observation& o : request.observations()) {
    v1::Trial t;
    t.set_id(next_id++);
    *t.mutable_x() = o.x();
    t.set_kind(v1::TRIAL_KIND_IMPORTED);
    t.set_state(v1::TRIAL_STATE_COMPLETED);
    t.set_value(o.value());
    *t.mutable_gradient() = o.gradient();
    if (o.has_noise_std()) t.set_noise_std(o.noise_std());
    *t.mutable_lease_expire_time() = ToTimestamp(now);
    *t.mutable_create_time() = ToTimestamp(now);
    *t.mutable_complete_time() = ToTimestamp(now);
    t.mutable_why()->set_winner("imported");
    spent += CostOf(spec, t);
    *response.add_trials() = t;
    write.trials.push_back(std::move(t));
  }
  if (spec.budget() > 0.0 && spent >= spec.budget() &&
      entry->study.state() == v1::STUDY_STATE_ACTIVE) {
    write.state = v1::STUDY_STATE_DONE;
  }
  write.request = MakeRequestRecord(request.request_id(), kMethod, fingerprint, response);
  ASSIGN_OR_RETURN(entry->revision, store_->Commit(write));
  for (v1::Trial& t : write.trials) {
    entry->ApplyResult(t);
    entry->trials.push_back(std::move(t));
  }
  if (write.state.has_value()) entry->study.set_state(*write.state);
  *entry->study.mutable_update_time() = ToTimestamp(now);
  return response;
}

}  // namespace lago::server
