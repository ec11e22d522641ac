// The write path (DESIGN.md §3), in its named steps:
//
//   Validate -> Name the collection -> Append (durably, within WAL_APPEND_TIMEOUT_MS) -> Order
//   (wait for the collection's turn) -> Forward -> Record the outcome (in WAL order) -> Answer.
//
// No WAL, no write: if the append fails or is not durable in time, the client gets 503 and the
// write is never forwarded (an append whose commit is in doubt is recorded as rejected as soon
// as the store answers again, see README "In-doubt writes"). Also keeps, per instance, how many
// committed entries each collection still has to replay there, so reads can avoid stale replicas
// (READ_CONSISTENCY=fresh).
//
// Everything a write holds (its two turns, its in-flight mark) is owned by guard objects, so an
// early return or a throw at any step gives them back. Once appended, a write is carried to its
// end by a task of its own; the client waits for it with deadlines (see WriteTask in
// write_task.h) and is answered 503 "outcome unknown" rather than left waiting behind an earlier
// write whose outcome is not known yet.
#ifndef CHROMA_HA_SERVER_WRITE_PATH_H_
#define CHROMA_HA_SERVER_WRITE_PATH_H_

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
struct WriteTask;

struct WriteStats {
  std::atomic<int64_t> appended{0};        // entries durably appended
  std::atomic<int64_t> committed{0};       // forwarded and applied on their origin (2xx)
  std::atomic<int64_t> rejected{0};        // definite 4xx/5xx, or no instance took it
  std::atomic<int64_t> unknown{0};         // no answer from any instance: sent again until one
  std::atomic<int64_t> wal_failures{0};    // appends that failed or timed out: answered 503
  std::atomic<int64_t> append_timeouts{0};  // appends not durable within WAL_APPEND_TIMEOUT_MS
  std::atomic<int64_t> in_doubt{0};  // appends whose commit was unconfirmed: recorded rejected
  std::atomic<int64_t> turn_timeouts{0};  // answered 503 while waiting behind an earlier write
  std::atomic<int64_t> order_timeouts{0};  // 503: the store did not answer the fleet-order check
  std::atomic<int64_t> outcome_retries{0};  // outcome records that failed and were tried again
  std::atomic<int64_t> forward_retries{0};
  std::atomic<int64_t> write_failovers{0};  // applied on a replica because the primary failed
  std::atomic<int64_t> recovered{0};        // pending entries resolved by sending them again
  std::atomic<int64_t> superseded{0};  // pending entries rejected: a later write was resolved
  std::atomic<int64_t> fresh_reads_redirected{0};
};

// A pending entry that recovery could not resolve yet (sticky until it is; /wal/status).
struct UnresolvedEntry {
  int64_t seq = 0;
  std::string tenant, database, collection, kind;
  int64_t since_ms = 0;  // first failed attempt
  int attempts = 0;
  std::string error;
};

class FleetOrder;
class ValidatedBodies;

class WritePath {
 public:
  // All references must outlive the WritePath. `wal_threads` runs the blocking store calls.
  // `notify_sync` wakes the sync worker (after each committed entry).
  WritePath(const Config& config, Upstreams& upstreams, CollectionResolver& resolver,
            WalStore& store, GroupCommitter& committer, boost::asio::thread_pool& wal_threads,
            std::function<void()> notify_sync);
  ~WritePath();

  boost::asio::awaitable<HttpResponse> Handle(HttpRequest request, const Route& route);

  // READ_CONSISTENCY=fresh: moves instances that still have to replay entries of the route's
  // collection (or database/tenant) to the end of `order`. Cheap; no I/O.
  std::vector<std::size_t> FreshReadOrder(const Route& route,
                                          std::vector<std::size_t> order) const;

  // Called by the sync worker (any thread) after `entry` was applied on `instance`.
  void OnApplied(const WalEntry& entry, const std::string& instance);

  // Blocking, before serving: loads the identity map and the replay backlog from the store.
  Status Load();
  // Blocking (the recovery thread, or start-up; never a thread that records outcomes): resolves
  // entries left kPending by a crash. Per collection, in seq order: an entry is rejected when a
  // later entry of its collection is already resolved (it must never be applied after it);
  // otherwise it is sent again to the first instance that answers. An entry that cannot be
  // resolved holds back only the later entries of its own collection and is listed by
  // Unresolved() until it is. `clients` are index-aligned with config.instances. `at_start`:
  // nothing is in flight yet, so every kPending entry is resolved (later, entries younger than
  // 2 s, and those of another member that is still alive, see SetMember, are left to the writer
  // that is forwarding them). `fence`: the recovery lease's, when
  // several processes share the store (every outcome is written under it; once it has ended
  // the pass stops with kFailedPrecondition).
  Status ResolveUnresolved(const std::vector<InstanceClient*>& clients, bool at_start = false,
                           const Fence& fence = Fence());
  // The same for this process's own entries only (writer == SetMember's id), unfenced, in a
  // process that does not hold the recovery lease: an entry it appended and no longer carries
  // (its task ended without an outcome) is its own to resolve, since the lease holder leaves a
  // live member's entries to it. Entries of other writers hold back the later entries of their
  // collection, as in the full pass.
  Status ResolveOwnUnresolved(const std::vector<InstanceClient*>& clients);
  // Pending entries recovery has failed to resolve so far, oldest first.
  std::vector<UnresolvedEntry> Unresolved() const;
  // Admin: records pending entry `seq` as rejected (never forwarded or replayed). kInvalidArgument
  // if it is not pending, or is being forwarded now.
  Status RejectPending(int64_t seq, const std::string& why);
  // Forgets every replay counter (after a reset).
  void ClearBacklog();

  const WriteStats& stats() const { return stats_; }
  // Optional (a PostgreSQL WAL, which several processes may share): each write also waits for
  // the earlier entries of its collection that other processes appended (server/fleet_order.h)
  // before it is forwarded. Set before serving.
  void SetFleetOrder(FleetOrder* order) { fleet_order_ = order; }
  // This process's member id (LeaseKeeper::member()), recorded as every entry's writer, and
  // how long a member stays alive without a heartbeat (the lease TTL). Recovery leaves a pending
  // entry whose writer is another member that heartbeated within `live_for` (by the store's
  // clock) to that writer: it may be forwarding it now, however long that takes. Set before
  // serving; unset, entries have no writer and recovery goes by their age alone.
  void SetMember(std::string member, std::chrono::milliseconds live_for) {
    member_ = std::move(member);
    member_live_for_ = live_for;
  }
  // True while this process carries entry `seq` (appended here, outcome not recorded yet).
  bool Carrying(int64_t seq) const { return in_flight_->Contains(seq); }
  // Optional: WAL append latency is observed there. Set before serving.
  void SetMetrics(Metrics* metrics) { metrics_ = metrics; }
  // Optional: the layout of every add/upsert body validated here is remembered under its seq,
  // so that replay coalescing need not scan it again (sync/validated_bodies.h). Set before
  // serving.
  void SetValidatedBodies(ValidatedBodies* validated) { validated_ = validated; }

 private:
  struct Forwarded;
  struct AppendWait;
  // Seqs of entries being carried by their writers: recovery leaves them alone. Shared with
  // the guards, which may outlive the WritePath (a frame dropped at shutdown).
  struct InFlightSet {
    std::mutex mu;
    std::set<int64_t> seqs;
    bool Contains(int64_t seq) {
      std::lock_guard lock(mu);
      return seqs.count(seq) != 0;
    }
  };
  // One seq's mark in the InFlightSet (put there by the append's callback), removed on
  // destruction or Reset().
  class InFlight {
   public:
    InFlight() = default;
    InFlight(std::shared_ptr<InFlightSet> set, int64_t seq) : set_(std::move(set)), seq_(seq) {}
    InFlight(InFlight&& o) noexcept { *this = std::move(o); }
    InFlight& operator=(InFlight&& o) noexcept;
    ~InFlight() { Reset(); }
    void Reset();

   private:
    std::shared_ptr<InFlightSet> set_;
    int64_t seq_ = 0;
  };
  // The append's result: durable (status OK, seq), refused (nothing written), or in doubt (the
  // store may have written it; `wait` completes when the store answers).
  struct Appended {
    Status status;
    int64_t seq = 0;
    std::string body;  // the request body, back from the WAL append (when it was tried)
    bool in_doubt = false;
    Turn forward;  // the collection's turn to forward (sequencer_)
    Turn outcome;  // its turn to record the outcome (outcomes_)
    std::shared_ptr<AppendWait> wait;
  };
  // What one write carries from its append to its end (moved into its task).
  struct Write {
    HttpRequest request;
    Route route;
    std::string collection;
    bool convert_deletion = false;  // a delete by ids: remember document_ids first
    int64_t seq = 0;
    Turn forward;
    Turn outcome;
    InFlight in_flight;
    WalEntry counted;  // tenant, database, collection, kind (and a rename's body)
  };
  struct Outcome {
    EntryState state = EntryState::kRejected;
    std::string origin;
    std::size_t index = 0;
    int attempts = 0;
    std::string error;
  };

  // Steps of Handle, in order.
  boost::asio::awaitable<Appended> Append(const std::string& seq_key, const Footprint& footprint,
                                          WalEntry entry);
  boost::asio::awaitable<void> Carry(std::shared_ptr<WriteTask> task, Write write);
  boost::asio::awaitable<HttpResponse> AwaitAnswer(std::shared_ptr<WriteTask> task);

  // An append whose commit is in doubt: once the store answers, records it rejected.
  boost::asio::awaitable<void> RejectInDoubt(std::shared_ptr<AppendWait> wait);
  boost::asio::awaitable<Forwarded> ForwardInOrder(const HttpRequest& request, const Route& route,
                                                   const std::string& collection);
  // Step 6: hands the client the instance's answer (collection ids rewritten), or a 503.
  boost::asio::awaitable<void> AnswerClient(WriteTask& task, const Write& write, Forwarded& fwd);
  // Outcome unknown: sends the write again (after a back-off) until an instance answers.
  boost::asio::awaitable<Forwarded> ForwardUntilAnswered(const Write& write, Forwarded fwd);
  // Counts the replay backlog, ends the forward turn, records the outcome in the outcome turn.
  boost::asio::awaitable<void> Record(Write& write, const Forwarded& fwd);
  // SetOutcome until it is recorded (or the entry is gone); never gives up the turn before.
  boost::asio::awaitable<Status> RecordOutcome(int64_t seq, const Outcome& out);
  boost::asio::awaitable<HttpResponse> HandleReset(HttpRequest request);
  // `order` with the healthy instances that have nothing of `collection` left to replay first.
  std::vector<std::size_t> CaughtUpFirst(const Route& route, const std::string& collection,
                                         std::vector<std::size_t> order) const;
  boost::asio::awaitable<void> ResolveDocumentIds(const HttpRequest& request, const Route& route,
                                                  int64_t seq);
  void CountBacklog(const WalEntry& entry, const std::string& instance, int delta);
  void CountOthers(const WalEntry& counted, const std::string& origin, int delta);
  std::size_t IndexOf(const std::string& instance) const;
  // ResolveUnresolved and ResolveOwnUnresolved.
  Status Resolve(const std::vector<InstanceClient*>& clients, bool at_start, const Fence& fence,
                 bool own_only);
  // Recovery of one pending entry: resolved (OK), or why not.
  Status ResolveOne(const WalEntry& e, const std::vector<InstanceClient*>& clients,
                    const Fence& fence);
  std::optional<std::string> IdOn(const WalEntry& e, std::size_t index, InstanceClient& client);

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
  // one, and a pending entry always has only pending entries after it in its collection). The
  // next write is forwarded while this one's outcome is being made durable.
  const std::shared_ptr<Sequencer> sequencer_ = std::make_shared<Sequencer>();
  const std::shared_ptr<Sequencer> outcomes_ = std::make_shared<Sequencer>();
  const std::shared_ptr<InFlightSet> in_flight_ = std::make_shared<InFlightSet>();
  mutable WriteStats stats_;  // counters; FreshReadOrder (const) counts redirects
  Metrics* metrics_ = nullptr;
  FleetOrder* fleet_order_ = nullptr;
  ValidatedBodies* validated_ = nullptr;
  std::string member_;                            // SetMember
  std::chrono::milliseconds member_live_for_{0};  // SetMember

  mutable std::mutex mu_;
  // Per instance index: scope key ("t", "t/d", "t/d/c") -> entries still to replay there.
  std::vector<std::unordered_map<std::string, int64_t>> backlog_;
  std::map<int64_t, UnresolvedEntry> unresolved_;  // recovery's failures so far, by seq
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_WRITE_PATH_H_
