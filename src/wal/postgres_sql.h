// Internal to the PostgreSQL store (src/wal/postgres_*.cc): advisory lock keys and the
// prepared statements (name, SQL), shared by its connection/schema part and its queries.
// Not for other users.
#ifndef CHROMA_HA_WAL_POSTGRES_SQL_H_
#define CHROMA_HA_WAL_POSTGRES_SQL_H_

#include <cstdint>

namespace chroma_ha {

// Advisory lock keys (arbitrary, fixed): one for migrations, one serialising appends, one
// between registering an instance (exclusive) and committing entries (shared): a registration's
// backfill must see every entry committed before it, and a commit must see every instance
// registered before it, so that no committed entry misses the todo row of a new instance. The
// shared lock is taken in a statement of its own: a READ COMMITTED statement's snapshot is taken
// when it starts, so only the statements after the lock see the other side's commit.
inline constexpr int64_t kMigrationLockKey = 0x6368726f6d610001;  // "chroma" 0001
inline constexpr int64_t kAppendLockKey = 0x6368726f6d610002;
inline constexpr int64_t kInstancesLockKey = 0x6368726f6d610003;

// ---- Prepared statements (name, SQL) ------------------------------------------------------
// WITH(x): `x` in the body's place.
#define CHROMA_HA_ENTRY_COLUMNS_WITH(body)                                        \
  "seq, created_ms, tenant, database_name, collection, kind, method, path, " body \
  ", state, "                                                                     \
  "origin, attempts, last_error, extra, writer"
#define CHROMA_HA_ENTRY_COLUMNS CHROMA_HA_ENTRY_COLUMNS_WITH("body")
#define CHROMA_HA_E_ENTRY_COLUMNS                                                            \
  "e.seq, e.created_ms, e.tenant, e.database_name, e.collection, e.kind, e.method, e.path, " \
  "e.body, e.state, e.origin, e.attempts, e.last_error, e.extra, e.writer"

struct Prepared {
  const char* name;
  const char* sql;
};

inline constexpr Prepared kLockAppends = {
    "lock_appends",
    "SELECT pg_advisory_xact_lock($1::bigint), pg_advisory_xact_lock_shared($2::bigint)"};
inline constexpr Prepared kLockCommits = {"lock_commits",
                                          "SELECT pg_advisory_xact_lock_shared($1::bigint)"};
inline constexpr Prepared kLockInstances = {"lock_instances",
                                            "SELECT pg_advisory_xact_lock($1::bigint)"};
inline constexpr Prepared kInsertInstance = {
    "insert_instance",
    "INSERT INTO wal_instances (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING name"};
inline constexpr Prepared kSelectInstances = {"select_instances", "SELECT name FROM wal_instances"};
// $1 instance: the committed entries it has not applied (the old full scan, once per instance).
inline constexpr Prepared kBackfillTodo = {
    "backfill_todo",
    "INSERT INTO wal_todo (instance, seq, created_ms) "
    "SELECT $1::text, e.seq, e.created_ms FROM wal_entries e "
    "WHERE e.state = 1 AND e.origin <> $1::text AND NOT EXISTS ("
    "  SELECT 1 FROM wal_applied a WHERE a.seq = e.seq AND a.instance = $1::text) "
    "ON CONFLICT DO NOTHING"};
// $1 seq (just committed), $2 origin: every registered instance but the origin and those
// already marked applied.
inline constexpr Prepared kInsertTodo = {
    "insert_todo",
    "INSERT INTO wal_todo (instance, seq, created_ms) "
    "SELECT i.name, e.seq, e.created_ms FROM wal_entries e, wal_instances i "
    "WHERE e.seq = $1 AND i.name <> $2::text AND NOT EXISTS ("
    "  SELECT 1 FROM wal_applied a WHERE a.seq = e.seq AND a.instance = i.name) "
    "ON CONFLICT DO NOTHING"};
inline constexpr Prepared kInsertEntry = {
    "insert_entry",
    "INSERT INTO wal_entries (created_ms, tenant, database_name, collection, kind, method, path, "
    "body, state, origin, attempts, last_error, extra, writer) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq"};
inline constexpr Prepared kInsertApplied = {
    "insert_applied",
    "INSERT INTO wal_applied (seq, instance) VALUES ($1, $2) ON CONFLICT DO NOTHING"};
// $1 seq: locks the entry's row until the transaction ends (SetOutcome with `written`).
inline constexpr Prepared kLockEntryState = {
    "lock_entry_state", "SELECT state FROM wal_entries WHERE seq = $1 FOR UPDATE"};
// Returns one row with the number of entries updated (0 or 1). A commit marks the origin
// applied and gives every other registered instance (not marked applied) a todo row; any other
// state removes the entry's todo rows. (All parts see one snapshot, so the todo rows deleted
// and inserted never overlap: a commit deletes only the origin's.)
inline constexpr Prepared kSetOutcome = {
    "set_outcome",
    "WITH u AS (UPDATE wal_entries SET state = $1::smallint, origin = $2::text, attempts = $3, "
    "  last_error = $4 WHERE seq = $5 RETURNING seq, created_ms), "
    "ins AS (INSERT INTO wal_applied (seq, instance) SELECT seq, $2::text FROM u "
    "  WHERE $1::smallint = 1 AND $2::text <> '' ON CONFLICT DO NOTHING), "
    "del AS (DELETE FROM wal_todo t WHERE t.seq IN (SELECT seq FROM u) "
    "  AND ($1::smallint <> 1 OR t.instance = $2::text)), "
    "todo AS (INSERT INTO wal_todo (instance, seq, created_ms) "
    "  SELECT i.name, u.seq, u.created_ms FROM u, wal_instances i "
    "  WHERE $1::smallint = 1 AND i.name <> $2::text AND NOT EXISTS ("
    "    SELECT 1 FROM wal_applied a WHERE a.seq = u.seq AND a.instance = i.name) "
    "  ON CONFLICT DO NOTHING) "
    "SELECT COUNT(*) FROM u"};
inline constexpr Prepared kSetExtra = {"set_extra",
                                       "UPDATE wal_entries SET extra = $1 WHERE seq = $2"};
// $1 a bigint[] literal ("{1,2,3}"), $2 instance. Returns one row: how many distinct seqs of
// $1 exist (all of them are then marked applied; the caller rolls back when one is missing),
// and how many todo rows (replay work) were removed.
inline constexpr Prepared kMarkApplied = {
    "mark_applied",
    "WITH e AS (SELECT seq FROM wal_entries WHERE seq = ANY ($1::bigint[])), "
    "ins AS (INSERT INTO wal_applied (seq, instance) SELECT seq, $2::text FROM e "
    "  ON CONFLICT DO NOTHING), "
    "del AS (DELETE FROM wal_todo t WHERE t.instance = $2::text AND t.seq IN (SELECT seq FROM e) "
    "  RETURNING t.seq) "
    "SELECT (SELECT COUNT(*) FROM e), (SELECT COUNT(*) FROM del)"};
// $1 seq, $2 tenant, $3 database, $4 collection.
inline constexpr Prepared kSelectResolvedAfter = {
    "resolved_after",
    "SELECT COALESCE(MIN(seq), 0) FROM wal_entries WHERE state IN (1, 2) AND seq > $1 "
    "AND tenant = $2 AND database_name = $3 AND collection = $4"};
// $1 up_to, $2 tenant, $3 database, $4 collection: the scope rule of InReadScope.
inline constexpr Prepared kSelectInstancesBehind = {
    "instances_behind",
    "SELECT DISTINCT t.instance FROM wal_todo t JOIN wal_entries e ON e.seq = t.seq "
    "WHERE t.seq <= $1::bigint AND (e.tenant = '' OR (e.tenant = $2::text AND ($3::text = '' OR "
    "e.database_name = '' OR (e.database_name = $3::text AND ($4::text = '' OR "
    "e.collection = '' OR e.collection = $4::text OR e.kind = 'modify_collection'))))) "
    "ORDER BY t.instance"};
// $1 before, $2 tenant, $3 database, $4 collection.
inline constexpr Prepared kSelectPendingBefore = {
    "pending_before",
    "SELECT seq FROM wal_entries WHERE state = 0 AND seq < $1::bigint AND tenant = $2::text "
    "AND database_name = $3::text AND collection = $4::text ORDER BY seq"};
inline constexpr Prepared kSelectPendingFor = {
    "pending_for",
    "SELECT " CHROMA_HA_E_ENTRY_COLUMNS " FROM wal_todo t JOIN wal_entries e ON e.seq = t.seq "
    "WHERE t.instance = $1::text AND t.seq > $2 ORDER BY t.seq LIMIT $3"};
inline constexpr Prepared kSelectUnresolved = {
    "unresolved",
    "SELECT " CHROMA_HA_ENTRY_COLUMNS_WITH(
        "''::bytea") " FROM wal_entries WHERE state = 0 ORDER BY seq"};
inline constexpr Prepared kSelectEntry = {
    "get_entry", "SELECT " CHROMA_HA_ENTRY_COLUMNS " FROM wal_entries WHERE seq = $1"};
inline constexpr Prepared kSelectBacklog = {
    "backlog",
    "SELECT COUNT(*), COALESCE(MIN(created_ms), 0) FROM wal_todo WHERE instance = $1::text"};
inline constexpr Prepared kCountByState = {
    "count_by_state", "SELECT state, COUNT(*) FROM wal_entries GROUP BY state"};
// $1 before_ms, $2 JSON array of instance names.
inline constexpr Prepared kPrune = {
    "prune",
    "DELETE FROM wal_entries e WHERE e.created_ms < $1 AND (e.state = 2 OR (e.state = 1 AND "
    "NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text($2::jsonb) AS i(instance) "
    "  WHERE NOT EXISTS (SELECT 1 FROM wal_applied a "
    "    WHERE a.seq = e.seq AND a.instance = i.instance))))"};
inline constexpr Prepared kDeleteCollection = {
    "delete_collection",
    "DELETE FROM wal_collections WHERE tenant = $1 AND database_name = $2 AND name = $3"};
inline constexpr Prepared kInsertCollection = {
    "insert_collection",
    "INSERT INTO wal_collections (tenant, database_name, name, canonical_id) "
    "VALUES ($1, $2, $3, $4)"};
inline constexpr Prepared kInsertCollectionId = {
    "insert_collection_id",
    "INSERT INTO wal_collection_ids (tenant, database_name, name, instance, id) "
    "VALUES ($1, $2, $3, $4, $5)"};
inline constexpr Prepared kSelectCollections = {
    "select_collections",
    "SELECT tenant, database_name, name, canonical_id FROM wal_collections "
    "ORDER BY tenant, database_name, name"};
inline constexpr Prepared kSelectCollectionIds = {
    "select_collection_ids",
    "SELECT tenant, database_name, name, instance, id FROM wal_collection_ids "
    "ORDER BY tenant, database_name, name, instance"};
// The fleet's shared identity (WalStore::MergeCollection, FindCollection).
inline constexpr Prepared kInsertCollectionIfAbsent = {
    "insert_collection_if_absent",
    "INSERT INTO wal_collections (tenant, database_name, name, canonical_id) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"};
inline constexpr Prepared kUpsertCollectionId = {
    "upsert_collection_id",
    "INSERT INTO wal_collection_ids (tenant, database_name, name, instance, id) "
    "VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (tenant, database_name, name, instance) DO UPDATE SET id = EXCLUDED.id"};
inline constexpr Prepared kSelectCollection = {
    "select_collection",
    "SELECT canonical_id FROM wal_collections "
    "WHERE tenant = $1 AND database_name = $2 AND name = $3"};
inline constexpr Prepared kSelectIdsOfCollection = {
    "select_ids_of_collection",
    "SELECT instance, id FROM wal_collection_ids "
    "WHERE tenant = $1 AND database_name = $2 AND name = $3 ORDER BY instance"};
inline constexpr Prepared kFindCollectionById = {
    "find_collection_by_id",
    "SELECT c.name FROM wal_collections c WHERE c.tenant = $1 AND c.database_name = $2 AND "
    "(c.canonical_id = $3 OR EXISTS (SELECT 1 FROM wal_collection_ids i WHERE "
    "i.tenant = c.tenant AND i.database_name = c.database_name AND i.name = c.name AND "
    "i.id = $3)) ORDER BY c.name LIMIT 1"};
inline constexpr Prepared kUpsertBlocked = {
    "upsert_blocked",
    "INSERT INTO wal_blocked (instance, tenant, database_name, collection, seq, since_ms, error) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (instance, tenant, database_name, collection) DO UPDATE SET "
    "seq = EXCLUDED.seq, since_ms = EXCLUDED.since_ms, error = EXCLUDED.error"};
inline constexpr Prepared kDeleteBlocked = {
    "delete_blocked",
    "DELETE FROM wal_blocked WHERE instance = $1 AND tenant = $2 AND database_name = $3 "
    "AND collection = $4"};
inline constexpr Prepared kSelectBlocked = {
    "select_blocked",
    "SELECT instance, tenant, database_name, collection, seq, since_ms, error FROM wal_blocked "
    "ORDER BY instance, tenant, database_name, collection"};
// ---- Leases and members (wal_store.h "Leases and fencing"; the rules of lease_rules.h, in SQL).
// Time is the server's: every process sharing the database agrees on it. statement_timestamp()
// is stable within a statement (so a statement's conditions agree with each other) and, unlike
// now(), not frozen at the start of the transaction.
#define CHROMA_HA_PG_NOW_MS "(extract(epoch from statement_timestamp()) * 1000)::bigint"
#define CHROMA_HA_LEASE_COLUMNS "name, holder, term, expires_ms, " CHROMA_HA_PG_NOW_MS
// $1 lease, $2 holder, $3 term: a row iff that tenure is current. FOR SHARE: a takeover (an
// UPDATE of the row) waits until the fenced write's transaction ends.
inline constexpr Prepared kCheckFence = {
    "check_fence",
    "SELECT 1 FROM wal_leases WHERE name = $1 AND holder = $2 AND term = $3 "
    "AND expires_ms > " CHROMA_HA_PG_NOW_MS " FOR SHARE"};
// $1 lease, $2 holder, $3 ttl_ms. Takes a free (never held, expired, released) lease with a new
// term, renews holder's own live one keeping the term, leaves another's live lease alone.
inline constexpr Prepared kAcquireLease = {
    "acquire_lease",
    "INSERT INTO wal_leases AS l (name, holder, term, expires_ms) "
    "VALUES ($1, $2, 1, " CHROMA_HA_PG_NOW_MS " + $3::bigint) "
    "ON CONFLICT (name) DO UPDATE SET "
    "  term = CASE WHEN l.expires_ms > " CHROMA_HA_PG_NOW_MS " THEN l.term ELSE l.term + 1 END, "
    "  holder = EXCLUDED.holder, expires_ms = EXCLUDED.expires_ms "
    "WHERE l.expires_ms <= " CHROMA_HA_PG_NOW_MS " OR l.holder = EXCLUDED.holder"};
inline constexpr Prepared kSelectLease = {
    "select_lease", "SELECT " CHROMA_HA_LEASE_COLUMNS " FROM wal_leases WHERE name = $1"};
inline constexpr Prepared kSelectLeases = {
    "select_leases", "SELECT " CHROMA_HA_LEASE_COLUMNS " FROM wal_leases ORDER BY name"};
// $1 lease, $2 holder, $3 term, $4 ttl_ms: a row iff renewed.
inline constexpr Prepared kRenewLease = {
    "renew_lease",
    "UPDATE wal_leases SET expires_ms = " CHROMA_HA_PG_NOW_MS " + $4::bigint "
    "WHERE name = $1 AND holder = $2 AND term = $3 AND expires_ms > " CHROMA_HA_PG_NOW_MS " "
    "RETURNING " CHROMA_HA_LEASE_COLUMNS};
inline constexpr Prepared kReleaseLease = {
    "release_lease",
    "UPDATE wal_leases SET expires_ms = " CHROMA_HA_PG_NOW_MS " "
    "WHERE name = $1 AND holder = $2 AND term = $3 AND expires_ms > " CHROMA_HA_PG_NOW_MS};
// $1 member.
inline constexpr Prepared kHeartbeat = {
    "heartbeat",
    "INSERT INTO wal_members (member, first_seen_ms, last_seen_ms) "
    "VALUES ($1, " CHROMA_HA_PG_NOW_MS ", " CHROMA_HA_PG_NOW_MS ") "
    "ON CONFLICT (member) DO UPDATE SET last_seen_ms = EXCLUDED.last_seen_ms"};
// $1 forget_ms.
inline constexpr Prepared kForgetMembers = {
    "forget_members",
    "DELETE FROM wal_members WHERE last_seen_ms < " CHROMA_HA_PG_NOW_MS " - $1::bigint"};
inline constexpr Prepared kSelectMembers = {
    "select_members",
    "SELECT member, first_seen_ms, last_seen_ms, " CHROMA_HA_PG_NOW_MS " FROM wal_members "
    "WHERE last_seen_ms >= " CHROMA_HA_PG_NOW_MS " - $1::bigint ORDER BY member"};

inline constexpr const char* kClear =
    "DELETE FROM wal_todo; DELETE FROM wal_applied; DELETE FROM wal_entries; "
    "DELETE FROM wal_collection_ids; "
    "DELETE FROM wal_collections; DELETE FROM wal_blocked";

inline constexpr Prepared kAllPrepared[] = {
    kLockCommits,           kLockInstances,       kInsertInstance,        kSelectInstances,
    kBackfillTodo,          kInsertTodo,          kLockAppends,           kInsertEntry,
    kInsertApplied,         kSetOutcome,          kLockEntryState,        kSetExtra,
    kMarkApplied,           kSelectPendingFor,    kSelectUnresolved,      kSelectEntry,
    kSelectResolvedAfter,   kSelectBacklog,       kCountByState,          kPrune,
    kSelectInstancesBehind, kSelectPendingBefore, kDeleteCollection,      kInsertCollection,
    kInsertCollectionId,    kSelectCollections,   kSelectCollectionIds,   kInsertCollectionIfAbsent,
    kUpsertCollectionId,    kSelectCollection,    kSelectIdsOfCollection, kFindCollectionById,
    kUpsertBlocked,         kDeleteBlocked,       kSelectBlocked,         kCheckFence,
    kAcquireLease,          kSelectLease,         kSelectLeases,          kRenewLease,
    kReleaseLease,          kHeartbeat,           kForgetMembers,         kSelectMembers,
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_POSTGRES_SQL_H_
