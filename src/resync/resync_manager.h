// Runs resyncs (resync_engine.h) in this process and keeps what others need to know about them
// (docs/design.md "Resync"):
//  - Request(): POST /admin/instances/{name}/resync, and automatic resyncs. The resync is
//    recorded in the WAL store ("running"); the process holding the target's replay lease
//    ("replay/<instance>", LeaseKeeper) runs it, under that lease's fence, so with several
//    proxies on one PostgreSQL WAL exactly one copies, and a new holder (a restart, a takeover)
//    resumes from the recorded page.
//  - Resyncing(instance): cheap and thread-safe; true while a resync of it is running (here, or
//    in the store as last polled). The sync worker does not replay to it meanwhile (its backlog
//    since the start is replayed once the copy is done) and the router sends it no reads.
//  - A poll thread (every kPollInterval): reads the stored resyncs, resumes those whose lease
//    this process holds, and with AUTO_RESYNC starts one for an instance that came back empty
//    while the identity map says it held collections, or whose replay backlog is older than
//    WAL_RETENTION_HOURS; alerts ("resync/<instance>") when one starts automatically, fails or
//    ends.
//
// Threads: Request/State block on the store (WAL threads, never the event loop). Resyncing,
// Snapshot are cheap. Start/Stop by the owner; Stop joins the poll and engine threads (an engine
// stops between requests; its state stays "running" in the store for the next start).
#ifndef CHROMA_HA_RESYNC_RESYNC_MANAGER_H_
#define CHROMA_HA_RESYNC_RESYNC_MANAGER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chroma_ha/alert_sink.h"
#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/instance_client.h"
#include "chroma_ha/wal_store.h"
#include "resync/resync_engine.h"
#include "resync/resync_record.h"
#include "sync/collection_ids.h"
#include "sync/lease_keeper.h"

namespace chroma_ha {

class ResyncManager {
 public:
  static constexpr std::chrono::milliseconds kPollInterval{1000};
  static constexpr std::chrono::milliseconds kAutoCheckInterval{10000};

  struct Deps {
    const Config* config = nullptr;
    WalStore* store = nullptr;
    std::vector<InstanceClient*> instances;  // config.instances order
    CollectionIds* ids = nullptr;            // may be null
    LeaseKeeper* leases = nullptr;           // null: always held, unfenced (tests)
    AlertSink* alerts = nullptr;             // may be null
    const Clock* clock = nullptr;
    // Tenants and (tenant, database, instance) ids the identity map knows (may be empty).
    std::function<std::vector<CollectionIdentity>()> identities;
    std::function<bool(size_t index)> healthy;  // may be empty: all healthy
    std::function<void()> on_finished;          // a resync ended: e.g. SyncWorker::Notify
  };
  struct Started {
    bool started = false;  // false: one was already running (its state is returned)
    nlohmann::json state;
  };
  struct Stats {  // for /metrics
    std::string instance;
    std::string state;
    int64_t collections_done = 0, collections_total = 0;
    int64_t records_done = 0, records_total = 0, records_recopied = 0;
    double records_per_second = 0;
  };

  explicit ResyncManager(Deps deps);
  ~ResyncManager();
  ResyncManager(const ResyncManager&) = delete;
  ResyncManager& operator=(const ResyncManager&) = delete;

  void Start();  // loads the stored resyncs (resumes), then polls
  void Stop();

  // Starts a resync of `instance` from `source` ("" = the primary, or the first other instance
  // when `instance` is the primary). kNotFound: unknown instance; kInvalidArgument: unknown
  // source, source == instance; store errors as returned. `on_started` (optional) runs once the
  // resync is recorded as started and before its copy begins, so what it announces (an alert)
  // comes before anything the copy reports (its "done" alert), however fast the copy is.
  Result<Started> Request(const std::string& instance, const std::string& source,
                          const std::vector<std::string>& extra_tenants, const std::string& trigger,
                          const std::function<void()>& on_started = nullptr);
  // The same for one collection of `instance` (e.g. a divergence found by the anti-entropy
  // checker, AUTO_REPAIR): only that collection is copied (or deleted on `instance` when the
  // source lacks it), under the same rules; it occupies the instance's resync (one at a time).
  Result<Started> RequestCollection(const std::string& instance, const std::string& source,
                                    const std::string& tenant, const std::string& database,
                                    const std::string& collection, const std::string& trigger);
  // A repair (AUTO_REPAIR): RequestCollection from the primary, then followed for at most
  // `wait` (the caller's thread must not wait on a long copy). OK when it is done or still
  // copying then (the caller checks the collection again later); kUnavailable when another
  // resync of `instance` runs, or with the reason when it failed.
  Status RepairCollection(const std::string& instance, const std::string& tenant,
                          const std::string& database, const std::string& collection,
                          std::chrono::milliseconds wait);
  // The state object (state "idle" when none ever ran). kNotFound for an unknown instance.
  Result<nlohmann::json> State(const std::string& instance);

  bool Resyncing(const std::string& instance) const;
  bool ResyncingIndex(size_t index) const;
  std::vector<Stats> Snapshot() const;
  int64_t started_total() const { return started_total_.load(); }
  int64_t auto_started_total() const { return auto_started_total_.load(); }

  // One poll pass (exposed for tests): stored resyncs, resumes, automatic checks.
  void Poll();

 private:
  Result<Started> Begin(const std::string& instance, const std::string& source,
                        const std::vector<std::string>& extra_tenants,
                        std::optional<ResyncCollection> scope, const std::string& trigger,
                        const std::function<void()>& on_started = nullptr);
  struct Job {
    std::unique_ptr<ResyncEngine> engine;
    std::thread thread;
    std::atomic<bool> finished{false};
    int64_t base_records = 0;  // records_done when this run started
    std::chrono::steady_clock::time_point began;
  };

  int IndexOf(const std::string& name) const;
  std::optional<Fence> FenceFor(const std::string& instance) const;
  void Launch(ResyncRecord p);  // mu_ held
  void RunJob(Job* job, ResyncRecord p);
  void Record(const ResyncRecord& p);  // cache + flags
  void ReapLocked();
  void CheckAutomatic();
  bool LooksEmpty(size_t index, const std::vector<CollectionIdentity>& known);
  void Alert(const std::string& instance, AlertSeverity severity, const std::string& title,
             const std::string& text, bool resolved);

  Deps d_;
  std::unique_ptr<std::atomic<bool>[]> resyncing_;  // by instance index
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread poller_;
  std::map<std::string, ResyncRecord> known_;         // by instance: last seen
  std::map<std::string, std::unique_ptr<Job>> jobs_;  // running here
  std::map<std::string, double> rates_;               // records/s of the job running here
  std::chrono::steady_clock::time_point next_auto_check_{};
  std::atomic<int64_t> started_total_{0};
  std::atomic<int64_t> auto_started_total_{0};
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_RESYNC_RESYNC_MANAGER_H_
