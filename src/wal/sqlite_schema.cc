// SqliteWalStore, part 1: the connection (open, pragmas, errors, statement cache,
// transactions), the versioned schema and its migrations, and instance registration.
// The queries are in sqlite_store.cc.
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "wal/sqlite_bodies.h"
#include "wal/sqlite_file_lock.h"
#include "wal/sqlite_statement.h"
#include "wal/sqlite_store.h"
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
    // 3: leases (replay and recovery claimed by one process, fenced by term) and members
    // (wal_store.h "Leases and fencing").
    R"sql(
CREATE TABLE wal_leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  term       INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE wal_members (
  member        TEXT PRIMARY KEY,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms  INTEGER NOT NULL) WITHOUT ROWID;
)sql",
    // 4: resync progress, one JSON document per target instance (src/resync/).
    R"sql(
CREATE TABLE wal_resyncs (
  instance TEXT PRIMARY KEY,
  state    TEXT NOT NULL) WITHOUT ROWID;
)sql",
    // 5: bodies in a table of their own. An UPDATE rewrites the whole row, and every entry's
    // outcome is an UPDATE: with the body in the row, recording the outcome of a 0.8 MB add
    // wrote 0.8 MB again (29 % of chroma-ha's CPU per add, bench/analysis.md).
    R"sql(
CREATE TABLE wal_bodies (
  seq  INTEGER PRIMARY KEY REFERENCES wal_entries (seq) ON DELETE CASCADE,
  body BLOB NOT NULL);
INSERT INTO wal_bodies (seq, body) SELECT seq, body FROM wal_entries;
ALTER TABLE wal_entries DROP COLUMN body;
)sql",
    // 6: large bodies in files of their own (wal/sqlite_bodies.h): where, for a row whose body
    // is there (its `body` then empty); NULL for a body in the row.
    R"sql(
ALTER TABLE wal_bodies ADD COLUMN file_segment INTEGER;
ALTER TABLE wal_bodies ADD COLUMN file_offset INTEGER;
ALTER TABLE wal_bodies ADD COLUMN file_length INTEGER;
CREATE INDEX wal_bodies_by_segment ON wal_bodies (file_segment) WHERE file_segment IS NOT NULL;
)sql",
    // 7: the member id of the process that appended each entry (WalEntry::writer); '' for
    // older entries.
    R"sql(
ALTER TABLE wal_entries ADD COLUMN writer TEXT NOT NULL DEFAULT '';
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// page_size: 16 KiB for a new database (SQLite's default is 4 KiB; an existing file keeps its
// own): a body under 64 KiB (larger ones go to the body files, wal/sqlite_bodies.h) is 4 pages
// or fewer, while a commit's B-tree pages stay small (64 KiB pages rewrote too much per commit).
// Measured when 0.8 MB bodies were still in the database: about 9 % less CPU per add than 4 KiB
// (bench/analysis.md, write-path CPU).
// cache_size: 16 MiB of pages (SQLite's default is 2 MiB): the bodies an add appended are
// usually still cached when the sync worker reads them back for replay a moment later, instead
// of being read again from the file. Durability is untouched: synchronous = FULL, every commit
// is fsynced.
constexpr const char* kPragmas =
    "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
    "PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384;";
constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";
constexpr const char* kSelectVersion = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
constexpr const char* kInsertVersion = "INSERT INTO schema_version (version) VALUES (?)";

// ?1 now: every lease ends (the previous run's; see Open in sqlite_store.h).
constexpr const char* kEndLeases =
    "UPDATE wal_leases SET expires_ms = ?1 WHERE expires_ms > ?1";
constexpr const char* kInsertInstance = "INSERT OR IGNORE INTO wal_instances (name) VALUES (?)";
constexpr const char* kSelectInstances = "SELECT name FROM wal_instances";
// ?1 instance: the committed entries it has not applied (the old full scan, run once per new
// instance).
constexpr const char* kBackfillTodo =
    "INSERT OR IGNORE INTO wal_todo (instance, seq, created_ms) "
    "SELECT ?1, e.seq, e.created_ms FROM wal_entries e "
    "WHERE e.state = 1 AND e.origin <> ?1 AND NOT EXISTS ("
    "  SELECT 1 FROM wal_applied a WHERE a.seq = e.seq AND a.instance = ?1)";

}  // namespace

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

Status SqliteWalStore::BeginLocked() {
  CHROMA_HA_PREPARE(stmt, sqlite_sql::kBegin);
  const int rc = stmt.Step();
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "begin");
}

void SqliteWalStore::RollbackLocked() {
  if (sqlite3_get_autocommit(db_)) return;  // nothing open (SQLite may have rolled back itself)
  Result<sqlite3_stmt*> raw = PrepareLocked(sqlite_sql::kRollback);
  if (raw.ok()) {
    Stmt stmt(*raw);
    (void)stmt.Step();
  }
}

Status SqliteWalStore::Open() {
  std::lock_guard<std::mutex> lock(mu_);
  if (db_ == nullptr) {
    if (Status s = OpenLocked(); !s.ok()) return s;
  }
  if (Status s = MigrateLocked(); !s.ok()) return s;
  if (sole_opener_) {
    sole_opener_ = false;  // once: later Open() calls must not end this run's own leases
    CHROMA_HA_PREPARE(end, kEndLeases);
    const int rc = end.Int(NowMs()).Step();
    if (rc != SQLITE_DONE) return ErrorLocked(rc, "end stale leases");
  }
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

Status SqliteWalStore::OpenLocked() {
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return Status::Unavailable("cannot create " + parent.string() + ": " + ec.message());
  }
  if (file_lock_ == nullptr) {
    Result<std::shared_ptr<SqliteFileLock>> lock = SqliteFileLock::Acquire(path_, &sole_opener_);
    if (!lock.ok()) return lock.status();
    file_lock_ = std::move(lock).value();
    bodies_ = BodyFiles::For(path_);
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
  // Switching a fresh file to WAL mode does not wait on the busy handler: a handle opening at
  // the same moment as another gets SQLITE_BUSY at once. Try again within the busy timeout.
  Status s;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (;;) {
    s = ExecLocked(kPragmas);
    const int code = sqlite3_errcode(db_) & 0xff;
    if (s.ok() || (code != SQLITE_BUSY && code != SQLITE_LOCKED) ||
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!s.ok()) {
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

}  // namespace chroma_ha
