// The Lago service without its transport: each method validates a request,
// locks its study, runs the strategy, persists and answers. The gRPC layer only
// translates (grpc_service.cc), and tests and fuzzers can call this directly.
//
// Thread safety: every method may be called concurrently. Calls on one study
// are serialised by that study's mutex; calls on different studies only share
// the short database commits, so a suggestion for one study never waits behind
// another study's strategy.
//
// Several processes may serve one store. A call that changes a study also
// holds the study's lock in the store (StudyStore::LockStudy), which excludes
// the other processes, and every call first compares the study's stored
// revision with the one its memory view was loaded at, and reloads the study
// when another process changed it.
//
// Error codes follow proto/lago/v1/lago_service.proto; every message names the
// request field and its bad value. A call that fails has changed nothing.
#ifndef LAGO_SERVER_STUDY_SERVICE_H_
#define LAGO_SERVER_STUDY_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "Eigen/Core"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/strategy.h"
#include "lago/v1/lago_service.pb.h"
#include "server/storage/study_store.h"

namespace lago::server {

struct StudyServiceOptions {
  // The time source for leases and timestamps (tests move it).
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

class StudyService {
 public:
  StudyService(std::unique_ptr<storage::StudyStore> store,
               StudyServiceOptions options = {});
  ~StudyService();

  absl::StatusOr<v1::CreateStudyResponse> CreateStudy(
      const v1::CreateStudyRequest& request);
  absl::StatusOr<v1::GetStudyResponse> GetStudy(const v1::GetStudyRequest& request);
  absl::StatusOr<v1::ListStudiesResponse> ListStudies(
      const v1::ListStudiesRequest& request);
  absl::StatusOr<v1::DeleteStudyResponse> DeleteStudy(
      const v1::DeleteStudyRequest& request);
  absl::StatusOr<v1::StopStudyResponse> StopStudy(const v1::StopStudyRequest& request);
  // `cancelled`, when set, is asked once the points are computed: a call
  // whose client gave up (cancelled, or its deadline passed) stores nothing
  // and returns CANCELLED, so the study is as if it never came.
  absl::StatusOr<v1::SuggestTrialsResponse> SuggestTrials(
      const v1::SuggestTrialsRequest& request,
      const std::function<bool()>& cancelled = nullptr);
  absl::StatusOr<v1::ObserveTrialResponse> ObserveTrial(
      const v1::ObserveTrialRequest& request);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  absl::StatusOr<v1::AbandonTrialResponse> AbandonTrial(
      const v1::AbandonTrialRequest& request);
  absl::StatusOr<v1::ListTrialsResponse> ListTrials(const v1::ListTrialsRequest& request);
  absl::StatusOr<v1::GetBestResponse> GetBest(const v1::GetBestRequest& request);
  absl::StatusOr<v1::AddObservationsResponse> AddObservations(
      const v1::AddObservationsRequest& request);
  absl::StatusOr<v1::PredictResponse> Predict(const v1::PredictRequest& request);

 private:
  struct StudyEntry;

  // A study held for one call: its mutex is locked, for a call that changes it
  // also its lock in the store, and its memory view is the store's.
  struct HeldStudy {
    std::shared_ptr<StudyEntry> entry;
    std::unique_lock<std::mutex> lock;
    std::unique_ptr<storage::StudyLock> store_lock;
    StudyEntry* operator->() const { return entry.get(); }
    StudyEntry& operator*() const { return *entry; }
  };

  // The loaded study, from the cache or the store. NOT_FOUND naming `field`.
  absl::StatusOr<std::shared_ptr<StudyEntry>> Acquire(const std::string& name,
                                                      const char* field);
  // Acquires and holds the study; `change` for a call that may commit, whose
  // `request_id` (if any) the store may read with the study's lock.
  // NOT_FOUND naming `field` when there is no such study, also when it was
  // deleted meanwhile.
  absl::StatusOr<HeldStudy> Hold(const std::string& name, const char* field, bool change,
                                 const std::string& request_id = std::string());
  // Brings `entry` (locked) up to the store's revision, `stored_revision`
  // when the caller read it (with the study's lock), else asked of the store.
  // False when the study under its id is no longer the one loaded (deleted,
  // perhaps created again); the entry is then dropped from the cache.
  absl::StatusOr<bool> Sync(const std::shared_ptr<StudyEntry>& entry,
                            std::optional<int64_t> stored_revision);
  v1::Study StudyView(const StudyEntry& entry, absl::Time now) const;
  // The strategy's model of a study at `points` (unit cube), and its optimum
  // when asked; the errors name the study. The caller holds the study's lock;
  // hyperparameters fitted for it are kept in `entry` for the next call.
  static absl::StatusOr<core::ModelPrediction> ReadModel(
      StudyEntry& entry, absl::Span<const Eigen::VectorXd> points, bool optimum);

  std::unique_ptr<storage::StudyStore> store_;
  StudyServiceOptions options_;
  // Serialises CreateStudy so that one name is created once.
  std::mutex create_mu_;
  std::mutex map_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<StudyEntry>> studies_;
};

}  // namespace lago::server

#endif  // LAGO_SERVER_STUDY_SERVICE_H_
