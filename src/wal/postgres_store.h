// WalStore on PostgreSQL (libpqxx 6.4): the production store, used when DATABASE_URL is set.
//
// The database is the only source of truth: no state kept here decides anything, so several
// chroma-ha processes may share one database (DESIGN.md §8). Appends take a transaction-scoped
// advisory lock, so across processes seq order equals commit order (a reader that has seen seq N
// never later finds a committed entry below N). Schema changes are versioned (`schema_version`)
// and run under another advisory lock, so processes starting together do not collide.
//
// One connection per store object, guarded by a mutex: calls are thread-safe and serialised.
// Statements are prepared once per connection. Bodies are `bytea`, byte-exact (NUL included).
//
// Deadlines (T = the store timeout, WAL_STORE_TIMEOUT_MS): no call waits without bound, even
// when the server goes silent with its connections left open (SIGSTOP, a partition, a
// blackholing proxy: TCP still looks alive, so only a client-side deadline helps).
//  - Each call waits at most until T after it began for the store's mutex ("store busy",
//    kUnavailable). Each statement is bounded by the server's statement_timeout = T (57014,
//    kUnavailable, the connection is kept); a server that does not answer at all is cut by a
//    watchdog at T + min(T/4, 1 s) after the call began (kUnavailable, or kTimeout if it was
//    cut during COMMIT; the connection is dropped).
//  - A call that has to reconnect first is bounded by libpq's connect_timeout (T rounded up to
//    whole seconds, at least 2 s, libpq's minimum) for the connection itself.
//  - The server side also gets idle_in_transaction_session_timeout = T (a session orphaned
//    mid-transaction behind a partition releases its locks); TCP keepalives (idle T/2, interval 1 s, 3 probes) and
//    tcp_user_timeout = T find a dead peer that stopped ACKing.
//
// Connection loss: the call that finds the connection broken returns kUnavailable and drops it;
// the next call reconnects. While reconnecting fails, attempts back off exponentially
// (100 ms doubling to 5 s) and calls inside the back-off window return kUnavailable at once.
//
// Errors (postgres_errors.h): kUnavailable (connection refused/broken/cut at the deadline,
// serialisation failure, deadlock, lock not available, statement timeout, server shutting down
// or out of resources: retryable), kTimeout (a COMMIT whose acknowledgement was lost: in doubt;
// Append then reports the seqs it assigned), kInvalidArgument (constraint or data errors, text
// that is not UTF-8), kNotFound (unknown seq), kInternal (anything else, with the server's
// message). Nothing throws; no message ever contains the password.
//
// Implementation: postgres_schema.cc (connection, schema and migrations, instance
// registration), postgres_store.cc (queries), postgres_leases.cc (leases, fences, members on
// the server's clock), postgres_sql.h (their prepared statements).
#ifndef CHROMA_HA_WAL_POSTGRES_STORE_H_
#define CHROMA_HA_WAL_POSTGRES_STORE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "chroma_ha/wal_store.h"

#include "wal/deadline_mutex.h"
#include "wal/socket_watchdog.h"

namespace pqxx {
class connection_base;
class transaction_base;
}

namespace chroma_ha {

class PostgresWalStore final : public WalStore {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

  // `url`: a libpq connection URI or keyword/value string. `timeout`: the store timeout T
  // (WAL_STORE_TIMEOUT_MS, see above). Nothing connects before Open().
  explicit PostgresWalStore(std::string url, std::chrono::milliseconds timeout = kDefaultTimeout);
  ~PostgresWalStore() override;
  PostgresWalStore(const PostgresWalStore&) = delete;
  PostgresWalStore& operator=(const PostgresWalStore&) = delete;

  const char* Kind() const override { return "postgres"; }
  Status Open() override;
  Status RegisterInstances(const std::vector<std::string>& instances) override;
  Status Append(std::vector<WalEntry>* entries) override;
  Status SetOutcome(int64_t seq, EntryState state, const std::string& origin, int attempts,
                    const std::string& last_error, const Fence& fence = Fence(),
                    bool* written = nullptr) override;
  Status SetExtra(int64_t seq, const std::string& extra) override;
  Status MarkApplied(int64_t seq, const std::string& instance, bool* was_pending = nullptr,
                     const Fence& fence = Fence()) override;
  Status MarkAppliedBatch(const std::vector<int64_t>& seqs, const std::string& instance,
                          const Fence& fence = Fence()) override;
  Result<std::vector<WalEntry>> PendingFor(const std::string& instance, int64_t after_seq,
                                           int limit) override;
  Result<std::vector<WalEntry>> Unresolved() override;
  Result<int64_t> ResolvedAfter(const WalEntry& entry) override;
  Result<std::vector<std::string>> InstancesBehind(const std::string& tenant,
                                                   const std::string& database,
                                                   const std::string& collection,
                                                   int64_t up_to) override;
  Result<std::vector<int64_t>> PendingBefore(const std::string& tenant,
                                             const std::string& database,
                                             const std::string& collection,
                                             int64_t before) override;
  Result<WalEntry> Get(int64_t seq) override;
  Result<std::vector<InstanceBacklog>> Backlog(const std::vector<std::string>& instances) override;
  Result<std::map<EntryState, int64_t>> CountByState() override;
  Result<int64_t> Prune(int64_t before_ms, const std::vector<std::string>& instances,
                        const Fence& fence = Fence()) override;
  Status PutCollection(const CollectionIdentity& identity) override;
  Status RemoveCollection(const std::string& tenant, const std::string& database,
                          const std::string& name) override;
  Result<std::vector<CollectionIdentity>> LoadCollections() override;
  Result<CollectionIdentity> MergeCollection(const CollectionIdentity& seen) override;
  Result<std::optional<CollectionIdentity>> FindCollection(const std::string& tenant,
                                                           const std::string& database,
                                                           const std::string& id) override;
  Status Block(const BlockedCollection& blocked, const Fence& fence = Fence()) override;
  Status Unblock(const std::string& instance, const std::string& tenant,
                 const std::string& database, const std::string& collection,
                 const Fence& fence = Fence()) override;
  Result<std::vector<BlockedCollection>> ListBlocked() override;
  Status Clear() override;
  Result<Lease> AcquireLease(const std::string& name, const std::string& holder,
                             int64_t ttl_ms) override;
  Result<Lease> RenewLease(const std::string& name, const std::string& holder, int64_t term,
                           int64_t ttl_ms) override;
  Status ReleaseLease(const std::string& name, const std::string& holder, int64_t term) override;
  Result<std::vector<Lease>> ListLeases() override;
  Status Heartbeat(const std::string& member) override;
  Result<std::vector<Member>> ListMembers() override;
  Result<int64_t> LastSeq() override;
  Status PutResync(const std::string& instance, const std::string& state,
                   const Fence& fence = Fence()) override;
  Result<std::map<std::string, std::string>> LoadResyncs() override;

  // Drops the connection as if the server had gone away (tests of the reconnect path).
  void DisconnectForTesting();

 private:
  // Runs `body` on a live connection with the mutex held, within the call's deadline;
  // translates every exception.
  Status Run(const char* what, const std::function<void(pqxx::connection_base&)>& body);
  Status ConnectLocked(std::chrono::steady_clock::time_point deadline);
  // Commits `t`, noting that an error from here on leaves the outcome unknown.
  void CommitLocked(pqxx::transaction_base& t);
  std::string Redact(std::string message) const;
  bool Registered(const std::string& instance) const;
  Status MarkAppliedImpl(const std::vector<int64_t>& seqs, const std::string& instance,
                         int64_t* todo_removed, const Fence& fence);
  // Inside a write transaction: true iff `fence` is unfenced or its tenure is current (the
  // lease row is then locked FOR SHARE until the transaction ends). postgres_leases.cc.
  static bool FenceHolds(pqxx::transaction_base& t, const Fence& fence);

  const std::chrono::milliseconds timeout_;
  const std::string url_;       // with connect_timeout, keepalives, ... added
  const std::string password_;  // scrubbed from every message; empty when none
  DeadlineMutex mu_;  // held across each call, taken with a deadline (Run)
  SocketWatchdog watchdog_;
  bool committing_ = false;  // the current call is committing (mu_ held)
  struct Connection;  // a pqxx::connection (an alias in libpqxx 6, so not forward-declarable)
  std::unique_ptr<Connection> conn_;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point retry_at_{};
  mutable std::mutex registered_mu_;  // not mu_: Run() holds that one
  std::set<std::string> registered_;  // instances in wal_instances (Open, RegisterInstances)
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_POSTGRES_STORE_H_
