// WAL order across processes (issue 11 item 3): with a PostgreSQL WAL that several chroma-ha
// processes share, a write of a collection is forwarded only once every earlier entry of that
// collection appended by ANOTHER process is resolved (its outcome recorded). Within one process
// the Sequencer orders writes (concurrently for disjoint ids); across processes the store's seq
// order is the only order there is, so the wait is per collection, whatever the ids.
//
// Why this and not a lock held across the forward: a PostgreSQL advisory lock lives with a
// session, so holding one per in-flight collection needs a connection per in-flight write, and
// it must be taken before the append to make forward order equal seq order, which would put
// the lock wait inside every append. Waiting on the log itself needs no extra session and costs
// one indexed query of the pending entries per write (PendingBefore, on the reads' connection),
// plus polling only while another process has an earlier write of the collection in flight.
// Entries a dead process left pending are resolved by whoever holds the recovery lease; the
// waiting write (its client answered 503 "outcome unknown" after REQUEST_TIMEOUT, as for any
// write queued behind an unresolved one) goes on once they are.
//
// The outcome of the earlier entry is recorded before the later write is forwarded, so the
// sync worker never sees a later entry of a collection committed before an earlier one, across
// processes as within one.
#ifndef CHROMA_HA_SERVER_FLEET_ORDER_H_
#define CHROMA_HA_SERVER_FLEET_ORDER_H_

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "chroma_ha/wal_store.h"

namespace chroma_ha {

struct FleetOrderStats {
  std::atomic<int64_t> checks{0};  // writes that asked the store
  std::atomic<int64_t> waits{0};   // ... and had to wait for another process's entry
  std::atomic<int64_t> polls{0};   // store polls while waiting
  std::atomic<int64_t> errors{0};  // store calls that failed (retried)
};

class FleetOrder {
 public:
  // `store` and `store_thread` must outlive this. `mine(seq)` tells whether this process is
  // carrying entry `seq` (its own writes are ordered by its Sequencer, not here).
  FleetOrder(WalStore& store, boost::asio::thread_pool& store_thread,
             std::function<bool(int64_t)> mine);

  // What the wait is doing, for a caller that bounds how long its client waits on the store
  // itself: kAsking before each store call, kAnswered once the store answered (an error is no
  // answer: a store that keeps failing is as silent as one that hangs).
  enum class Step { kAsking, kAnswered };
  using Observer = std::function<void(Step)>;

  // Completes once no entry of tenant/database/collection before `seq` is pending unless this
  // process carries it. Polls every few ms while one is (backing off to 20 ms), for as long as
  // it takes: the write is in the WAL and must be forwarded in order; the caller bounds its
  // client's wait (`observe`, if set, is told each step, on the caller's executor).
  boost::asio::awaitable<void> WaitForEarlier(std::string tenant, std::string database,
                                              std::string collection, int64_t seq,
                                              Observer observe = nullptr);

  const FleetOrderStats& stats() const { return stats_; }

 private:
  WalStore& store_;
  boost::asio::thread_pool& store_thread_;
  std::function<bool(int64_t)> mine_;
  FleetOrderStats stats_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_FLEET_ORDER_H_
