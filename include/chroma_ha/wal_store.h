// The write-ahead log store: the seam through which all WAL I/O goes (our leveldb `Env`).
// Implementations: PostgreSQL (src/wal/postgres_store.*, when DATABASE_URL is set) and SQLite
// (src/wal/sqlite_store.*, the embedded default). Tests also use an in-memory store and a
// fault-injecting wrapper (tests/fakes/). One conformance suite runs against every store.
//
// Calls are blocking and thread-safe (implementations serialise internally). They must never
// be called on an event-loop thread: the proxy runs them on the WAL threads.
// Every call returns a Status instead of throwing; kUnavailable means the database could not
// be reached or did not answer in time (retryable: nothing was changed), kTimeout means a
// change was sent but its commit was never acknowledged (retryable, outcome unknown: it may
// or may not be durable); anything else is permanent. A store that can go silent (PostgreSQL)
// bounds every call by its store timeout (WAL_STORE_TIMEOUT_MS): no call blocks for longer,
// whatever the network does.
//
// ## The entry format (version 1)
//
// | field       | meaning                                                                    |
// |-------------|----------------------------------------------------------------------------|
// | seq         | position in the log, assigned by Append, strictly increasing, never reused |
// | created_ms  | wall-clock time of the append, ms since the Unix epoch                     |
// | tenant      | tenant name from the path ("" for reset)                                   |
// | database    | database name from the path ("" for tenant-level writes)                   |
// | collection  | collection NAME at the time of the write ("" for tenant/database writes)   |
// | kind        | WriteKindName(): "add", "upsert", "create_collection", ...                 |
// | method      | HTTP method, "POST" / "PUT" / "DELETE"                                     |
// | path        | request target; a collection UUID segment is replaced by "{collection}"    |
// | body        | request body, byte-exact (may contain NUL)                                 |
// | state       | EntryState below                                                           |
// | origin      | instance the client's write was forwarded to ("" before forwarding)        |
// | attempts    | forwarding/replay attempts so far (diagnostics)                            |
// | last_error  | last error text (diagnostics; never a secret)                              |
// | extra       | JSON text, kind-specific: for "delete" by ids, the resolved                |
// |             | {"document_ids": {"<id>": "<document_id>", ...}} from the origin instance  |
// | writer      | member id of the process that appended it (LeaseKeeper::MakeMemberId()),   |
// |             | "" when not known (entries of older builds): recovery leaves a pending     |
// |             | entry to a writer that is still heartbeating (Member below)                |
//
// Replay rule: an entry is sent to instance I iff state == kCommitted, I != origin, and it is
// not yet marked applied on I. Entries are replayed in seq order per collection.
//
// ## Replay work is tracked per registered instance
//
// Stores keep, next to the entries, the set of (instance, seq) still to replay ("todo"): a
// row is added for every registered instance but the origin (and those already marked applied)
// when an entry becomes committed, and removed by MarkApplied or when the entry stops being
// committed. PendingFor and Backlog read only that set, so they cost O(backlog), not O(retained
// WAL): they run on every sync wake-up and every /wal/status. Instances are registered with
// RegisterInstances (the store factory registers the configured ones); registering one that is
// new to the database backfills its todo set from the retained WAL, which is also how a
// database written by an older build is migrated. Registrations are stored, so several
// processes sharing one database (DESIGN.md §8) track every instance any of them registered.
//
// ## Leases and fencing (DESIGN.md §8; docs/design.md "Fleet")
//
// Work that must run in one process at a time although several share the store (replay to an
// instance, recovery of pending entries) is claimed with a named lease: a row (name, holder,
// term, expires_ms). AcquireLease grants it to `holder` when it is free (never held, released
// or expired) and renews it when `holder` holds it; the term grows by one on every new tenure
// (a takeover, or the same holder again after an expiry or a release) and stays the same on a
// renewal, so (name, term) names one tenure and no two holders ever have the same term.
// Expiry is decided by ONE clock all processes agree on: PostgreSQL's (clock_timestamp() on
// the server), never the callers'; SQLite (one process per file) uses the process clock, and
// the memory store the Clock it was given.
//
// A write made under a lease carries a Fence {lease, holder, term}. The store checks, inside
// the write's own transaction (PostgreSQL: the lease row read FOR SHARE, so a takeover waits
// for the write to commit; SQLite: BEGIN IMMEDIATE), that the lease still has that holder and
// term and has not expired; otherwise nothing is written and the call returns
// kFailedPrecondition ("fenced"). So a holder that was paused or cut off past its expiry can
// write nothing once another process may have taken over. Fenced calls: SetOutcome,
// MarkApplied, MarkAppliedBatch, Block, Unblock, Prune; the default Fence (empty lease) writes
// unfenced, as before (the write path's own outcomes, admin actions).
//
// Members: every process heartbeats a row (member id, first and last seen, store clock), for
// /wal/status. Rows not seen for kMemberForgetMs are deleted by Heartbeat.
//
// (Per-instance "applied up to seq N" watermarks were the other option. They do not stay
// O(backlog): entries are committed out of seq order (failover, recovery of pending entries)
// and a blocked collection holds the watermark back while later entries are applied, so every
// query would again scan from an old watermark, for as long as the block lasts.)
#ifndef CHROMA_HA_WAL_STORE_H_
#define CHROMA_HA_WAL_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "chroma_ha/status.h"

namespace chroma_ha {

inline constexpr int kWalFormatVersion = 1;

enum class EntryState {
  kPending = 0,    // appended; the forward's outcome is not recorded yet (in flight or crashed)
  kCommitted = 1,  // the origin instance answered 2xx: replay it everywhere else
  kRejected = 2,   // the origin answered a definite 4xx: never replayed
};

const char* EntryStateName(EntryState s);  // "pending", "committed", "rejected"

struct WalEntry {
  int64_t seq = 0;
  int64_t created_ms = 0;
  std::string tenant;
  std::string database;
  std::string collection;
  std::string kind;
  std::string method;
  std::string path;
  std::string body;
  EntryState state = EntryState::kPending;
  std::string origin;
  int attempts = 0;
  std::string last_error;
  std::string extra;
  std::string writer;  // member id of the appending process; "" when not known
};

// A collection's identity across instances (DESIGN.md §4).
struct CollectionIdentity {
  std::string tenant;
  std::string database;
  std::string name;
  std::string canonical_id;                // the id clients see: the first one assigned
  std::map<std::string, std::string> ids;  // instance name -> that instance's UUID
};

// A collection whose replay to one instance stopped on a permanent failure.
struct BlockedCollection {
  std::string instance;
  std::string tenant;
  std::string database;
  std::string collection;
  int64_t seq = 0;  // the entry that failed
  int64_t since_ms = 0;
  std::string error;
};

struct InstanceBacklog {
  std::string instance;
  int64_t entries = 0;          // committed entries not yet applied there
  int64_t oldest_created_ms = 0;  // created_ms of the oldest of them; 0 when none
};

// True when a read of tenant/database/collection depends on entry `e`: a global entry (reset,
// tenant ""), a write of the tenant itself (database ""), of the database (collection ""), or
// of the collection, or any collection change of the database ("modify_collection": a rename is
// logged under the old name, and the new name's reads depend on it). An empty `collection`
// reads the whole database (any collection of it), an empty `database` the whole tenant. The
// SQL of InstancesBehind implements the same rule.
bool InReadScope(const WalEntry& e, const std::string& tenant, const std::string& database,
                 const std::string& collection);

// A named lease as the store has it. The caller holds it iff holder is its own id and
// expires_ms > now_ms (both on the store's clock).
struct Lease {
  std::string name;
  std::string holder;      // "" when never held
  int64_t term = 0;        // 0 when never held; +1 on every new tenure
  int64_t expires_ms = 0;  // store clock; <= now_ms once expired or released
  int64_t now_ms = 0;      // the store's clock when this was read
  bool HeldBy(const std::string& member) const {
    return !holder.empty() && holder == member && expires_ms > now_ms;
  }
};

// The tenure a write is made under (see "Leases and fencing"). An empty lease: unfenced.
struct Fence {
  std::string lease;
  std::string holder;
  int64_t term = 0;
  bool fenced() const { return !lease.empty(); }
};

// A process sharing the store, as last heartbeated.
struct Member {
  std::string member;
  int64_t first_seen_ms = 0;  // store clock
  int64_t last_seen_ms = 0;   // store clock
  int64_t now_ms = 0;         // the store's clock when this was read
  int64_t silent_ms() const { return now_ms - last_seen_ms; }  // since its last heartbeat
};

// Member rows not heartbeated for this long are deleted (a bounded table).
inline constexpr int64_t kMemberForgetMs = 3'600'000;

// The message of a write refused by its fence starts with this.
inline constexpr const char* kFencedPrefix = "fenced: ";

class WalStore {
 public:
  virtual ~WalStore() = default;

  // "sqlite" or "postgres".
  virtual const char* Kind() const = 0;

  // Creates or migrates the schema. Called once before anything else.
  virtual Status Open() = 0;

  // Registers the instances whose replay backlog the store tracks (idempotent; registrations
  // persist and are never removed). A name new to the database gets every retained committed
  // entry it has not applied (and is not the origin of) as backlog, in one transaction.
  // Until an instance is registered, PendingFor and Backlog for it return kInvalidArgument.
  virtual Status RegisterInstances(const std::vector<std::string>& instances) = 0;

  // Appends all entries in one durable transaction (committed and synced before it returns OK),
  // assigning each a `seq` (in vector order) and `created_ms` if it is 0. All or nothing.
  //
  // kTimeout: the commit's outcome is unknown (in doubt: the entries may be durable, all of
  // them or none); entries[i].seq then holds the seq the store assigned to entries[i], or 0 if
  // it assigned none. Any other error means nothing was written (seqs untouched).
  virtual Status Append(std::vector<WalEntry>* entries) = 0;

  // Records the forward's outcome: state, origin instance, attempts and last error. With
  // kCommitted the entry is also marked applied on `origin`.
  // With `written` not null, the outcome is recorded only while the entry is still kPending, in
  // the same transaction as the check, and *written says whether it was: recovery resolves
  // entries whose writer (another process, or one slower than recovery's minimum age) may be
  // recording their outcome at the same moment, and the outcome recorded first stands (the
  // writer's is the instance's own answer to the forward it acknowledged).
  virtual Status SetOutcome(int64_t seq, EntryState state, const std::string& origin, int attempts,
                            const std::string& last_error, const Fence& fence = Fence(),
                            bool* written = nullptr) = 0;

  // Stores kind-specific data (e.g. resolved document_ids) on an entry.
  virtual Status SetExtra(int64_t seq, const std::string& extra) = 0;

  // Marks the entry applied on `instance` (idempotent). kNotFound for an unknown seq.
  // When `was_pending` is not null, *was_pending is set to true iff this call removed the
  // entry's replay work on `instance` (it was committed, `instance` is registered and not its
  // origin, and it was not yet marked applied there), false otherwise (already applied, the
  // origin, not committed). Of concurrent calls for one (seq, instance), at most one sees true,
  // so a caller may count exactly the backlog changes the store made.
  virtual Status MarkApplied(int64_t seq, const std::string& instance,
                             bool* was_pending = nullptr, const Fence& fence = Fence()) = 0;

  // Marks every entry of `seqs` applied on `instance` in ONE durable transaction, all or
  // nothing (kNotFound, and nothing marked, if any seq is unknown). An empty list is OK.
  //
  // The sync worker marks a page of replayed entries at once instead of paying one fsync per
  // entry, so a crash can re-apply the applied-but-unmarked run of a page, in order, after
  // itself. That is harmless only for writes whose re-application in order leaves the same
  // state: per record, add (first writer wins), upsert (sets) and delete by ids (removes) form
  // sequences Q with Q(Q(s)) == Q(s). It is NOT true in general: `update` of a missing id
  // followed by `add` of it, or a delete by `where` after an `add` it does not match, give a
  // different record when applied twice; collection and database operations (rename, drop)
  // change what later entries address. So the worker batches only adds, upserts and plain
  // deletes by ids, and marks every other entry on its own (see SyncWorker).
  virtual Status MarkAppliedBatch(const std::vector<int64_t>& seqs, const std::string& instance,
                                  const Fence& fence = Fence()) = 0;

  // Up to `limit` committed entries not applied on `instance` (and whose origin is not it),
  // with seq > after_seq, in seq order. kInvalidArgument if `instance` is not registered.
  virtual Result<std::vector<WalEntry>> PendingFor(const std::string& instance, int64_t after_seq,
                                                   int limit) = 0;

  // Entries still kPending, in seq order (crash recovery), without their bodies (`body` is
  // empty; Get reads one): recovery looks at every pending entry each WAL_SYNC_INTERVAL, those in
  // flight included, and sends only the few it resolves.
  virtual Result<std::vector<WalEntry>> Unresolved() = 0;

  // The smallest seq greater than entry.seq of an entry with the same tenant, database and
  // collection whose state is kCommitted or kRejected; 0 if there is none. Only entry.seq,
  // tenant, database and collection are read (the entry itself need not exist). Recovery uses
  // it: a pending entry must never be sent after a later write of its collection was resolved.
  // Costs a scan of the resolved entries after entry.seq (cheap for recent entries).
  virtual Result<int64_t> ResolvedAfter(const WalEntry& entry) = 0;

  // One entry by seq; kNotFound if absent.
  virtual Result<WalEntry> Get(int64_t seq) = 0;

  // The registered instances that still have replay work (an entry committed and not yet
  // applied there) with seq <= `up_to` that a read of tenant/database/collection depends on
  // (InReadScope below), sorted by name. An instance not listed has applied all of it (the
  // origin of an entry is never behind on it). Causal reads (X-Chroma-HA-Min-Seq) ask it with
  // the client's token: it reads the todo set only, so it costs O(backlog).
  virtual Result<std::vector<std::string>> InstancesBehind(const std::string& tenant,
                                                           const std::string& database,
                                                           const std::string& collection,
                                                           int64_t up_to) = 0;

  // Seqs of the kPending entries of exactly tenant/database/collection with seq < `before`,
  // ascending. Several processes on one database order their forwards by it: a write waits
  // until the earlier pending entries of its collection that other processes appended are
  // resolved. Reads the pending entries only (indexed by state).
  virtual Result<std::vector<int64_t>> PendingBefore(const std::string& tenant,
                                                     const std::string& database,
                                                     const std::string& collection,
                                                     int64_t before) = 0;

  // Backlog per instance, for /wal/status and metrics. kInvalidArgument if one of `instances`
  // is not registered.
  virtual Result<std::vector<InstanceBacklog>> Backlog(
      const std::vector<std::string>& instances) = 0;

  // Counts of entries by state.
  virtual Result<std::map<EntryState, int64_t>> CountByState() = 0;

  // Deletes entries created before `before_ms` that are rejected or applied on every one of
  // `instances`. Returns how many were deleted.
  virtual Result<int64_t> Prune(int64_t before_ms, const std::vector<std::string>& instances,
                                const Fence& fence = Fence()) = 0;

  // Collection identity map.
  virtual Status PutCollection(const CollectionIdentity& identity) = 0;  // insert or replace
  virtual Status RemoveCollection(const std::string& tenant, const std::string& database,
                                  const std::string& name) = 0;
  virtual Result<std::vector<CollectionIdentity>> LoadCollections() = 0;
  // The fleet's shared identity (docs/design.md "One identity for the fleet"): records what a
  // process saw, the ids in `seen.ids` for the collection (seen.tenant, seen.database,
  // seen.name), and returns the identity stored after the call. An absent key is inserted
  // with `seen.canonical_id` (or, if empty, its first id) as canonical; a present one keeps its
  // canonical id and gets each seen instance id set over the stored one. Atomic against other
  // processes: two that see one new collection at once get the same canonical id back.
  // The default (LoadCollections + PutCollection under a process-wide mutex) serves stores
  // that one process uses.
  virtual Result<CollectionIdentity> MergeCollection(const CollectionIdentity& seen);
  // The identity in tenant/database whose canonical id or any instance id is `id`, if any.
  virtual Result<std::optional<CollectionIdentity>> FindCollection(const std::string& tenant,
                                                                   const std::string& database,
                                                                   const std::string& id);

  // Blocked collections (sticky until Unblock).
  virtual Status Block(const BlockedCollection& blocked,  // insert or replace
                       const Fence& fence = Fence()) = 0;
  virtual Status Unblock(const std::string& instance, const std::string& tenant,
                         const std::string& database, const std::string& collection,
                         const Fence& fence = Fence()) = 0;
  virtual Result<std::vector<BlockedCollection>> ListBlocked() = 0;

  // Deletes every entry, identity and block (POST /api/v2/reset); registrations, leases and
  // members stay.
  virtual Status Clear() = 0;

  // Leases (see "Leases and fencing"). `name` and `holder` are non-empty text; ttl_ms > 0.
  // AcquireLease: grants (new term) or renews (same term) the lease to `holder` when it is free
  // or already holder's, for ttl_ms from the store's now; else changes nothing. Returns the
  // lease as it is after the call either way (Lease::HeldBy tells whether holder has it).
  virtual Result<Lease> AcquireLease(const std::string& name, const std::string& holder,
                                     int64_t ttl_ms) = 0;
  // Extends the tenure (name, holder, term) by ttl_ms from now; kFailedPrecondition (nothing
  // changed) when it is no longer current: expired, taken over, released.
  virtual Result<Lease> RenewLease(const std::string& name, const std::string& holder,
                                   int64_t term, int64_t ttl_ms) = 0;
  // Ends the tenure at once (others may take over without waiting for the expiry); a no-op
  // when it is no longer current.
  virtual Status ReleaseLease(const std::string& name, const std::string& holder,
                              int64_t term) = 0;
  // Every lease ever taken, by name.
  virtual Result<std::vector<Lease>> ListLeases() = 0;
  // Records that `member` is alive now (store clock); forgets members silent for
  // kMemberForgetMs.
  virtual Status Heartbeat(const std::string& member) = 0;
  // Every member heartbeated within kMemberForgetMs, by id.
  virtual Result<std::vector<Member>> ListMembers() = 0;

  // ---- Resync (src/resync/, docs/design.md "Resync") ----
  // The highest seq of a retained entry; 0 when the log is empty.
  virtual Result<int64_t> LastSeq() = 0;
  // Stores the progress of the resync of `instance` (opaque JSON text, src/resync/
  // resync_state.h; insert or replace). Fenced: a resync runs under its target's replay lease.
  virtual Status PutResync(const std::string& instance, const std::string& state,
                           const Fence& fence = Fence()) = 0;
  // Every stored resync progress, by instance. Kept by Clear().
  virtual Result<std::map<std::string, std::string>> LoadResyncs() = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_STORE_H_
