// The write path (DESIGN.md §3): validate -> append to the WAL durably -> forward in WAL order
// per collection -> record the outcome -> answer. No WAL, no write: if the append fails the
// client gets 503 and nothing is forwarded. Also keeps, per instance, how many committed
// entries each collection still has to replay there, so reads can avoid stale replicas
// (READ_CONSISTENCY=fresh).
#ifndef CHROMA_HA_SERVER_WRITE_PATH_H_
#define CHROMA_HA_SERVER_WRITE_PATH_H_

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/http_message.h"
#include "chroma_ha/instance_client.h"
#include "chroma_ha/route.h"
#include "chroma_ha/wal_store.h"
#include "server/collection_resolver.h"
#include "server/sequencer.h"
#include "upstream/upstream.h"
#include "wal/group_commit.h"

namespace chroma_ha {

class Metrics;

struct WriteStats {
  std::atomic<int64_t> appended{0};        // entries durably appended
  std::atomic<int64_t> committed{0};       // forwarded and applied on their origin (2xx)
  std::atomic<int64_t> rejected{0};        // definite 4xx/5xx, or no instance took it
  std::atomic<int64_t> unknown{0};         // no answer from any instance: left for recovery
  std::atomic<int64_t> wal_failures{0};    // appends that failed: answered 503
  std::atomic<int64_t> forward_retries{0};
  std::atomic<int64_t> write_failovers{0};  // applied on a replica because the primary failed
  std::atomic<int64_t> recovered{0};        // pending entries resolved by recovery
  std::atomic<int64_t> fresh_reads_redirected{0};
};

class WritePath {
 public:
  // All references must outlive the WritePath. `wal_threads` runs the blocking store calls.
  // `notify_sync` wakes the sync worker (after each committed entry).
  WritePath(const Config& config, Upstreams& upstreams, CollectionResolver& resolver,
            WalStore& store, GroupCommitter& committer, boost::asio::thread_pool& wal_threads,
            std::function<void()> notify_sync);

  boost::asio::awaitable<HttpResponse> Handle(HttpRequest request, const Route& route);

  // READ_CONSISTENCY=fresh: moves instances that still have to replay entries of the route's
  // collection (or database/tenant) to the end of `order`. Cheap; no I/O.
  std::vector<std::size_t> FreshReadOrder(const Route& route,
                                          std::vector<std::size_t> order) const;

  // Called by the sync worker (any thread) after `entry` was applied on `instance`.
  void OnApplied(const WalEntry& entry, const std::string& instance);

  // Blocking, before serving: loads the identity map and the replay backlog from the store.
  Status Load();
  // Blocking (sync worker thread or start-up): resolves entries left kPending by a crash or by
  // a forward that got no answer, by sending each again (in seq order) to the first instance
  // that answers. `clients` are index-aligned with config.instances. `at_start`: nothing is in
  // flight yet, so every kPending entry is resolved (later, entries younger than 2 s are left
  // to the writer that is forwarding them).
  Status ResolveUnresolved(const std::vector<InstanceClient*>& clients, bool at_start = false);
  // Forgets every replay counter (after a reset).
  void ClearBacklog();

  const WriteStats& stats() const { return stats_; }
  // Optional: WAL append latency is observed there. Set before serving.
  void SetMetrics(Metrics* metrics) { metrics_ = metrics; }

 private:
  struct Forwarded;
  // What a forwarded write needs to finish: its turns, its entry, what its backlog counts.
  struct Settling {
    std::string seq_key;
    uint64_t ticket = 0;
    uint64_t outcome_ticket = 0;
    int64_t seq = 0;
    WalEntry counted;  // tenant, database, collection, kind (and a rename's body)
  };
  struct Outcome {
    EntryState state = EntryState::kRejected;
    std::string origin;
    std::size_t index = 0;
    int attempts = 0;
    std::string error;
  };
  // Outcome unknown: sends the write again (after a back-off) until an instance answers, then
  // settles it; holds the collection's turns meanwhile.
  boost::asio::awaitable<void> ResolveInBackground(HttpRequest request, Route route,
                                                   std::string collection, Settling settling,
                                                   int attempts);
  // Ends the forward turn, records the outcome in the outcome turn, ends it.
  boost::asio::awaitable<void> Settle(const Settling& s, const Forwarded& fwd);
  boost::asio::awaitable<void> KeepRecording(Settling s, Outcome out);
  // SetOutcome, retried while the store is unavailable: `attempts` times (0: until it works
  // or fails permanently).
  boost::asio::awaitable<Status> RecordOutcome(const Settling& s, const Outcome& out,
                                               int attempts);
  void CountOthers(const Settling& s, const Outcome& out, int delta);
  void FinishOutcome(const Settling& s, const Outcome& out, const Status& recorded);
  struct Appended {
    uint64_t ticket = 0;          // turn to forward (sequencer_)
    uint64_t outcome_ticket = 0;  // turn to record the outcome (outcomes_)
    Status status;
    int64_t seq = 0;
  };
  // Takes both tickets for `seq_key` and queues the append in one step (ticket order == seq
  // order), then waits for the group commit.
  boost::asio::awaitable<Appended> AppendInOrder(const std::string& seq_key,
                                                 const Footprint& footprint, WalEntry entry);
  boost::asio::awaitable<HttpResponse> HandleReset(HttpRequest request);
  boost::asio::awaitable<Forwarded> ForwardInOrder(const HttpRequest& request, const Route& route,
                                                   const std::string& collection);
  // `order` with the healthy instances that have nothing of `collection` left to replay first.
  std::vector<std::size_t> CaughtUpFirst(const Route& route, const std::string& collection,
                                         std::vector<std::size_t> order) const;
  boost::asio::awaitable<void> ResolveDocumentIds(const HttpRequest& request, const Route& route,
                                                  int64_t seq);
  void CountBacklog(const WalEntry& entry, const std::string& instance, int delta);
  std::size_t IndexOf(const std::string& instance) const;

  const Config& config_;
  Upstreams& upstreams_;
  CollectionResolver& resolver_;
  WalStore& store_;
  GroupCommitter& committer_;
  boost::asio::thread_pool& wal_threads_;
  std::function<void()> notify_sync_;
  // A collection's writes go through two turns: forwarding (sequencer_: in WAL order between
  // writes that share a record id or cover the whole collection; writes of disjoint ids commute
  // and are forwarded together), then recording the outcome (outcomes_: strictly in WAL order,
  // so the sync worker never sees a later entry of a collection committed before an earlier
  // one). The next write is forwarded while this one's outcome is being made durable.
  Sequencer sequencer_;
  Sequencer outcomes_;
  mutable WriteStats stats_;  // counters; FreshReadOrder (const) counts redirects
  Metrics* metrics_ = nullptr;

  mutable std::mutex mu_;
  // Per instance index: scope key ("t", "t/d", "t/d/c") -> entries still to replay there.
  std::vector<std::unordered_map<std::string, int64_t>> backlog_;
  std::set<int64_t> in_flight_;  // seqs being forwarded now (not for recovery to resolve)
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_WRITE_PATH_H_
