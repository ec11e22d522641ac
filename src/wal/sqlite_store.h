// WalStore on an embedded SQLite database (the default when DATABASE_URL is unset).
//
// One connection per store object, guarded by a mutex: calls are thread-safe and serialised.
// The database runs in WAL journal mode with synchronous=FULL, so an Append that returned OK
// survives a power loss. Several store objects of ONE process may open the same file; writers
// then wait up to the busy timeout (kUnavailable after it). Prepared statements are cached for
// the life of the connection. Bodies are byte-exact: BLOBs in the database, or, from
// BodyFiles::kMinExternalBytes on, in append-only files next to it (wal/sqlite_bodies.h).
//
// The schema is versioned (table `schema_version`); Open() applies missing migrations in one
// transaction and refuses (kInternal) a database written by a newer build.
//
// Errors: kUnavailable for busy/locked/I/O/disk-full/cannot-open, kInvalidArgument for bad input
// (constraint violations, text that is not UTF-8), kCorruption for a damaged file, kNotFound for
// an unknown seq, kInternal otherwise. Nothing throws.
//
// Implementation: sqlite_schema.cc (connection, schema and migrations, instance registration),
// sqlite_store.cc (queries), sqlite_store_bodies.cc (where bodies go), sqlite_leases.cc
// (leases, fences, members), sqlite_statement.h (their shared statement helper).
#ifndef CHROMA_HA_WAL_SQLITE_STORE_H_
#define CHROMA_HA_WAL_SQLITE_STORE_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "chroma_ha/wal_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace chroma_ha {

class BodyFiles;
struct BodyRef;
class SqliteFileLock;

class SqliteWalStore final : public WalStore {
 public:
  // `path` is the database file; its parent directories are created by Open().
  explicit SqliteWalStore(std::string path);
  ~SqliteWalStore() override;
  SqliteWalStore(const SqliteWalStore&) = delete;
  SqliteWalStore& operator=(const SqliteWalStore&) = delete;

  const char* Kind() const override { return "sqlite"; }
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

  const std::string& path() const { return path_; }

 private:
  class Stmt;

  Status OpenLocked();
  Status MigrateLocked();
  Status ExecLocked(const char* sql);
  Result<sqlite3_stmt*> PrepareLocked(const char* sql);
  Status ErrorLocked(int rc, const char* what) const;
  Status BeginLocked();  // BEGIN IMMEDIATE
  void RollbackLocked();
  Result<bool> EntryExistsLocked(int64_t seq);
  Result<std::vector<WalEntry>> QueryEntriesLocked(Stmt& stmt);
  Status InsertTodoLocked(int64_t seq, const std::string& origin);
  // Bodies (sqlite_store_bodies.cc). A body of BodyFiles::kMinExternalBytes or more goes to
  // the body files and the row holds where (*external then set), a shorter one into the row.
  Status InsertBodyLocked(int64_t seq, const std::string& body, bool* external);
  Status ReadBodyLocked(int64_t seq, const BodyRef& ref, std::string* body);
  // Commits a transaction that deleted rows, then deletes the body files no row refers to.
  Status CommitDroppingBodyFilesLocked();
  Status MarkAppliedImpl(const std::vector<int64_t>& seqs, const std::string& instance,
                         int64_t* todo_removed, const Fence& fence);
  // Leases (sqlite_leases.cc). The store's clock: the process's (one process per file).
  static int64_t NowMs();
  Result<std::optional<Lease>> LeaseLocked(const std::string& name);
  Status WriteLeaseLocked(const Lease& lease);
  // kFailedPrecondition unless `fence` is unfenced or current (transaction open).
  Status FenceLocked(const Fence& fence);

  const std::string path_;
  std::mutex mu_;
  std::shared_ptr<SqliteFileLock> file_lock_;  // held from Open() to destruction
  std::shared_ptr<BodyFiles> bodies_;  // large bodies (wal/sqlite_bodies.h); set with the lock
                                       // by Open(), before the database is opened
  bool sole_opener_ = false;  // Open() took the file lock from the OS (see Open)
  sqlite3* db_ = nullptr;
  std::map<const char*, sqlite3_stmt*> statements_;  // keyed by the SQL constant's address
  std::set<std::string> registered_;  // instances in wal_instances (loaded by Open)
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_SQLITE_STORE_H_
