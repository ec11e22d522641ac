#include "wal/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <system_error>
#include <tuple>
#include <utility>

#include "wal/text_check.h"

namespace chroma_ha {
namespace {

// ---- Schema -------------------------------------------------------------------------------
// Migration N brings the schema from version N-1 to N. Append new ones; never edit old ones.
constexpr const char* kMigrations[] = {
    // 1: entries, per-instance applied marks, collection identities, blocked collections.
    R"sql(
CREATE TABLE wal_entries (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  created_ms    INTEGER NOT NULL,
  tenant        TEXT NOT NULL,
  database_name TEXT NOT NULL,
  collection    TEXT NOT NULL,
  kind          TEXT NOT NULL,
  method        TEXT NOT NULL,
  path          TEXT NOT NULL,
  body          BLOB NOT NULL,
  state         INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
  origin        TEXT NOT NULL,
  attempts      INTEGER NOT NULL,
  last_error    TEXT NOT NULL,
  extra         TEXT NOT NULL);
CREATE INDEX wal_entries_by_state ON wal_entries (state, seq);
CREATE TABLE wal_applied (
  seq      INTEGER NOT NULL REFERENCES wal_entries (seq) ON DELETE CASCADE,
  instance TEXT NOT NULL,
  PRIMARY KEY (seq, instance)) WITHOUT ROWID;
CREATE TABLE wal_collections (
  tenant        TEXT NOT NULL,
  database_name TEXT NOT NULL,
  name          TEXT NOT NULL,
  canonical_id  TEXT NOT NULL,
  PRIMARY KEY (tenant, database_name, name)) WITHOUT ROWID;
CREATE TABLE wal_collection_ids (
  tenant        TEXT NOT NULL,
  database_name TEXT NOT NULL,
  name          TEXT NOT NULL,
  instance      TEXT NOT NULL,
  id            TEXT NOT NULL,
  PRIMARY KEY (tenant, database_name, name, instance),
  FOREIGN KEY (tenant, database_name, name)
    REFERENCES wal_collections (tenant, database_name, name) ON DELETE CASCADE) WITHOUT ROWID;
CREATE TABLE wal_blocked (
  instance      TEXT NOT NULL,
  tenant        TEXT NOT NULL,
  database_name TEXT NOT NULL,
  collection    TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  since_ms      INTEGER NOT NULL,
  error         TEXT NOT NULL,
  PRIMARY KEY (instance, tenant, database_name, collection)) WITHOUT ROWID;
)sql",
    // 2: replay work per registered instance (see "Replay work is tracked per registered
    // instance" in wal_store.h). Existing entries are backfilled when an instance registers.
    // wal_todo carries created_ms so Backlog never reads wal_entries (whose rows hold `body`).
    R"sql(
CREATE TABLE wal_instances (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE wal_todo (
  instance   TEXT NOT NULL,
  seq        INTEGER NOT NULL REFERENCES wal_entries (seq) ON DELETE CASCADE,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (instance, seq)) WITHOUT ROWID;
CREATE INDEX wal_todo_by_seq ON wal_todo (seq);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

constexpr const char* kPragmas =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";
constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";
constexpr const char* kSelectVersion = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
constexpr const char* kInsertVersion = "INSERT INTO schema_version (version) VALUES (?)";

// ---- Statements ---------------------------------------------------------------------------
constexpr const char* kBegin = "BEGIN IMMEDIATE";
constexpr const char* kBeginRead = "BEGIN";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";

#define CHROMA_HA_ENTRY_COLUMNS                                                           \
  "seq, created_ms, tenant, database_name, collection, kind, method, path, body, state, " \
  "origin, attempts, last_error, extra"
#define CHROMA_HA_E_ENTRY_COLUMNS                                                          \
  "e.seq, e.created_ms, e.tenant, e.database_name, e.collection, e.kind, e.method, e.path, " \
  "e.body, e.state, e.origin, e.attempts, e.last_error, e.extra"

constexpr const char* kInsertEntry =
    "INSERT INTO wal_entries (created_ms, tenant, database_name, collection, kind, method, path, "
    "body, state, origin, attempts, last_error, extra) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kUpdateOutcome =
    "UPDATE wal_entries SET state = ?, origin = ?, attempts = ?, last_error = ? WHERE seq = ?";
constexpr const char* kUpdateExtra = "UPDATE wal_entries SET extra = ? WHERE seq = ?";
constexpr const char* kEntryExists = "SELECT 1 FROM wal_entries WHERE seq = ?";
constexpr const char* kInsertApplied =
    "INSERT OR IGNORE INTO wal_applied (seq, instance) VALUES (?, ?)";
constexpr const char* kInsertInstance = "INSERT OR IGNORE INTO wal_instances (name) VALUES (?)";
constexpr const char* kSelectInstances = "SELECT name FROM wal_instances";
// ?1 instance: the committed entries it has not applied (the old full scan, run once per new
// instance).
constexpr const char* kBackfillTodo =
    "INSERT OR IGNORE INTO wal_todo (instance, seq, created_ms) "
    "SELECT ?1, e.seq, e.created_ms FROM wal_entries e "
    "WHERE e.state = 1 AND e.origin <> ?1 AND NOT EXISTS ("
    "  SELECT 1 FROM wal_applied a WHERE a.seq = e.seq AND a.instance = ?1)";
// ?1 seq (just committed), ?2 origin: every registered instance but the origin and those
// already marked applied. Reads created_ms only: SQLite stops before the row's `body`.
constexpr const char* kInsertTodo =
    "INSERT OR IGNORE INTO wal_todo (instance, seq, created_ms) "
    "SELECT i.name, e.seq, e.created_ms FROM wal_entries e, wal_instances i "
    "WHERE e.seq = ?1 AND i.name <> ?2 AND NOT EXISTS ("
    "  SELECT 1 FROM wal_applied a WHERE a.seq = e.seq AND a.instance = i.name)";
constexpr const char* kDeleteTodoOfEntry = "DELETE FROM wal_todo WHERE seq = ?";
constexpr const char* kDeleteTodo = "DELETE FROM wal_todo WHERE instance = ? AND seq = ?";
// ?1 instance, ?2 after_seq, ?3 limit: walks the instance's todo rows only.
constexpr const char* kSelectPendingFor =
    "SELECT " CHROMA_HA_E_ENTRY_COLUMNS " FROM wal_todo t JOIN wal_entries e ON e.seq = t.seq "
    "WHERE t.instance = ?1 AND t.seq > ?2 ORDER BY t.seq LIMIT ?3";
constexpr const char* kSelectUnresolved =
    "SELECT " CHROMA_HA_ENTRY_COLUMNS " FROM wal_entries WHERE state = 0 ORDER BY seq";
constexpr const char* kSelectEntry =
    "SELECT " CHROMA_HA_ENTRY_COLUMNS " FROM wal_entries WHERE seq = ?";
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
    "DELETE FROM wal_todo; DELETE FROM wal_applied; DELETE FROM wal_entries; DELETE FROM wal_collection_ids; "
    "DELETE FROM wal_collections; DELETE FROM wal_blocked;";

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NotFoundMessage(int64_t seq) { return "no WAL entry with seq " + std::to_string(seq); }

Status NotRegistered(const std::string& instance) {
  return Status::InvalidArgument("instance '" + instance + "' is not registered with the WAL store");
}

}  // namespace

// A cached statement in use: binds parameters in order, steps, reads columns, and resets the
// statement when it goes out of scope so the cache can hand it out again.
class SqliteWalStore::Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Int(int64_t v) { return Check(sqlite3_bind_int64(s_, ++index_, v)); }
  Stmt& Text(const std::string& v) {
    return Check(sqlite3_bind_text64(s_, ++index_, v.data(), v.size(), SQLITE_TRANSIENT,
                                     SQLITE_UTF8));
  }
  Stmt& Blob(const std::string& v) {
    return Check(sqlite3_bind_blob64(s_, ++index_, v.data(), v.size(), SQLITE_TRANSIENT));
  }
  // SQLITE_ROW, SQLITE_DONE or an error code (including a failed bind).
  int Step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }

  int64_t ColumnInt(int i) const { return sqlite3_column_int64(s_, i); }
  std::string ColumnBytes(int i) const {
    const void* p = sqlite3_column_blob(s_, i);
    const int n = sqlite3_column_bytes(s_, i);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

 private:
  Stmt& Check(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  sqlite3_stmt* s_;
  int index_ = 0;
  int bind_rc_ = SQLITE_OK;
};

SqliteWalStore::SqliteWalStore(std::string path) : path_(std::move(path)) {}

SqliteWalStore::~SqliteWalStore() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status SqliteWalStore::ErrorLocked(int rc, const char* what) const {
  std::string msg = std::string("sqlite ") + what + ": " +
                    (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return Status::Unavailable(std::move(msg));
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return Status::InvalidArgument(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

Status SqliteWalStore::ExecLocked(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : ErrorLocked(rc, "exec");
}

Result<sqlite3_stmt*> SqliteWalStore::PrepareLocked(const char* sql) {
  if (db_ == nullptr) return Status::Internal("sqlite store used before Open()");
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return ErrorLocked(rc, "prepare");
  statements_.emplace(sql, stmt);
  return stmt;
}

// Runs a cached statement that returns no rows: STMT(sql) binds, then DONE(stmt, what).
#define CHROMA_HA_PREPARE(var, sql)                          \
  Result<sqlite3_stmt*> var##_raw = PrepareLocked(sql);      \
  if (!var##_raw.ok()) return var##_raw.status();            \
  Stmt var(*var##_raw)

Status SqliteWalStore::BeginLocked() {
  CHROMA_HA_PREPARE(stmt, kBegin);
  const int rc = stmt.Step();
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "begin");
}

void SqliteWalStore::RollbackLocked() {
  if (sqlite3_get_autocommit(db_)) return;  // nothing open (SQLite may have rolled back itself)
  Result<sqlite3_stmt*> raw = PrepareLocked(kRollback);
  if (raw.ok()) {
    Stmt stmt(*raw);
    (void)stmt.Step();
  }
}

// Commits the open transaction, or rolls it back and returns the error.
#define CHROMA_HA_COMMIT()                                            \
  do {                                                                \
    Result<sqlite3_stmt*> commit_raw = PrepareLocked(kCommit);        \
    int commit_rc = SQLITE_ERROR;                                     \
    if (commit_raw.ok()) {                                            \
      Stmt commit_stmt(*commit_raw);                                  \
      commit_rc = commit_stmt.Step();                                 \
    }                                                                 \
    if (commit_rc != SQLITE_DONE) {                                   \
      Status commit_error = ErrorLocked(commit_rc, "commit");         \
      RollbackLocked();                                               \
      return commit_error;                                            \
    }                                                                 \
  } while (0)

// Inside a transaction: on error, roll back and return it.
#define CHROMA_HA_OR_ROLLBACK(expr) \
  do {                              \
    Status or_rollback = (expr);    \
    if (!or_rollback.ok()) {        \
      RollbackLocked();             \
      return or_rollback;           \
    }                               \
  } while (0)

Status SqliteWalStore::Open() {
  std::lock_guard<std::mutex> lock(mu_);
  if (db_ == nullptr) {
    if (Status s = OpenLocked(); !s.ok()) return s;
  }
  if (Status s = MigrateLocked(); !s.ok()) return s;
  CHROMA_HA_PREPARE(stmt, kSelectInstances);
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) registered_.insert(stmt.ColumnBytes(0));
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "read instances");
}

Status SqliteWalStore::RegisterInstances(const std::vector<std::string>& instances) {
  for (const std::string& instance : instances) {
    if (Status s = CheckText("instance", instance); !s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  for (const std::string& instance : instances) {
    {
      Result<sqlite3_stmt*> raw = PrepareLocked(kInsertInstance);
      CHROMA_HA_OR_ROLLBACK(raw.status());
      Stmt stmt(*raw);
      const int rc = stmt.Text(instance).Step();
      if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "register instance"));
    }
    if (sqlite3_changes(db_) == 0) continue;  // known already: its todo rows are up to date
    Result<sqlite3_stmt*> raw = PrepareLocked(kBackfillTodo);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Text(instance).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "backfill instance"));
  }
  CHROMA_HA_COMMIT();
  registered_.insert(instances.begin(), instances.end());
  return Status::Ok();
}

// Adds the todo rows of an entry that just became committed (mu_ held, transaction open).
Status SqliteWalStore::InsertTodoLocked(int64_t seq, const std::string& origin) {
  CHROMA_HA_PREPARE(stmt, kInsertTodo);
  const int rc = stmt.Int(seq).Text(origin).Step();
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "record backlog");
}

Status SqliteWalStore::OpenLocked() {
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return Status::Unavailable("cannot create " + parent.string() + ": " + ec.message());
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path_.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "sqlite open " + path_ + ": " +
                      (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return Status::Unavailable(std::move(msg));
  }
  db_ = db;
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db_, 1);
  if (Status s = ExecLocked(kPragmas); !s.ok()) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return s;
  }
  return Status::Ok();
}

Status SqliteWalStore::MigrateLocked() {
  if (Status s = BeginLocked(); !s.ok()) return s;
  CHROMA_HA_OR_ROLLBACK(ExecLocked(kCreateVersionTable));
  int64_t version = 0;
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kSelectVersion);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Step();
    if (rc != SQLITE_ROW) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "read schema version"));
    version = stmt.ColumnInt(0);
  }
  if (version > kSchemaVersion) {
    RollbackLocked();
    return Status::Internal("WAL schema version " + std::to_string(version) +
                            " is newer than this build supports (" +
                            std::to_string(kSchemaVersion) + ")");
  }
  for (int64_t v = version + 1; v <= kSchemaVersion; ++v) {
    CHROMA_HA_OR_ROLLBACK(ExecLocked(kMigrations[v - 1]));
    Result<sqlite3_stmt*> raw = PrepareLocked(kInsertVersion);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Int(v).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "record schema version"));
  }
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Status SqliteWalStore::Append(std::vector<WalEntry>* entries) {
  if (Status s = CheckEntries(*entries); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  const int64_t now = NowMillis();
  std::vector<int64_t> seqs;
  seqs.reserve(entries->size());
  for (const WalEntry& e : *entries) {
    {
      Result<sqlite3_stmt*> raw = PrepareLocked(kInsertEntry);
      CHROMA_HA_OR_ROLLBACK(raw.status());
      Stmt stmt(*raw);
      stmt.Int(e.created_ms != 0 ? e.created_ms : now)
          .Text(e.tenant).Text(e.database).Text(e.collection).Text(e.kind).Text(e.method)
          .Text(e.path).Blob(e.body).Int(static_cast<int>(e.state)).Text(e.origin)
          .Int(e.attempts).Text(SanitizeText(e.last_error)).Text(e.extra);
      const int rc = stmt.Step();
      if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "append"));
      seqs.push_back(sqlite3_last_insert_rowid(db_));
    }
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
                                  int attempts, const std::string& last_error) {
  if (Status s = CheckText("origin", origin); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
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

Status SqliteWalStore::MarkApplied(int64_t seq, const std::string& instance) {
  return MarkAppliedBatch({seq}, instance);
}

Status SqliteWalStore::MarkAppliedBatch(const std::vector<int64_t>& seqs,
                                        const std::string& instance) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  if (seqs.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
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
    }
  }
  CHROMA_HA_COMMIT();
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

Result<int64_t> SqliteWalStore::Prune(int64_t before_ms,
                                      const std::vector<std::string>& instances) {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kPrune);
  const int rc = stmt.Int(before_ms).Text(JsonStringArray(instances)).Step();
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "prune");
  return static_cast<int64_t>(sqlite3_changes(db_));
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
    CHROMA_HA_PREPARE(begin, kBeginRead);
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

Status SqliteWalStore::Block(const BlockedCollection& b) {
  if (Status s = CheckBlocked(b); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kUpsertBlocked);
  const int rc = stmt.Text(b.instance).Text(b.tenant).Text(b.database).Text(b.collection)
                     .Int(b.seq).Int(b.since_ms).Text(SanitizeText(b.error)).Step();
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "block");
}

Status SqliteWalStore::Unblock(const std::string& instance, const std::string& tenant,
                               const std::string& database, const std::string& collection) {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kDeleteBlocked);
  const int rc = stmt.Text(instance).Text(tenant).Text(database).Text(collection).Step();
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "unblock");
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
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

}  // namespace chroma_ha
