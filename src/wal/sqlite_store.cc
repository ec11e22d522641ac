// SqliteWalStore, part 2: the queries. The connection, schema and migrations are in
// sqlite_schema.cc; where bodies go, in sqlite_store_bodies.cc.
#include "wal/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <tuple>
#include <utility>

#include "wal/sqlite_bodies.h"
#include "wal/sqlite_statement.h"
#include "wal/text_check.h"

namespace chroma_ha {
namespace {

// ---- Statements ---------------------------------------------------------------------------
// Entries with their bodies (wal_bodies, schema version 5), `e` and `b`; WITH(x, r): `x` in the
// body's place, `r` in the place of its file reference (schema version 6: segment, offset and
// length, NULL for a body in the row).
#define CHROMA_HA_ENTRY_COLUMNS_WITH(body, ref)                                                   \
  "e.seq, e.created_ms, e.tenant, e.database_name, e.collection, e.kind, e.method, e.path, " body \
  ", e.state, e.origin, e.attempts, e.last_error, e.extra, e.writer, " ref
#define CHROMA_HA_ENTRY_COLUMNS \
  CHROMA_HA_ENTRY_COLUMNS_WITH("b.body", "b.file_segment, b.file_offset, b.file_length")
#define CHROMA_HA_ENTRIES " wal_entries e JOIN wal_bodies b ON b.seq = e.seq "

constexpr const char* kInsertEntry =
    "INSERT INTO wal_entries (created_ms, tenant, database_name, collection, kind, method, path, "
    "state, origin, attempts, last_error, extra, writer) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kUpdateOutcome =
    "UPDATE wal_entries SET state = ?, origin = ?, attempts = ?, last_error = ? WHERE seq = ?";
constexpr const char* kUpdateExtra = "UPDATE wal_entries SET extra = ? WHERE seq = ?";
constexpr const char* kEntryExists = "SELECT 1 FROM wal_entries WHERE seq = ?";
constexpr const char* kEntryState = "SELECT state FROM wal_entries WHERE seq = ?";
constexpr const char* kInsertApplied =
    "INSERT OR IGNORE INTO wal_applied (seq, instance) VALUES (?, ?)";
// ?1 seq (just committed), ?2 origin: every registered instance but the origin and those
// already marked applied.
constexpr const char* kInsertTodo =
    "INSERT OR IGNORE INTO wal_todo (instance, seq, created_ms) "
    "SELECT i.name, e.seq, e.created_ms FROM wal_entries e, wal_instances i "
    "WHERE e.seq = ?1 AND i.name <> ?2 AND NOT EXISTS ("
    "  SELECT 1 FROM wal_applied a WHERE a.seq = e.seq AND a.instance = i.name)";
constexpr const char* kDeleteTodoOfEntry = "DELETE FROM wal_todo WHERE seq = ?";
constexpr const char* kDeleteTodo = "DELETE FROM wal_todo WHERE instance = ? AND seq = ?";
// ?1 instance, ?2 after_seq, ?3 limit: walks the instance's todo rows only.
constexpr const char* kSelectPendingFor =
    "SELECT " CHROMA_HA_ENTRY_COLUMNS " FROM wal_todo t JOIN" CHROMA_HA_ENTRIES "AND e.seq = t.seq "
    "WHERE t.instance = ?1 AND t.seq > ?2 ORDER BY t.seq LIMIT ?3";
// Without the bodies (an empty blob in their place).
constexpr const char* kSelectUnresolved = "SELECT " CHROMA_HA_ENTRY_COLUMNS_WITH(
    "x''", "NULL, NULL, NULL") " FROM wal_entries e WHERE e.state = 0 ORDER BY e.seq";
// ?1 seq, ?2 tenant, ?3 database, ?4 collection.
constexpr const char* kSelectResolvedAfter =
    "SELECT COALESCE(MIN(seq), 0) FROM wal_entries WHERE state IN (1, 2) AND seq > ?1 "
    "AND tenant = ?2 AND database_name = ?3 AND collection = ?4";
// ?1 up_to, ?2 tenant, ?3 database, ?4 collection: the scope rule of InReadScope.
constexpr const char* kSelectInstancesBehind =
    "SELECT DISTINCT t.instance FROM wal_todo t JOIN wal_entries e ON e.seq = t.seq "
    "WHERE t.seq <= ?1 AND (e.tenant = '' OR (e.tenant = ?2 AND (?3 = '' OR "
    "e.database_name = '' OR (e.database_name = ?3 AND (?4 = '' OR e.collection = '' OR "
    "e.collection = ?4 OR e.kind = 'modify_collection'))))) ORDER BY t.instance";
// ?1 before, ?2 tenant, ?3 database, ?4 collection.
constexpr const char* kSelectPendingBefore =
    "SELECT seq FROM wal_entries WHERE state = 0 AND seq < ?1 AND tenant = ?2 "
    "AND database_name = ?3 AND collection = ?4 ORDER BY seq";
constexpr const char* kSelectEntry =
    "SELECT " CHROMA_HA_ENTRY_COLUMNS " FROM" CHROMA_HA_ENTRIES "WHERE e.seq = ?";
constexpr const char* kSelectBacklog =
    "SELECT COUNT(*), COALESCE(MIN(created_ms), 0) FROM wal_todo WHERE instance = ?";
constexpr const char* kCountByState = "SELECT state, COUNT(*) FROM wal_entries GROUP BY state";
// ?1 before_ms, ?2 JSON array of instance names.
constexpr const char* kPrune =
    "DELETE FROM wal_entries WHERE created_ms < ?1 AND (state = 2 OR (state = 1 AND NOT EXISTS ("
    "  SELECT 1 FROM json_each(?2) AS i WHERE NOT EXISTS ("
    "    SELECT 1 FROM wal_applied a WHERE a.seq = wal_entries.seq AND a.instance = i.value))))";
constexpr const char* kDeleteCollection =
    "DELETE FROM wal_collections WHERE tenant = ? AND database_name = ? AND name = ?";
constexpr const char* kDeleteCollectionIds =
    "DELETE FROM wal_collection_ids WHERE tenant = ? AND database_name = ? AND name = ?";
constexpr const char* kInsertCollection =
    "INSERT INTO wal_collections (tenant, database_name, name, canonical_id) VALUES (?, ?, ?, ?)";
constexpr const char* kInsertCollectionId =
    "INSERT INTO wal_collection_ids (tenant, database_name, name, instance, id) "
    "VALUES (?, ?, ?, ?, ?)";
constexpr const char* kSelectCollections =
    "SELECT tenant, database_name, name, canonical_id FROM wal_collections "
    "ORDER BY tenant, database_name, name";
constexpr const char* kSelectCollectionIds =
    "SELECT tenant, database_name, name, instance, id FROM wal_collection_ids "
    "ORDER BY tenant, database_name, name, instance";
constexpr const char* kUpsertBlocked =
    "INSERT OR REPLACE INTO wal_blocked "
    "(instance, tenant, database_name, collection, seq, since_ms, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kDeleteBlocked =
    "DELETE FROM wal_blocked WHERE instance = ? AND tenant = ? AND database_name = ? "
    "AND collection = ?";
constexpr const char* kSelectBlocked =
    "SELECT instance, tenant, database_name, collection, seq, since_ms, error FROM wal_blocked "
    "ORDER BY instance, tenant, database_name, collection";
constexpr const char* kClear =
    "DELETE FROM wal_todo; DELETE FROM wal_applied; DELETE FROM wal_bodies; "
    "DELETE FROM wal_entries; "
    "DELETE FROM wal_collection_ids; "
    "DELETE FROM wal_collections; DELETE FROM wal_blocked;";

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NotFoundMessage(int64_t seq) { return "no WAL entry with seq " + std::to_string(seq); }

Status NotRegistered(const std::string& instance) {
  return Status::InvalidArgument("instance '" + instance +
                                 "' is not registered with the WAL store");
}

}  // namespace

// Adds the todo rows of an entry that just became committed (mu_ held, transaction open).
Status SqliteWalStore::InsertTodoLocked(int64_t seq, const std::string& origin) {
  CHROMA_HA_PREPARE(stmt, kInsertTodo);
  const int rc = stmt.Int(seq).Text(origin).Step();
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "record backlog");
}

Status SqliteWalStore::Append(std::vector<WalEntry>* entries) {
  if (Status s = CheckEntries(*entries); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  const int64_t now = NowMillis();
  std::vector<int64_t> seqs;
  seqs.reserve(entries->size());
  bool external = false;  // a body went to the body files: they are synced before the commit
  for (const WalEntry& e : *entries) {
    {
      Result<sqlite3_stmt*> raw = PrepareLocked(kInsertEntry);
      CHROMA_HA_OR_ROLLBACK(raw.status());
      Stmt stmt(*raw);
      stmt.Int(e.created_ms != 0 ? e.created_ms : now)
          .Text(e.tenant)
          .Text(e.database)
          .Text(e.collection)
          .Text(e.kind)
          .Text(e.method)
          .Text(e.path)
          .Int(static_cast<int>(e.state))
          .Text(e.origin)
          .Int(e.attempts)
          .Text(SanitizeText(e.last_error))
          .Text(e.extra)
          .Text(e.writer);
      const int rc = stmt.Step();
      if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "append"));
      seqs.push_back(sqlite3_last_insert_rowid(db_));
    }
    CHROMA_HA_OR_ROLLBACK(InsertBodyLocked(seqs.back(), e.body, &external));
    if (e.state == EntryState::kCommitted && !e.origin.empty()) {
      Result<sqlite3_stmt*> raw = PrepareLocked(kInsertApplied);
      CHROMA_HA_OR_ROLLBACK(raw.status());
      Stmt stmt(*raw);
      const int rc = stmt.Int(seqs.back()).Text(e.origin).Step();
      if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "append"));
    }
    if (e.state == EntryState::kCommitted) {
      CHROMA_HA_OR_ROLLBACK(InsertTodoLocked(seqs.back(), e.origin));
    }
  }
  if (external) CHROMA_HA_OR_ROLLBACK(bodies_->Sync());
  CHROMA_HA_COMMIT();
  for (size_t i = 0; i < entries->size(); ++i) {
    WalEntry& e = (*entries)[i];
    e.seq = seqs[i];
    if (e.created_ms == 0) e.created_ms = now;
    e.last_error = SanitizeText(e.last_error);
  }
  return Status::Ok();
}

Result<bool> SqliteWalStore::EntryExistsLocked(int64_t seq) {
  CHROMA_HA_PREPARE(stmt, kEntryExists);
  const int rc = stmt.Int(seq).Step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return ErrorLocked(rc, "get");
}

Status SqliteWalStore::SetOutcome(int64_t seq, EntryState state, const std::string& origin,
                                  int attempts, const std::string& last_error, const Fence& fence,
                                  bool* written) {
  if (Status s = CheckText("origin", origin); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  CHROMA_HA_OR_ROLLBACK(FenceLocked(fence));
  if (written != nullptr) {  // only while still pending (BEGIN IMMEDIATE: no writer in between)
    Result<sqlite3_stmt*> raw = PrepareLocked(kEntryState);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Int(seq).Step();
    if (rc == SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(Status::NotFound(NotFoundMessage(seq)));
    if (rc != SQLITE_ROW) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "set outcome"));
    *written = sqlite3_column_int(*raw, 0) == static_cast<int>(EntryState::kPending);
    if (!*written) {
      RollbackLocked();
      return Status::Ok();
    }
  }
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kUpdateOutcome);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Int(static_cast<int>(state)).Text(origin).Int(attempts)
                       .Text(SanitizeText(last_error)).Int(seq).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "set outcome"));
    if (sqlite3_changes(db_) == 0) CHROMA_HA_OR_ROLLBACK(Status::NotFound(NotFoundMessage(seq)));
  }
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kDeleteTodoOfEntry);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Int(seq).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "set outcome"));
  }
  if (state == EntryState::kCommitted && !origin.empty()) {
    Result<sqlite3_stmt*> raw = PrepareLocked(kInsertApplied);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Int(seq).Text(origin).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "set outcome"));
  }
  if (state == EntryState::kCommitted) CHROMA_HA_OR_ROLLBACK(InsertTodoLocked(seq, origin));
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Status SqliteWalStore::SetExtra(int64_t seq, const std::string& extra) {
  if (Status s = CheckText("extra", extra); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kUpdateExtra);
  const int rc = stmt.Text(extra).Int(seq).Step();
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "set extra");
  if (sqlite3_changes(db_) == 0) return Status::NotFound(NotFoundMessage(seq));
  return Status::Ok();
}

Status SqliteWalStore::MarkApplied(int64_t seq, const std::string& instance, bool* was_pending,
                                   const Fence& fence) {
  int64_t removed = 0;
  const Status s = MarkAppliedImpl({seq}, instance, &removed, fence);
  if (s.ok() && was_pending != nullptr) *was_pending = removed > 0;
  return s;
}

Status SqliteWalStore::MarkAppliedBatch(const std::vector<int64_t>& seqs,
                                        const std::string& instance, const Fence& fence) {
  int64_t removed = 0;
  return MarkAppliedImpl(seqs, instance, &removed, fence);
}

// Marks `seqs` applied on `instance` in one transaction; *todo_removed counts the replay-work
// rows this removed.
Status SqliteWalStore::MarkAppliedImpl(const std::vector<int64_t>& seqs,
                                       const std::string& instance, int64_t* todo_removed,
                                       const Fence& fence) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  if (seqs.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  CHROMA_HA_OR_ROLLBACK(FenceLocked(fence));
  int64_t removed = 0;
  for (const int64_t seq : seqs) {
    Result<bool> exists = EntryExistsLocked(seq);
    CHROMA_HA_OR_ROLLBACK(exists.status());
    if (!*exists) CHROMA_HA_OR_ROLLBACK(Status::NotFound(NotFoundMessage(seq)));
    for (const char* sql : {kInsertApplied, kDeleteTodo}) {
      Result<sqlite3_stmt*> raw = PrepareLocked(sql);
      CHROMA_HA_OR_ROLLBACK(raw.status());
      Stmt stmt(*raw);
      const int rc = sql == kInsertApplied ? stmt.Int(seq).Text(instance).Step()
                                           : stmt.Text(instance).Int(seq).Step();
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        CHROMA_HA_OR_ROLLBACK(Status::NotFound(NotFoundMessage(seq)));
      }
      if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "mark applied"));
      if (sql == kDeleteTodo) removed += sqlite3_changes(db_);
    }
  }
  CHROMA_HA_COMMIT();
  *todo_removed = removed;
  return Status::Ok();
}

Result<std::vector<WalEntry>> SqliteWalStore::QueryEntriesLocked(Stmt& stmt) {
  std::vector<WalEntry> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    WalEntry e;
    e.seq = stmt.ColumnInt(0);
    e.created_ms = stmt.ColumnInt(1);
    e.tenant = stmt.ColumnBytes(2);
    e.database = stmt.ColumnBytes(3);
    e.collection = stmt.ColumnBytes(4);
    e.kind = stmt.ColumnBytes(5);
    e.method = stmt.ColumnBytes(6);
    e.path = stmt.ColumnBytes(7);
    e.body = stmt.ColumnBytes(8);
    e.state = static_cast<EntryState>(stmt.ColumnInt(9));
    e.origin = stmt.ColumnBytes(10);
    e.attempts = static_cast<int>(stmt.ColumnInt(11));
    e.last_error = stmt.ColumnBytes(12);
    e.extra = stmt.ColumnBytes(13);
    e.writer = stmt.ColumnBytes(14);
    if (!stmt.ColumnIsNull(15)) {  // in the body files
      const BodyRef ref{stmt.ColumnInt(15), stmt.ColumnInt(16), stmt.ColumnInt(17)};
      if (Status s = ReadBodyLocked(e.seq, ref, &e.body); !s.ok()) return s;
    }
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "read entries");
  return out;
}

Result<std::vector<WalEntry>> SqliteWalStore::PendingFor(const std::string& instance,
                                                         int64_t after_seq, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  if (registered_.count(instance) == 0) return NotRegistered(instance);
  if (limit <= 0) return std::vector<WalEntry>{};
  CHROMA_HA_PREPARE(stmt, kSelectPendingFor);
  stmt.Text(instance).Int(after_seq).Int(limit);
  return QueryEntriesLocked(stmt);
}

Result<std::vector<WalEntry>> SqliteWalStore::Unresolved() {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectUnresolved);
  return QueryEntriesLocked(stmt);
}

Result<int64_t> SqliteWalStore::ResolvedAfter(const WalEntry& entry) {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectResolvedAfter);
  const int rc =
      stmt.Int(entry.seq).Text(entry.tenant).Text(entry.database).Text(entry.collection).Step();
  if (rc != SQLITE_ROW) return ErrorLocked(rc, "resolved after");
  return stmt.ColumnInt(0);
}

Result<std::vector<std::string>> SqliteWalStore::InstancesBehind(const std::string& tenant,
                                                                 const std::string& database,
                                                                 const std::string& collection,
                                                                 int64_t up_to) {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectInstancesBehind);
  stmt.Int(up_to).Text(tenant).Text(database).Text(collection);
  std::vector<std::string> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) out.push_back(stmt.ColumnBytes(0));
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "instances behind");
  return out;
}

Result<std::vector<int64_t>> SqliteWalStore::PendingBefore(const std::string& tenant,
                                                           const std::string& database,
                                                           const std::string& collection,
                                                           int64_t before) {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectPendingBefore);
  stmt.Int(before).Text(tenant).Text(database).Text(collection);
  std::vector<int64_t> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) out.push_back(stmt.ColumnInt(0));
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "pending before");
  return out;
}

Result<WalEntry> SqliteWalStore::Get(int64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectEntry);
  stmt.Int(seq);
  Result<std::vector<WalEntry>> rows = QueryEntriesLocked(stmt);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound(NotFoundMessage(seq));
  return std::move(rows->front());
}

Result<std::vector<InstanceBacklog>> SqliteWalStore::Backlog(
    const std::vector<std::string>& instances) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<InstanceBacklog> out;
  for (const std::string& instance : instances) {
    if (registered_.count(instance) == 0) return NotRegistered(instance);
    CHROMA_HA_PREPARE(stmt, kSelectBacklog);
    const int rc = stmt.Text(instance).Step();
    if (rc != SQLITE_ROW) return ErrorLocked(rc, "backlog");
    out.push_back({instance, stmt.ColumnInt(0), stmt.ColumnInt(1)});
  }
  return out;
}

Result<std::map<EntryState, int64_t>> SqliteWalStore::CountByState() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<EntryState, int64_t> out = {
      {EntryState::kPending, 0}, {EntryState::kCommitted, 0}, {EntryState::kRejected, 0}};
  CHROMA_HA_PREPARE(stmt, kCountByState);
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    out[static_cast<EntryState>(stmt.ColumnInt(0))] = stmt.ColumnInt(1);
  }
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "count by state");
  return out;
}

Result<int64_t> SqliteWalStore::Prune(int64_t before_ms, const std::vector<std::string>& instances,
                                      const Fence& fence) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  CHROMA_HA_OR_ROLLBACK(FenceLocked(fence));
  int64_t pruned = 0;
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kPrune);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Int(before_ms).Text(JsonStringArray(instances)).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "prune"));
    pruned = sqlite3_changes(db_);
  }
  if (Status s = CommitDroppingBodyFilesLocked(); !s.ok()) return s;
  return pruned;
}

Status SqliteWalStore::PutCollection(const CollectionIdentity& c) {
  if (Status s = CheckIdentity(c); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  for (const char* sql : {kDeleteCollectionIds, kDeleteCollection}) {
    Result<sqlite3_stmt*> raw = PrepareLocked(sql);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Text(c.tenant).Text(c.database).Text(c.name).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "put collection"));
  }
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kInsertCollection);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Text(c.tenant).Text(c.database).Text(c.name).Text(c.canonical_id).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "put collection"));
  }
  for (const auto& [instance, id] : c.ids) {
    Result<sqlite3_stmt*> raw = PrepareLocked(kInsertCollectionId);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc =
        stmt.Text(c.tenant).Text(c.database).Text(c.name).Text(instance).Text(id).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "put collection"));
  }
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Status SqliteWalStore::RemoveCollection(const std::string& tenant, const std::string& database,
                                        const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  for (const char* sql : {kDeleteCollectionIds, kDeleteCollection}) {
    Result<sqlite3_stmt*> raw = PrepareLocked(sql);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Text(tenant).Text(database).Text(name).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "remove collection"));
  }
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Result<std::vector<CollectionIdentity>> SqliteWalStore::LoadCollections() {
  std::lock_guard<std::mutex> lock(mu_);
  // One read transaction so the two queries see the same snapshot.
  {
    CHROMA_HA_PREPARE(begin, sqlite_sql::kBeginRead);
    const int rc = begin.Step();
    if (rc != SQLITE_DONE) return ErrorLocked(rc, "begin");
  }
  std::vector<CollectionIdentity> out;
  std::map<std::tuple<std::string, std::string, std::string>, size_t> index;
  int rc;
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kSelectCollections);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    while ((rc = stmt.Step()) == SQLITE_ROW) {
      CollectionIdentity c;
      c.tenant = stmt.ColumnBytes(0);
      c.database = stmt.ColumnBytes(1);
      c.name = stmt.ColumnBytes(2);
      c.canonical_id = stmt.ColumnBytes(3);
      index[{c.tenant, c.database, c.name}] = out.size();
      out.push_back(std::move(c));
    }
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "load collections"));
  }
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kSelectCollectionIds);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    while ((rc = stmt.Step()) == SQLITE_ROW) {
      auto it = index.find({stmt.ColumnBytes(0), stmt.ColumnBytes(1), stmt.ColumnBytes(2)});
      if (it != index.end()) out[it->second].ids[stmt.ColumnBytes(3)] = stmt.ColumnBytes(4);
    }
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "load collections"));
  }
  CHROMA_HA_COMMIT();
  return out;
}

Status SqliteWalStore::Block(const BlockedCollection& b, const Fence& fence) {
  if (Status s = CheckBlocked(b); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  CHROMA_HA_OR_ROLLBACK(FenceLocked(fence));
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kUpsertBlocked);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Text(b.instance).Text(b.tenant).Text(b.database).Text(b.collection)
                       .Int(b.seq).Int(b.since_ms).Text(SanitizeText(b.error)).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "block"));
  }
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Status SqliteWalStore::Unblock(const std::string& instance, const std::string& tenant,
                               const std::string& database, const std::string& collection,
                               const Fence& fence) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  CHROMA_HA_OR_ROLLBACK(FenceLocked(fence));
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kDeleteBlocked);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Text(instance).Text(tenant).Text(database).Text(collection).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "unblock"));
  }
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Result<std::vector<BlockedCollection>> SqliteWalStore::ListBlocked() {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectBlocked);
  std::vector<BlockedCollection> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    out.push_back({stmt.ColumnBytes(0), stmt.ColumnBytes(1), stmt.ColumnBytes(2),
                   stmt.ColumnBytes(3), stmt.ColumnInt(4), stmt.ColumnInt(5),
                   stmt.ColumnBytes(6)});
  }
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "list blocked");
  return out;
}

Status SqliteWalStore::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  if (db_ == nullptr) return Status::Internal("sqlite store used before Open()");
  if (Status s = BeginLocked(); !s.ok()) return s;
  CHROMA_HA_OR_ROLLBACK(ExecLocked(kClear));
  return CommitDroppingBodyFilesLocked();
}

}  // namespace chroma_ha
