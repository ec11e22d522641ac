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
// Connection loss: the call that finds the connection broken returns kUnavailable and drops it;
// the next call reconnects. While reconnecting fails, attempts back off exponentially
// (100 ms doubling to 5 s) and calls inside the back-off window return kUnavailable at once.
//
// Errors: kUnavailable (connection refused/broken, commit outcome unknown, serialisation failure,
// server shutting down or out of resources: retryable), kInvalidArgument (constraint or data
// errors, text that is not UTF-8), kNotFound (unknown seq), kInternal (anything else, with the
// server's message). Nothing throws; no message ever contains the password.
//
// Implementation: postgres_schema.cc (connection, schema and migrations, instance
// registration), postgres_store.cc (queries), postgres_sql.h (their prepared statements).
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

namespace pqxx {
class connection_base;
}

namespace chroma_ha {

class PostgresWalStore final : public WalStore {
 public:
  // `url`: a libpq connection URI or keyword/value string. Nothing connects before Open().
  explicit PostgresWalStore(std::string url);
  ~PostgresWalStore() override;
  PostgresWalStore(const PostgresWalStore&) = delete;
  PostgresWalStore& operator=(const PostgresWalStore&) = delete;

  const char* Kind() const override { return "postgres"; }
  Status Open() override;
  Status RegisterInstances(const std::vector<std::string>& instances) override;
  Status Append(std::vector<WalEntry>* entries) override;
  Status SetOutcome(int64_t seq, EntryState state, const std::string& origin, int attempts,
                    const std::string& last_error) override;
  Status SetExtra(int64_t seq, const std::string& extra) override;
  Status MarkApplied(int64_t seq, const std::string& instance,
                     bool* was_pending = nullptr) override;
  Status MarkAppliedBatch(const std::vector<int64_t>& seqs, const std::string& instance) override;
  Result<std::vector<WalEntry>> PendingFor(const std::string& instance, int64_t after_seq,
                                           int limit) override;
  Result<std::vector<WalEntry>> Unresolved() override;
  Result<int64_t> ResolvedAfter(const WalEntry& entry) override;
  Result<WalEntry> Get(int64_t seq) override;
  Result<std::vector<InstanceBacklog>> Backlog(const std::vector<std::string>& instances) override;
  Result<std::map<EntryState, int64_t>> CountByState() override;
  Result<int64_t> Prune(int64_t before_ms, const std::vector<std::string>& instances) override;
  Status PutCollection(const CollectionIdentity& identity) override;
  Status RemoveCollection(const std::string& tenant, const std::string& database,
                          const std::string& name) override;
  Result<std::vector<CollectionIdentity>> LoadCollections() override;
  Status Block(const BlockedCollection& blocked) override;
  Status Unblock(const std::string& instance, const std::string& tenant,
                 const std::string& database, const std::string& collection) override;
  Result<std::vector<BlockedCollection>> ListBlocked() override;
  Status Clear() override;

  // Drops the connection as if the server had gone away (tests of the reconnect path).
  void DisconnectForTesting();

 private:
  // Runs `body` on a live connection with the mutex held; translates every exception.
  Status Run(const char* what, const std::function<void(pqxx::connection_base&)>& body);
  Status ConnectLocked();
  Status TranslateCurrentException(const char* what);  // call only inside a catch block
  std::string Redact(std::string message) const;
  bool Registered(const std::string& instance) const;
  Status MarkAppliedImpl(const std::vector<int64_t>& seqs, const std::string& instance,
                         int64_t* todo_removed);

  const std::string url_;       // with connect_timeout/application_name added
  const std::string password_;  // scrubbed from every message; empty when none
  std::mutex mu_;
  struct Connection;  // a pqxx::connection (an alias in libpqxx 6, so not forward-declarable)
  std::unique_ptr<Connection> conn_;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point retry_at_{};
  mutable std::mutex registered_mu_;  // not mu_: Run() holds that one
  std::set<std::string> registered_;  // instances in wal_instances (Open, RegisterInstances)
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_POSTGRES_STORE_H_
