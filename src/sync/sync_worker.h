// The sync worker (DESIGN.md §3 "Replay"): replays committed WAL entries to every instance
// that has not applied them, in WAL (seq) order per instance, with the target's own collection
// ids. Everything it needs after a restart (applied marks, blocks) is in the store; in-memory
// state (backoff, counters) is advisory.
//
// Marks: a run of applied adds, upserts and plain deletes by ids (IsBatchableReplay) is marked
// with one WalStore::MarkAppliedBatch (one transaction) at the end of the page, or before
// anything else happens (another kind of entry, a failure, Stop). Every other entry is marked on
// its own right after it is applied, with the run before it marked first. So a crash re-applies
// at most one run of such writes (two pages' runs while a backlog drains: see Drains below), in
// order, after itself (harmless: see MarkAppliedBatch in wal_store.h), or the one other entry in
// flight. The applied callback runs only after the mark
// is durable (the write path's failback rule counts on it).
//
// Requests: a run of adds (or upserts) of one collection within a page goes to the target as
// one request (sync/coalesce.h: same records, far fewer Chroma round trips when a backlog
// drains); entries of other collections between them are sent after it, never across a tenant
// or database operation or a rename. If the target refuses the merged request permanently, the
// entries are sent one by one, so only the one at fault blocks its collection. Pages are sized
// per collection (sync/replay_plan.h: a page of N entries over 8 collections would cut each run
// into requests of N/8). Batchable requests (adds, upserts, deletes by ids) of different
// collections go up to WAL_REPLAY_CONCURRENCY (4) at once (sync/replay_lanes.h), each collection's
// one after the other in WAL order; any other entry goes alone, after everything before it has
// been answered and before anything after it is sent. A transient answer stops the launches:
// the requests in flight are waited for and what they applied is marked, nothing of the failed
// collection after it is sent, and the instance backs off as below.
//
// Outcomes per entry and target: 2xx (or 409 on a create, 404 on a delete of a collection or
// database) → applied. No answer, 5xx, 429 → transient: the instance backs off exponentially
// with jitter (base config.wal_retry_delay, capped at 60 s, time from the Clock) and nothing
// after that entry is sent to it until the backoff ends. Any other 4xx → permanent: the
// collection is blocked on that instance (WalStore::Block; sticky until Retry or Skip) and
// later entries of other collections continue. A block of a database-level entry (collection
// "") holds back every later entry of that database; a tenant-level one, of that tenant.
//
// Drains: while a full page's requests are out, the next page is read and the page before's
// run is marked, each by a store call on a thread of its own (std::async), so the replica does
// not wait for the two store steps between its requests (issue 14 item 4). The replica still
// gets one page after the other, in order. A marked-behind run counts as applied-not-marked
// until its call returns: it is waited for before any other mark (so marks and callbacks stay
// in seq order, and a non-batchable entry still finds everything before it marked) and at the
// end of the round; a crash re-applies at most it and the page after it. Pages that are not
// full (the backlog caught up) go as before: read, replay, mark, one after the other.
//
// Store errors: every failed store call of a round is counted (stats().store_errors, by
// operation) and logged at warn level; a round that had one is run again after a backoff
// (JitteredBackoff from config.wal_retry_delay, capped at 60 s), and the backoff grows while
// rounds keep failing. Entries applied but not marked are re-sent by that round (harmless: see
// the marks above).
//
// Threads: Start() runs one thread that calls RunOnce() on Notify() and at least every
// config.wal_sync_interval (sooner when a backoff ends). RunOnce(), Retry(), Skip() block on
// the store and the network: never call them on an event-loop thread. stats(), Notify() and
// OnInstanceHealthy() are cheap, never block on I/O and may be called from any thread (e.g. a
// health listener). RunOnce() calls are serialised. Replay requests run on short-lived threads
// of their own (ReplayLanes); every store call and counter update stays on the round's thread.
//
// Leases (several processes on one store, docs/design.md "Fleet"): with SetLeases(), the worker
// replays to an instance only while this process holds that instance's replay lease
// ("replay/<instance>", LeaseKeeper), checked before every page and every request, and every
// mark and block of the round is written under the lease's fence: once the lease has ended
// (this process paused or cut off past its expiry, another one took over), the store refuses
// them (kFailedPrecondition), the round for that instance stops, and the entries are left to
// the new holder (a crash-like re-send of the unmarked run, harmless as for a crash). Without
// SetLeases() (unit tests) it replays unconditionally, unfenced.
//
// Ownership: the config, store, instance clients, CollectionIds, clock and lease keeper are not
// owned and must outlive the worker. The destructor calls Stop().
//
// Implementation: sync_worker.cc (rounds, pages, requests, operator actions, the thread),
// sync_worker_marks.cc (marks, now or behind the next page).
#ifndef CHROMA_HA_SYNC_SYNC_WORKER_H_
#define CHROMA_HA_SYNC_SYNC_WORKER_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/instance_client.h"
#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"
#include "sync/collection_ids.h"
#include "sync/lease_keeper.h"
#include "sync/replay.h"
#include "sync/replay_plan.h"
#include "sync/sync_stats.h"
#include "sync/validated_bodies.h"

namespace chroma_ha {

// Backlog above which pages of config.wal_high_volume_batch_size are used.
inline constexpr int64_t kHighVolumeBacklog = 1000;

class SyncWorker {
 public:
  // True while memory or CPU is above its threshold: pages shrink to half of WAL_BATCH_SIZE.
  using PressureFn = std::function<bool()>;
  // Called (on the replaying thread) after each entry's applied mark on `instance` is durable,
  // in seq order.
  using AppliedFn = std::function<void(const WalEntry& entry, const std::string& instance)>;

  // `instances` is index-aligned with config.instances (index 0 the primary); each client's
  // name() is the instance name used in WAL entries. Null entries are skipped.
  SyncWorker(const Config& config, WalStore& store, std::vector<InstanceClient*> instances,
             CollectionIds& ids, const Clock& clock, PressureFn under_pressure = {});
  ~SyncWorker();
  SyncWorker(const SyncWorker&) = delete;
  SyncWorker& operator=(const SyncWorker&) = delete;

  // Set before Start() (not synchronised with a running worker).
  void SetOnApplied(AppliedFn on_applied) { on_applied_ = std::move(on_applied); }
  void SetLeases(LeaseKeeper* leases) { leases_ = leases; }
  // Layouts of the bodies the write path validated: coalescing splits them without scanning
  // them again (sync/validated_bodies.h). Optional; must outlive the worker.
  void SetValidatedBodies(const ValidatedBodies* validated) { validated_ = validated; }
  // True while replay to `instance` must wait (a resync of it is copying: src/resync/). Checked
  // where the replay lease is (before every page and request); must be cheap and thread-safe.
  void SetPaused(std::function<bool(const std::string& instance)> paused) {
    paused_ = std::move(paused);
  }

  // One round: for each instance not backing off, replays its pending entries page by page.
  // Returns OK when every instance was caught up or is waiting on a block/backoff it already
  // had; otherwise the first error of the round (a store error, or kUnavailable for a
  // transient replay failure). Permanent failures are recorded as blocks, not returned.
  Status RunOnce();

  void Start();   // starts the thread (which runs a round at once); no-op when running
  void Stop();    // wakes and joins the thread; an entry in flight finishes first
  void Notify();  // new entries were committed: run a round soon
  // Instance `index` (config.instances order) was just seen healthy again: forgets its backoff
  // (and its failure streak) and runs a round now instead of at the end of the backoff or of
  // the sync interval. Out-of-range indexes are ignored.
  void OnInstanceHealthy(size_t index);

  // Admin: unblocks `collection` on `instance`, clears the instance's backoff, runs a round soon.
  // kInvalidArgument for an unknown instance; store errors as returned.
  Status Retry(const std::string& instance, const std::string& tenant, const std::string& database,
               const std::string& collection);
  // Admin: marks entry `seq` applied on `instance` without sending it, unblocks its
  // collection there and runs a round soon. kNotFound when there is no such entry,
  // kInvalidArgument for an unknown instance or an entry that is not committed.
  Status Skip(const std::string& instance, int64_t seq);

  SyncStats stats() const;

 private:
  using BlockKey = std::tuple<std::string, std::string, std::string>;  // tenant, db, collection

  // What one ReplayInstance call keeps between entries.
  struct Round {
    size_t index;
    InstanceClient& target;
    std::set<BlockKey> blocked;        // collections not to send to the target
    std::vector<const WalEntry*> run;  // applied, not yet marked (points into the page)
    Status result;                     // a store error to report, replay having gone on
    // The run of the page before, its mark committing on another thread (see Drains above).
    std::future<Status> behind_mark;
    std::vector<WalEntry> behind_page;        // its entries, bodies dropped
    std::vector<const WalEntry*> behind_run;  // points into behind_page, in seq order
  };
  struct PageRead {
    Result<std::vector<WalEntry>> page = std::vector<WalEntry>();
    bool more = false;
  };

  Status ReplayInstance(size_t index);
  // ReplayInstance's pages; the mark behind may still be committing when it returns.
  Status ReplayPages(Round& round, int64_t backlog);
  // Waits for the mark behind, if any, then counts it and calls back as MarkRun does.
  Status FinishBehind(Round& round);
  // Reads pending entries of `instance` after `after_seq`: `chunk` at a time, more while the
  // page holds fewer than `chunk` per collection (PageWantsMore). `more`: the last read was
  // full (the backlog goes on). Store calls only: also run on a thread of its own (Drains).
  PageRead ReadPage(const std::string& instance, int64_t after_seq, int chunk) const;
  // Replays a page's units (sync/replay_plan.h): each unit that must go alone on its own,
  // the units between them by ReplayConcurrently. Non-OK: stop the round, as ReplayOne.
  Status ReplayUnits(Round& round, std::vector<ReplayUnit>& units);
  // Units [begin, end) (none alone): up to requests_in_flight_ at once, never two of one
  // collection, each collection's in order. A transient answer stops the launches; the requests
  // in flight are waited for and recorded (so what they applied is marked), then StopTransient.
  Status ReplayConcurrently(Round& round, std::vector<ReplayUnit>& units, size_t begin, size_t end);
  // Sends one entry and records the outcome. Non-OK: stop the round (transient failure, store
  // error); a permanent failure blocks the collection and returns OK.
  Status ReplayOne(Round& round, const WalEntry& entry);
  // What ReplayOne does once the answer is in (`batchable`: IsBatchableReplay(entry)).
  Status RecordOne(Round& round, const WalEntry& entry, const ReplayOutcome& out, bool batchable);
  // Records the outcome of a coalesced group sent as `merged`; if the target refused it
  // permanently, replays its entries one by one to find the one at fault.
  Status RecordGroup(Round& round, const std::vector<const WalEntry*>& group,
                     const WalEntry& merged, const ReplayOutcome& out);
  static WalEntry MergedEntry(const WalEntry& first, const ReplayUnit& unit);
  Status StopTransient(Round& round, const WalEntry& entry, const std::string& error);
  // Marks the round's run (sorted here by seq) in one transaction, after the mark behind, then
  // counts the entries and calls on_applied_; clears the run. On a store error nothing is counted.
  Status MarkRun(Round& round);
  // Starts the mark of the round's run on another thread (FinishBehind collects it); the page
  // the run points into becomes the round's behind_page.
  void MarkBehind(Round& round, std::vector<WalEntry> page);
  // The outcome `stored` of marking `run` (in seq order): counted and called back (on_applied_)
  // when stored, a store error otherwise; clears `run`. (sync_worker_marks.cc, with the three
  // above.)
  Status Recorded(Round& round, std::vector<const WalEntry*>& run, Status stored);
  int PageSize(int64_t backlog) const;
  bool BackingOff(size_t index) const;
  void RecordTransient(size_t index, const std::string& error);
  static bool IsBlocked(const std::set<BlockKey>& blocked, const WalEntry& e);
  // Counts and logs a failed store call of the current round; returns `status`. A write
  // refused by its fence (kFailedPrecondition) is counted as `fenced` instead, and the lease is
  // dropped (no store backoff: nothing is wrong with the store).
  Status StoreError(const char* op, Status status);
  // With leases: true while this process holds the replay lease of instance `index`; at the
  // start of its round (`starting`) that tenure's fence becomes round_fence_, later only that
  // same tenure counts. Always true without leases.
  bool HoldsReplayLease(size_t index, bool starting = false);
  // After a round: schedules (or clears) the store retry.
  void ScheduleStoreRetry(bool had_store_error);
  int IndexOf(const std::string& instance) const;
  std::chrono::milliseconds WaitTime() const;  // mu_ held
  void Loop();

  const Config& config_;
  WalStore& store_;
  const std::vector<InstanceClient*> instances_;
  const Clock& clock_;
  const PressureFn under_pressure_;
  AppliedFn on_applied_;
  Replayer replayer_;             // used under run_mu_ (Apply by several lanes at once)
  const int requests_in_flight_;  // WAL_REPLAY_CONCURRENCY

  std::mutex run_mu_;  // serialises RunOnce

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable wake_;
  bool notified_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  SyncStats stats_;
  std::vector<std::chrono::steady_clock::time_point> backoff_until_;  // per instance
  std::chrono::steady_clock::time_point store_retry_at_{};            // a round after a store error
  bool round_store_error_ = false;  // the round in progress had a store error (run_mu_ held)
  LeaseKeeper* leases_ = nullptr;   // set before Start()
  const ValidatedBodies* validated_ = nullptr;      // set before Start()
  std::function<bool(const std::string&)> paused_;  // set before Start()
  Fence round_fence_;  // the fence of the instance being replayed (run_mu_ held)
  std::mt19937_64 rng_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_SYNC_WORKER_H_
