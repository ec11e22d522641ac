// What the own endpoints show of the WAL store (/wal/status, /metrics), read in the background
// so that they answer from memory even while the store hangs (DESIGN.md §9: PostgreSQL frozen,
// a network partition, a failover that leaves connections open).
//
// One refresh reads Backlog, ListBlocked and CountByState. Refreshes run on the cache's own
// thread (never an event-loop thread, never the WAL threads that record write outcomes), one at
// a time: a refresh that hangs holds back the next one instead of stacking more calls on a
// silent store. They run every `interval` and on demand (Fresh(): a request asks for a refresh
// that starts after it arrived and waits a short budget for it).
//
// Marking: a snapshot is stale when its data is older than `stale_after`, when the last
// refresh failed, when Fresh() could not get one newer than its call, or when the refresh in
// flight has run past `deadline` (a store call cannot be
// abandoned; the store's own statement timeout ends it eventually: WAL_STORE_TIMEOUT_MS). The
// data of a stale snapshot is the last good one.
//
// Thread-safety: every method may be called from any thread. Fresh() suspends the calling
// coroutine on a timer of its own executor (at most `budget`), never blocks a thread. The store
// and clock must outlive the cache; the destructor calls Stop(), which waits for a refresh in
// flight (bounded by the store's own timeouts).
#ifndef CHROMA_HA_SERVER_STORE_SNAPSHOT_H_
#define CHROMA_HA_SERVER_STORE_SNAPSHOT_H_

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"

namespace chroma_ha {

struct StoreSnapshot {
  // The last successful read (empty until the first one).
  bool has_data = false;
  std::vector<InstanceBacklog> backlog;
  std::vector<BlockedCollection> blocked;
  std::map<EntryState, int64_t> states;
  int64_t as_of_ms = 0;  // wall time when that read finished; 0 = never

  // How fresh it is, as of the moment it was handed out.
  int64_t age_ms = -1;            // now - as_of_ms; -1 = never read
  bool stale = true;              // see the header comment
  std::string error;              // why it is stale beyond age ("" if not)
  int64_t refreshing_for_ms = 0;  // how long the refresh in flight has run; 0 = none
  int64_t refresh_failures = 0;   // failed or timed-out refreshes since start
};

class StoreSnapshotCache {
 public:
  struct Options {
    std::chrono::milliseconds interval{1000};     // background refresh period
    std::chrono::milliseconds stale_after{3000};  // data older than this is stale
    std::chrono::milliseconds deadline{2000};     // a refresh running longer counts as failed
  };

  StoreSnapshotCache(WalStore& store, std::vector<std::string> instances, const Clock& clock,
                     Options options);
  StoreSnapshotCache(WalStore& store, std::vector<std::string> instances, const Clock& clock)
      : StoreSnapshotCache(store, std::move(instances), clock, Options{}) {}
  ~StoreSnapshotCache();
  StoreSnapshotCache(const StoreSnapshotCache&) = delete;
  StoreSnapshotCache& operator=(const StoreSnapshotCache&) = delete;

  void Start();  // starts the refresh thread (which refreshes at once); no-op when running
  void Stop();   // wakes and joins it

  // One refresh on the calling thread (tests, and the refresh thread). Returns the store's
  // error, or kUnavailable without touching the store when a refresh is already in flight.
  Status RefreshOnce();
  // Asks the refresh thread for a refresh soon; never blocks.
  void RequestRefresh();

  // The latest snapshot, marked as of now.
  StoreSnapshot Get() const;
  // Asks for a refresh that starts after this call and waits up to `budget` for it; returns
  // the latest snapshot either way, marked stale (with an error saying so) when it is older
  // than the call. Does not wait at all when the refresh in flight has already run past
  // `budget` (the store looks hung: answer now).
  boost::asio::awaitable<StoreSnapshot> Fresh(std::chrono::milliseconds budget);

 private:
  struct Waiter {
    uint64_t demand;
    std::function<void()> wake;  // posts to the waiter's executor
  };

  StoreSnapshot MarkLocked() const;             // mu_ held
  uint64_t Demand(std::function<void()> wake);  // registers a waiter, returns its demand
  void Forget(uint64_t demand);
  bool Covered(uint64_t demand) const;
  void Loop();

  WalStore& store_;
  const std::vector<std::string> instances_;
  const Clock& clock_;
  const Options options_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable wake_;
  StoreSnapshot data_;
  std::string last_error_;
  bool in_flight_ = false;
  std::chrono::steady_clock::time_point started_{};  // of the refresh in flight
  std::chrono::steady_clock::time_point data_at_{};  // steady time of data_.as_of_ms
  uint64_t demand_ = 0;                              // demands registered so far
  uint64_t covered_ = 0;                             // demands a completed refresh started after
  int64_t failures_ = 0;
  bool requested_ = false;
  bool stopping_ = false;
  std::vector<Waiter> waiters_;
  std::thread thread_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_STORE_SNAPSHOT_H_
