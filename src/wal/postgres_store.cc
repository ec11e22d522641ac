#include "wal/postgres_store.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
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
  seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_ms    BIGINT NOT NULL,
  tenant        TEXT NOT NULL,
  database_name TEXT NOT NULL,
  collection    TEXT NOT NULL,
  kind          TEXT NOT NULL,
  method        TEXT NOT NULL,
  path          TEXT NOT NULL,
  body          BYTEA NOT NULL,
  state         SMALLINT NOT NULL CHECK (state IN (0, 1, 2)),
  origin        TEXT NOT NULL,
  attempts      INTEGER NOT NULL,
  last_error    TEXT NOT NULL,
  extra         TEXT NOT NULL);
CREATE INDEX wal_entries_by_state ON wal_entries (state, seq);
CREATE TABLE wal_applied (
  seq      BIGINT NOT NULL REFERENCES wal_entries (seq) ON DELETE CASCADE,
  instance TEXT NOT NULL,
  PRIMARY KEY (seq, instance));
CREATE TABLE wal_collections (
  tenant        TEXT NOT NULL,
  database_name TEXT NOT NULL,
  name          TEXT NOT NULL,
  canonical_id  TEXT NOT NULL,
  PRIMARY KEY (tenant, database_name, name));
CREATE TABLE wal_collection_ids (
  tenant        TEXT NOT NULL,
  database_name TEXT NOT NULL,
  name          TEXT NOT NULL,
  instance      TEXT NOT NULL,
  id            TEXT NOT NULL,
  PRIMARY KEY (tenant, database_name, name, instance),
  FOREIGN KEY (tenant, database_name, name)
    REFERENCES wal_collections (tenant, database_name, name) ON DELETE CASCADE);
CREATE TABLE wal_blocked (
  instance      TEXT NOT NULL,
  tenant        TEXT NOT NULL,
  database_name TEXT NOT NULL,
  collection    TEXT NOT NULL,
  seq           BIGINT NOT NULL,
  since_ms      BIGINT NOT NULL,
  error         TEXT NOT NULL,
  PRIMARY KEY (instance, tenant, database_name, collection));
)sql",
    // 2: replay work per registered instance (see "Replay work is tracked per registered
    // instance" in wal_store.h). Existing entries are backfilled when an instance registers.
    // wal_todo carries created_ms so Backlog never reads wal_entries.
    R"sql(
CREATE TABLE wal_instances (name TEXT PRIMARY KEY);
CREATE TABLE wal_todo (
  instance   TEXT NOT NULL,
  seq        BIGINT NOT NULL REFERENCES wal_entries (seq) ON DELETE CASCADE,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (instance, seq));
CREATE INDEX wal_todo_by_seq ON wal_todo (seq);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// Advisory lock keys (arbitrary, fixed): one for migrations, one serialising appends, one
// between registering an instance (exclusive) and committing entries (shared): a registration's
// backfill must see every entry committed before it, and a commit must see every instance
// registered before it, so that no committed entry misses the todo row of a new instance. The
// shared lock is taken in a statement of its own: a READ COMMITTED statement's snapshot is taken
// when it starts, so only the statements after the lock see the other side's commit.
constexpr int64_t kMigrationLockKey = 0x6368726f6d610001;  // "chroma" 0001
constexpr int64_t kAppendLockKey = 0x6368726f6d610002;
constexpr int64_t kInstancesLockKey = 0x6368726f6d610003;

constexpr const char* kSessionSetup = "SET client_min_messages TO WARNING";
constexpr const char* kLockAdvisory = "SELECT pg_advisory_xact_lock(";  // + key + ")"
constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";
constexpr const char* kSelectVersion = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
constexpr const char* kInsertVersion = "INSERT INTO schema_version (version) VALUES ";

// ---- Prepared statements (name, SQL) ------------------------------------------------------
#define CHROMA_HA_ENTRY_COLUMNS                                                           \
  "seq, created_ms, tenant, database_name, collection, kind, method, path, body, state, " \
  "origin, attempts, last_error, extra"
#define CHROMA_HA_E_ENTRY_COLUMNS                                                          \
  "e.seq, e.created_ms, e.tenant, e.database_name, e.collection, e.kind, e.method, e.path, " \
  "e.body, e.state, e.origin, e.attempts, e.last_error, e.extra"

struct Prepared {
  const char* name;
  const char* sql;
};

constexpr Prepared kLockAppends = {
    "lock_appends",
    "SELECT pg_advisory_xact_lock($1::bigint), pg_advisory_xact_lock_shared($2::bigint)"};
constexpr Prepared kLockCommits = {"lock_commits",
                                   "SELECT pg_advisory_xact_lock_shared($1::bigint)"};
constexpr Prepared kLockInstances = {"lock_instances", "SELECT pg_advisory_xact_lock($1::bigint)"};
constexpr Prepared kInsertInstance = {
    "insert_instance",
    "INSERT INTO wal_instances (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING name"};
constexpr Prepared kSelectInstances = {"select_instances", "SELECT name FROM wal_instances"};
// $1 instance: the committed entries it has not applied (the old full scan, once per instance).
constexpr Prepared kBackfillTodo = {
    "backfill_todo",
    "INSERT INTO wal_todo (instance, seq, created_ms) "
    "SELECT $1::text, e.seq, e.created_ms FROM wal_entries e "
    "WHERE e.state = 1 AND e.origin <> $1::text AND NOT EXISTS ("
    "  SELECT 1 FROM wal_applied a WHERE a.seq = e.seq AND a.instance = $1::text) "
    "ON CONFLICT DO NOTHING"};
// $1 seq (just committed), $2 origin: every registered instance but the origin and those
// already marked applied.
constexpr Prepared kInsertTodo = {
    "insert_todo",
    "INSERT INTO wal_todo (instance, seq, created_ms) "
    "SELECT i.name, e.seq, e.created_ms FROM wal_entries e, wal_instances i "
    "WHERE e.seq = $1 AND i.name <> $2::text AND NOT EXISTS ("
    "  SELECT 1 FROM wal_applied a WHERE a.seq = e.seq AND a.instance = i.name) "
    "ON CONFLICT DO NOTHING"};
constexpr Prepared kInsertEntry = {
    "insert_entry",
    "INSERT INTO wal_entries (created_ms, tenant, database_name, collection, kind, method, path, "
    "body, state, origin, attempts, last_error, extra) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq"};
constexpr Prepared kInsertApplied = {
    "insert_applied",
    "INSERT INTO wal_applied (seq, instance) VALUES ($1, $2) ON CONFLICT DO NOTHING"};
// Returns one row with the number of entries updated (0 or 1). A commit marks the origin
// applied and gives every other registered instance (not marked applied) a todo row; any other
// state removes the entry's todo rows. (All parts see one snapshot, so the todo rows deleted
// and inserted never overlap: a commit deletes only the origin's.)
constexpr Prepared kSetOutcome = {
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
constexpr Prepared kSetExtra = {"set_extra", "UPDATE wal_entries SET extra = $1 WHERE seq = $2"};
// $1 a bigint[] literal ("{1,2,3}"), $2 instance. Returns one row: how many distinct seqs of
// $1 exist (all of them are then marked applied); the caller rolls back when one is missing.
constexpr Prepared kMarkApplied = {
    "mark_applied",
    "WITH e AS (SELECT seq FROM wal_entries WHERE seq = ANY ($1::bigint[])), "
    "ins AS (INSERT INTO wal_applied (seq, instance) SELECT seq, $2::text FROM e "
    "  ON CONFLICT DO NOTHING), "
    "del AS (DELETE FROM wal_todo t WHERE t.instance = $2::text AND t.seq IN (SELECT seq FROM e)) "
    "SELECT COUNT(*) FROM e"};
constexpr Prepared kSelectPendingFor = {
    "pending_for",
    "SELECT " CHROMA_HA_E_ENTRY_COLUMNS " FROM wal_todo t JOIN wal_entries e ON e.seq = t.seq "
    "WHERE t.instance = $1::text AND t.seq > $2 ORDER BY t.seq LIMIT $3"};
constexpr Prepared kSelectUnresolved = {
    "unresolved",
    "SELECT " CHROMA_HA_ENTRY_COLUMNS " FROM wal_entries WHERE state = 0 ORDER BY seq"};
constexpr Prepared kSelectEntry = {
    "get_entry", "SELECT " CHROMA_HA_ENTRY_COLUMNS " FROM wal_entries WHERE seq = $1"};
constexpr Prepared kSelectBacklog = {
    "backlog",
    "SELECT COUNT(*), COALESCE(MIN(created_ms), 0) FROM wal_todo WHERE instance = $1::text"};
constexpr Prepared kCountByState = {"count_by_state",
                                    "SELECT state, COUNT(*) FROM wal_entries GROUP BY state"};
// $1 before_ms, $2 JSON array of instance names.
constexpr Prepared kPrune = {
    "prune",
    "DELETE FROM wal_entries e WHERE e.created_ms < $1 AND (e.state = 2 OR (e.state = 1 AND "
    "NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text($2::jsonb) AS i(instance) "
    "  WHERE NOT EXISTS (SELECT 1 FROM wal_applied a "
    "    WHERE a.seq = e.seq AND a.instance = i.instance))))"};
constexpr Prepared kDeleteCollection = {
    "delete_collection",
    "DELETE FROM wal_collections WHERE tenant = $1 AND database_name = $2 AND name = $3"};
constexpr Prepared kInsertCollection = {
    "insert_collection",
    "INSERT INTO wal_collections (tenant, database_name, name, canonical_id) "
    "VALUES ($1, $2, $3, $4)"};
constexpr Prepared kInsertCollectionId = {
    "insert_collection_id",
    "INSERT INTO wal_collection_ids (tenant, database_name, name, instance, id) "
    "VALUES ($1, $2, $3, $4, $5)"};
constexpr Prepared kSelectCollections = {
    "select_collections",
    "SELECT tenant, database_name, name, canonical_id FROM wal_collections "
    "ORDER BY tenant, database_name, name"};
constexpr Prepared kSelectCollectionIds = {
    "select_collection_ids",
    "SELECT tenant, database_name, name, instance, id FROM wal_collection_ids "
    "ORDER BY tenant, database_name, name, instance"};
constexpr Prepared kUpsertBlocked = {
    "upsert_blocked",
    "INSERT INTO wal_blocked (instance, tenant, database_name, collection, seq, since_ms, error) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (instance, tenant, database_name, collection) DO UPDATE SET "
    "seq = EXCLUDED.seq, since_ms = EXCLUDED.since_ms, error = EXCLUDED.error"};
constexpr Prepared kDeleteBlocked = {
    "delete_blocked",
    "DELETE FROM wal_blocked WHERE instance = $1 AND tenant = $2 AND database_name = $3 "
    "AND collection = $4"};
constexpr Prepared kSelectBlocked = {
    "select_blocked",
    "SELECT instance, tenant, database_name, collection, seq, since_ms, error FROM wal_blocked "
    "ORDER BY instance, tenant, database_name, collection"};
constexpr const char* kClear =
    "DELETE FROM wal_todo; DELETE FROM wal_applied; DELETE FROM wal_entries; DELETE FROM wal_collection_ids; "
    "DELETE FROM wal_collections; DELETE FROM wal_blocked";

constexpr Prepared kAllPrepared[] = {
    kLockCommits,      kLockInstances,     kInsertInstance,      kSelectInstances,
    kBackfillTodo,     kInsertTodo,
    kLockAppends,      kInsertEntry,       kInsertApplied,       kSetOutcome,
    kSetExtra,         kMarkApplied,       kSelectPendingFor,    kSelectUnresolved,
    kSelectEntry,      kSelectBacklog,     kCountByState,        kPrune,
    kDeleteCollection, kInsertCollection,  kInsertCollectionId,  kSelectCollections,
    kSelectCollectionIds, kUpsertBlocked,  kDeleteBlocked,       kSelectBlocked,
};

constexpr std::chrono::milliseconds kMinBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr int kConnectTimeoutSeconds = 5;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NotFoundMessage(int64_t seq) { return "no WAL entry with seq " + std::to_string(seq); }

Status NotRegistered(const std::string& instance) {
  return Status::InvalidArgument("instance '" + instance + "' is not registered with the WAL store");
}

// A PostgreSQL array literal of bigints, e.g. "{1,2,3}".
std::string BigintArray(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}

bool IsUri(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

// Adds connection options we rely on unless the URL sets them already.
std::string WithDefaults(const std::string& url) {
  std::string out = url;
  const std::pair<const char*, std::string> options[] = {
      {"connect_timeout", std::to_string(kConnectTimeoutSeconds)},
      {"application_name", "chroma-ha"},
  };
  for (const auto& [key, value] : options) {
    if (url.find(key) != std::string::npos) continue;
    if (IsUri(out)) {
      out += (out.find('?') == std::string::npos ? "?" : "&");
      out += std::string(key) + "=" + value;
    } else {
      out += std::string(out.empty() ? "" : " ") + key + "=" + value;
    }
  }
  return out;
}

// The password in a URI (user:password@) or keyword string (password=...), or "".
std::string ExtractPassword(const std::string& url) {
  if (IsUri(url)) {
    const size_t start = url.find("://") + 3;
    const size_t end = url.find_first_of("/?", start);
    const std::string authority = url.substr(start, end == std::string::npos ? end : end - start);
    const size_t at = authority.rfind('@');
    if (at != std::string::npos) {
      const size_t colon = authority.find(':');
      if (colon != std::string::npos && colon < at) return authority.substr(colon + 1, at - colon - 1);
    }
  }
  const size_t p = url.find("password=");
  if (p != std::string::npos) {
    const size_t v = p + 9;
    const size_t e = url.find_first_of(" &", v);
    return url.substr(v, e == std::string::npos ? e : e - v);
  }
  return "";
}

std::string Bytes(const pqxx::field& f) { return std::string(f.c_str(), f.size()); }

WalEntry ReadEntry(const pqxx::row& r) {
  WalEntry e;
  e.seq = r[0].as<int64_t>();
  e.created_ms = r[1].as<int64_t>();
  e.tenant = Bytes(r[2]);
  e.database = Bytes(r[3]);
  e.collection = Bytes(r[4]);
  e.kind = Bytes(r[5]);
  e.method = Bytes(r[6]);
  e.path = Bytes(r[7]);
  e.body = pqxx::binarystring(r[8]).str();
  e.state = static_cast<EntryState>(r[9].as<int>());
  e.origin = Bytes(r[10]);
  e.attempts = r[11].as<int>();
  e.last_error = Bytes(r[12]);
  e.extra = Bytes(r[13]);
  return e;
}

std::vector<WalEntry> ReadEntries(const pqxx::result& result) {
  std::vector<WalEntry> out;
  out.reserve(result.size());
  for (const pqxx::row& r : result) out.push_back(ReadEntry(r));
  return out;
}

}  // namespace

struct PostgresWalStore::Connection {
  explicit Connection(const std::string& url) : c(url) {}
  pqxx::connection c;
};

PostgresWalStore::PostgresWalStore(std::string url)
    : url_(WithDefaults(url)), password_(ExtractPassword(url)) {}

PostgresWalStore::~PostgresWalStore() = default;

std::string PostgresWalStore::Redact(std::string message) const {
  if (password_.empty()) return message;
  for (size_t p; (p = message.find(password_)) != std::string::npos;) {
    message.replace(p, password_.size(), "***");
  }
  return message;
}

void PostgresWalStore::DisconnectForTesting() {
  std::lock_guard<std::mutex> lock(mu_);
  conn_.reset();
}

Status PostgresWalStore::ConnectLocked() {
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) {
    return Status::Unavailable(
        "postgres unreachable; next reconnect in " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count()) +
        " ms");
  }
  try {
    auto conn = std::make_unique<Connection>(url_);
    pqxx::nontransaction(conn->c).exec(kSessionSetup);
    for (const Prepared& p : kAllPrepared) conn->c.prepare(p.name, p.sql);
    conn_ = std::move(conn);
    backoff_ = std::chrono::milliseconds(0);
    retry_at_ = {};
    return Status::Ok();
  } catch (const std::exception& e) {
    backoff_ = std::clamp(backoff_ * 2, kMinBackoff, kMaxBackoff);
    retry_at_ = now + backoff_;
    return Status::Unavailable(Redact(std::string("postgres connect: ") + e.what()));
  }
}

Status PostgresWalStore::TranslateCurrentException(const char* what) {
  const std::string prefix = std::string("postgres ") + what + ": ";
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return Status::Unavailable(Redact(prefix + e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    conn_.reset();
    return Status::Unavailable(Redact(prefix + "commit outcome unknown: " + e.what()));
  } catch (const pqxx::transaction_rollback& e) {
    return Status::Unavailable(Redact(prefix + e.what()));
  } catch (const pqxx::integrity_constraint_violation& e) {
    return Status::InvalidArgument(Redact(prefix + e.what()));
  } catch (const pqxx::data_exception& e) {
    return Status::InvalidArgument(Redact(prefix + e.what()));
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    // 08: connection exception; 57P: operator intervention (shutdown); 53: out of resources.
    if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state.rfind("53", 0) == 0) {
      conn_.reset();
      return Status::Unavailable(Redact(prefix + e.what()));
    }
    if (state == "22021") return Status::InvalidArgument(Redact(prefix + e.what()));
    return Status::Internal(Redact(prefix + e.what()));
  } catch (const std::exception& e) {
    if (conn_ != nullptr && !conn_->c.is_open()) {
      conn_.reset();
      return Status::Unavailable(Redact(prefix + e.what()));
    }
    return Status::Internal(Redact(prefix + e.what()));
  } catch (...) {
    return Status::Internal(prefix + "unknown exception");
  }
}

Status PostgresWalStore::Run(const char* what,
                             const std::function<void(pqxx::connection_base&)>& body) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_ == nullptr) {
    if (Status s = ConnectLocked(); !s.ok()) return s;
  }
  try {
    body(conn_->c);
    return Status::Ok();
  } catch (...) {
    return TranslateCurrentException(what);
  }
}

Status PostgresWalStore::Open() {
  std::set<std::string> registered;
  Status s = Run("open", [&registered](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec(kLockAdvisory + std::to_string(kMigrationLockKey) + ")");
    w.exec(kCreateVersionTable);
    const int64_t version = w.exec1(kSelectVersion)[0].as<int64_t>();
    if (version > kSchemaVersion) {
      throw std::runtime_error("WAL schema version " + std::to_string(version) +
                               " is newer than this build supports (" +
                               std::to_string(kSchemaVersion) + ")");
    }
    for (int64_t v = version + 1; v <= kSchemaVersion; ++v) {
      w.exec(kMigrations[v - 1]);
      w.exec(kInsertVersion + ("(" + std::to_string(v) + ")"));
    }
    registered.clear();
    for (const pqxx::row& r : w.exec_prepared(kSelectInstances.name)) registered.insert(Bytes(r[0]));
    w.commit();
  });
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(registered_mu_);
  registered_.insert(registered.begin(), registered.end());
  return Status::Ok();
}

Status PostgresWalStore::RegisterInstances(const std::vector<std::string>& instances) {
  for (const std::string& instance : instances) {
    if (Status s = CheckText("instance", instance); !s.ok()) return s;
  }
  Status s = Run("register instances", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kLockInstances.name, kInstancesLockKey);
    for (const std::string& instance : instances) {
      if (w.exec_prepared(kInsertInstance.name, instance).empty()) continue;  // known already
      w.exec_prepared(kBackfillTodo.name, instance);
    }
    w.commit();
  });
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(registered_mu_);
  registered_.insert(instances.begin(), instances.end());
  return Status::Ok();
}

bool PostgresWalStore::Registered(const std::string& instance) const {
  std::lock_guard<std::mutex> lock(registered_mu_);
  return registered_.count(instance) != 0;
}

Status PostgresWalStore::Append(std::vector<WalEntry>* entries) {
  if (Status s = CheckEntries(*entries); !s.ok()) return s;
  if (entries->empty()) return Status::Ok();
  const int64_t now = NowMillis();
  std::vector<int64_t> seqs;
  Status s = Run("append", [&](pqxx::connection_base& c) {
    seqs.clear();
    pqxx::work w(c);
    w.exec_prepared(kLockAppends.name, kAppendLockKey, kInstancesLockKey);
    for (const WalEntry& e : *entries) {
      const pqxx::row r = w.exec_prepared1(
          kInsertEntry.name, e.created_ms != 0 ? e.created_ms : now, e.tenant, e.database,
          e.collection, e.kind, e.method, e.path, pqxx::binarystring(e.body),
          static_cast<int>(e.state), e.origin, e.attempts, SanitizeText(e.last_error), e.extra);
      seqs.push_back(r[0].as<int64_t>());
      if (e.state == EntryState::kCommitted && !e.origin.empty()) {
        w.exec_prepared(kInsertApplied.name, seqs.back(), e.origin);
      }
      if (e.state == EntryState::kCommitted) {
        w.exec_prepared(kInsertTodo.name, seqs.back(), e.origin);
      }
    }
    w.commit();
  });
  if (!s.ok()) return s;
  for (size_t i = 0; i < entries->size(); ++i) {
    WalEntry& e = (*entries)[i];
    e.seq = seqs[i];
    if (e.created_ms == 0) e.created_ms = now;
    e.last_error = SanitizeText(e.last_error);
  }
  return Status::Ok();
}

Status PostgresWalStore::SetOutcome(int64_t seq, EntryState state, const std::string& origin,
                                    int attempts, const std::string& last_error) {
  if (Status s = CheckText("origin", origin); !s.ok()) return s;
  int64_t updated = 0;
  Status s = Run("set outcome", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kLockCommits.name, kInstancesLockKey);
    updated = w.exec_prepared1(kSetOutcome.name, static_cast<int>(state), origin, attempts,
                               SanitizeText(last_error), seq)[0]
                  .as<int64_t>();
    w.commit();
  });
  if (!s.ok()) return s;
  return updated == 0 ? Status::NotFound(NotFoundMessage(seq)) : Status::Ok();
}

Status PostgresWalStore::SetExtra(int64_t seq, const std::string& extra) {
  if (Status s = CheckText("extra", extra); !s.ok()) return s;
  int64_t updated = 0;
  Status s = Run("set extra", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    updated = w.exec_prepared(kSetExtra.name, extra, seq).affected_rows();
    w.commit();
  });
  if (!s.ok()) return s;
  return updated == 0 ? Status::NotFound(NotFoundMessage(seq)) : Status::Ok();
}

Status PostgresWalStore::MarkApplied(int64_t seq, const std::string& instance) {
  return MarkAppliedBatch({seq}, instance);
}

Status PostgresWalStore::MarkAppliedBatch(const std::vector<int64_t>& seqs,
                                          const std::string& instance) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  if (seqs.empty()) return Status::Ok();
  std::vector<int64_t> distinct = seqs;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  int64_t found = 0;
  Status s = Run("mark applied", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    found = w.exec_prepared1(kMarkApplied.name, BigintArray(distinct), instance)[0].as<int64_t>();
    if (found == static_cast<int64_t>(distinct.size())) w.commit();  // else: rolled back
  });
  if (!s.ok()) return s;
  if (found == static_cast<int64_t>(distinct.size())) return Status::Ok();
  return Status::NotFound("a WAL entry of seqs " + BigintArray(distinct) + " does not exist");
}

Result<std::vector<WalEntry>> PostgresWalStore::PendingFor(const std::string& instance,
                                                           int64_t after_seq, int limit) {
  if (!Registered(instance)) return NotRegistered(instance);
  std::vector<WalEntry> out;
  if (limit <= 0) return out;
  Status s = Run("pending for", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out = ReadEntries(t.exec_prepared(kSelectPendingFor.name, instance, after_seq, limit));
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<WalEntry>> PostgresWalStore::Unresolved() {
  std::vector<WalEntry> out;
  Status s = Run("unresolved", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out = ReadEntries(t.exec_prepared(kSelectUnresolved.name));
  });
  if (!s.ok()) return s;
  return out;
}

Result<WalEntry> PostgresWalStore::Get(int64_t seq) {
  std::vector<WalEntry> out;
  Status s = Run("get", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out = ReadEntries(t.exec_prepared(kSelectEntry.name, seq));
  });
  if (!s.ok()) return s;
  if (out.empty()) return Status::NotFound(NotFoundMessage(seq));
  return std::move(out.front());
}

Result<std::vector<InstanceBacklog>> PostgresWalStore::Backlog(
    const std::vector<std::string>& instances) {
  for (const std::string& instance : instances) {
    if (!Registered(instance)) return NotRegistered(instance);
  }
  std::vector<InstanceBacklog> out;
  Status s = Run("backlog", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::read_transaction t(c);
    for (const std::string& instance : instances) {
      const pqxx::row r = t.exec_prepared1(kSelectBacklog.name, instance);
      out.push_back({instance, r[0].as<int64_t>(), r[1].as<int64_t>()});
    }
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::map<EntryState, int64_t>> PostgresWalStore::CountByState() {
  std::map<EntryState, int64_t> out = {
      {EntryState::kPending, 0}, {EntryState::kCommitted, 0}, {EntryState::kRejected, 0}};
  Status s = Run("count by state", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    for (const pqxx::row& r : t.exec_prepared(kCountByState.name)) {
      out[static_cast<EntryState>(r[0].as<int>())] = r[1].as<int64_t>();
    }
  });
  if (!s.ok()) return s;
  return out;
}

Result<int64_t> PostgresWalStore::Prune(int64_t before_ms,
                                        const std::vector<std::string>& instances) {
  int64_t pruned = 0;
  Status s = Run("prune", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    pruned = w.exec_prepared(kPrune.name, before_ms, JsonStringArray(instances)).affected_rows();
    w.commit();
  });
  if (!s.ok()) return s;
  return pruned;
}

Status PostgresWalStore::PutCollection(const CollectionIdentity& c) {
  if (Status s = CheckIdentity(c); !s.ok()) return s;
  return Run("put collection", [&](pqxx::connection_base& conn) {
    pqxx::work w(conn);
    w.exec_prepared(kDeleteCollection.name, c.tenant, c.database, c.name);  // cascades to ids
    w.exec_prepared(kInsertCollection.name, c.tenant, c.database, c.name, c.canonical_id);
    for (const auto& [instance, id] : c.ids) {
      w.exec_prepared(kInsertCollectionId.name, c.tenant, c.database, c.name, instance, id);
    }
    w.commit();
  });
}

Status PostgresWalStore::RemoveCollection(const std::string& tenant, const std::string& database,
                                          const std::string& name) {
  return Run("remove collection", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kDeleteCollection.name, tenant, database, name);
    w.commit();
  });
}

Result<std::vector<CollectionIdentity>> PostgresWalStore::LoadCollections() {
  std::vector<CollectionIdentity> out;
  Status s = Run("load collections", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> t(c);
    std::map<std::tuple<std::string, std::string, std::string>, size_t> index;
    for (const pqxx::row& r : t.exec_prepared(kSelectCollections.name)) {
      CollectionIdentity ci;
      ci.tenant = Bytes(r[0]);
      ci.database = Bytes(r[1]);
      ci.name = Bytes(r[2]);
      ci.canonical_id = Bytes(r[3]);
      index[{ci.tenant, ci.database, ci.name}] = out.size();
      out.push_back(std::move(ci));
    }
    for (const pqxx::row& r : t.exec_prepared(kSelectCollectionIds.name)) {
      auto it = index.find({Bytes(r[0]), Bytes(r[1]), Bytes(r[2])});
      if (it != index.end()) out[it->second].ids[Bytes(r[3])] = Bytes(r[4]);
    }
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresWalStore::Block(const BlockedCollection& b) {
  if (Status s = CheckBlocked(b); !s.ok()) return s;
  return Run("block", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kUpsertBlocked.name, b.instance, b.tenant, b.database, b.collection, b.seq,
                    b.since_ms, SanitizeText(b.error));
    w.commit();
  });
}

Status PostgresWalStore::Unblock(const std::string& instance, const std::string& tenant,
                                 const std::string& database, const std::string& collection) {
  return Run("unblock", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kDeleteBlocked.name, instance, tenant, database, collection);
    w.commit();
  });
}

Result<std::vector<BlockedCollection>> PostgresWalStore::ListBlocked() {
  std::vector<BlockedCollection> out;
  Status s = Run("list blocked", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::read_transaction t(c);
    for (const pqxx::row& r : t.exec_prepared(kSelectBlocked.name)) {
      out.push_back({Bytes(r[0]), Bytes(r[1]), Bytes(r[2]), Bytes(r[3]), r[4].as<int64_t>(),
                     r[5].as<int64_t>(), Bytes(r[6])});
    }
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresWalStore::Clear() {
  return Run("clear", [](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec(kClear);
    w.commit();
  });
}

}  // namespace chroma_ha
