// PostgresWalStore, part 1: the connection (URL defaults, password redaction, reconnect with
// back-off, exception translation, Run), the versioned schema and its migrations, and instance
// registration. The queries are in postgres_store.cc.
#include "wal/postgres_store.h"

#include <algorithm>
#include <cctype>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "wal/postgres_errors.h"
#include "wal/postgres_sql.h"
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
    // 3: leases (replay and recovery claimed by one process, fenced by term) and members
    // (wal_store.h "Leases and fencing").
    R"sql(
CREATE TABLE wal_leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  term       BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL);
CREATE TABLE wal_members (
  member        TEXT PRIMARY KEY,
  first_seen_ms BIGINT NOT NULL,
  last_seen_ms  BIGINT NOT NULL);
)sql",
    // 4: resync progress, one JSON document per target instance (src/resync/).
    R"sql(
CREATE TABLE wal_resyncs (
  instance TEXT PRIMARY KEY,
  state    TEXT NOT NULL);
)sql",
    // 5: bodies compressed with lz4 instead of pglz (TOAST compresses values over 2 KB):
    // PostgreSQL spent 34 ms of CPU compressing an add of 100 x 384-d records (0.8 MB) with
    // pglz, 7 ms with lz4, and reads them back 1.6 x faster (bench/analysis.md). New values only;
    // older ones stay as they are. A server that cannot (before 14, built without lz4) or a table
    // busy for more than 2 s keeps pglz, and the migration still counts as done: the body
    // column's compression is advisory (ALTER TABLE wal_entries ALTER COLUMN body SET
    // COMPRESSION lz4 by hand later does the same).
    R"sql(
DO $$
BEGIN
  PERFORM set_config('lock_timeout', '2s', true);
  EXECUTE 'ALTER TABLE wal_entries ALTER COLUMN body SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'chroma-ha: wal_entries.body keeps its compression: %', SQLERRM;
END $$;
)sql",
    // 6: the member id of the process that appended each entry (WalEntry::writer): recovery
    // leaves a pending entry to its writer while that process heartbeats. '' for older entries.
    // A constant default adds the column without rewriting the table.
    R"sql(
ALTER TABLE wal_entries ADD COLUMN writer TEXT NOT NULL DEFAULT '';
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// + the server-side deadlines (SessionSetup()).
constexpr const char* kSessionSetup = "SET client_min_messages TO WARNING";
constexpr const char* kLockAdvisory = "SELECT pg_advisory_xact_lock(";  // + key + ")"
constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";
constexpr const char* kSelectVersion = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
constexpr const char* kInsertVersion = "INSERT INTO schema_version (version) VALUES ";

constexpr std::chrono::milliseconds kMinBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

// libpq's connect_timeout is in whole seconds, and it treats 1 as 2.
int64_t ConnectTimeoutSeconds(std::chrono::milliseconds timeout) {
  return std::max<int64_t>(2, (timeout.count() + 999) / 1000);
}

std::string SessionSetup(std::chrono::milliseconds timeout) {
  const std::string ms = std::to_string(timeout.count());
  return std::string(kSessionSetup) + "; SET statement_timeout = " + ms +
         "; SET idle_in_transaction_session_timeout = " + ms;
}

bool IsUri(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

// Adds connection options we rely on unless the URL sets them already: the connect deadline,
// TCP keepalives that find a dead peer in about T/2 + 3 s, and tcp_user_timeout (unacknowledged
// data for T ms drops the connection).
std::string WithDefaults(const std::string& url, std::chrono::milliseconds timeout) {
  std::string out = url;
  const int64_t idle_s = std::max<int64_t>(1, timeout.count() / 2000);
  const std::pair<const char*, std::string> options[] = {
      {"connect_timeout", std::to_string(ConnectTimeoutSeconds(timeout))},
      {"application_name", "chroma-ha"},
      {"keepalives", "1"},
      {"keepalives_idle", std::to_string(idle_s)},
      {"keepalives_interval", "1"},
      {"keepalives_count", "3"},
      {"tcp_user_timeout", std::to_string(timeout.count())},
  };
  for (const auto& [key, value] : options) {
    if (url.find(std::string(key) + "=") != std::string::npos) continue;
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
      if (colon != std::string::npos && colon < at) {
        return authority.substr(colon + 1, at - colon - 1);
      }
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

}  // namespace

struct PostgresWalStore::Connection {
  explicit Connection(const std::string& url) : c(url) {}
  pqxx::connection c;
};

PostgresWalStore::PostgresWalStore(std::string url, std::chrono::milliseconds timeout)
    : timeout_(std::max(timeout, std::chrono::milliseconds(1))),
      url_(WithDefaults(url, timeout_)),
      password_(ExtractPassword(url)) {}

PostgresWalStore::~PostgresWalStore() = default;

std::string PostgresWalStore::Redact(std::string message) const {
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();  // libpq ends its messages with a newline
  }
  if (password_.empty()) return message;
  for (size_t p; (p = message.find(password_)) != std::string::npos;) {
    message.replace(p, password_.size(), "***");
  }
  return message;
}

void PostgresWalStore::DisconnectForTesting() {
  std::lock_guard<DeadlineMutex> lock(mu_);
  conn_.reset();
}

Status PostgresWalStore::ConnectLocked(std::chrono::steady_clock::time_point deadline) {
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) {
    return Status::Unavailable(
        "postgres unreachable; next reconnect in " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count()) +
        " ms");
  }
  std::string error;
  try {
    auto conn = std::make_unique<Connection>(url_);  // bounded by connect_timeout
    SocketWatchdog::Armed armed(watchdog_, conn->c.sock(), deadline);
    try {
      pqxx::nontransaction(conn->c).exec(SessionSetup(timeout_));
      for (const Prepared& p : kAllPrepared) conn->c.prepare(p.name, p.sql);
    } catch (const std::exception& e) {
      error = armed.Disarm() ? "no answer within " + std::to_string(timeout_.count()) +
                                   " ms (WAL_STORE_TIMEOUT_MS)"
                             : e.what();
    }
    if (error.empty() && !armed.Disarm()) {
      conn_ = std::move(conn);
      backoff_ = std::chrono::milliseconds(0);
      retry_at_ = {};
      return Status::Ok();
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (error.empty()) error = "no answer within the store timeout";
  backoff_ = std::clamp(backoff_ * 2, kMinBackoff, kMaxBackoff);
  // From the failure, not the attempt: an attempt can last the whole connect timeout.
  retry_at_ = std::chrono::steady_clock::now() + backoff_;
  return Status::Unavailable(Redact("postgres connect: " + error));
}

void PostgresWalStore::CommitLocked(pqxx::transaction_base& t) {
  committing_ = true;
  t.commit();
}

Status PostgresWalStore::Run(const char* what,
                             const std::function<void(pqxx::connection_base&)>& body) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  // The server's statement_timeout (T) answers a live but blocked server first, keeping the
  // connection; the watchdog cuts a silent one a little later.
  const auto cut = deadline + std::min(timeout_ / 4, std::chrono::milliseconds(1000));
  std::unique_lock<DeadlineMutex> lock(mu_, std::defer_lock);
  if (!lock.try_lock_until(deadline)) {
    return Status::Unavailable(std::string("postgres ") + what + ": store busy (no turn within " +
                               std::to_string(timeout_.count()) +
                               " ms, WAL_STORE_TIMEOUT_MS: the database is slow or silent)");
  }
  if (conn_ == nullptr) {
    if (Status s = ConnectLocked(cut); !s.ok()) return s;
  }
  committing_ = false;
  SocketWatchdog::Armed armed(watchdog_, conn_->c.sock(), cut);
  try {
    body(conn_->c);
  } catch (...) {
    PgCallContext context;
    context.committing = committing_;
    context.deadline_expired = armed.Disarm();
    context.connection_open = conn_->c.is_open();
    context.timeout_ms = timeout_.count();
    PgTranslated t = TranslatePgException(std::current_exception(), what, context);
    if (t.drop_connection || context.deadline_expired) conn_.reset();
    return StatusWithCode(t.status.code(), Redact(t.status.message()));
  }
  // It fired as the call finished: the result stands, but the socket is shut down.
  if (armed.Disarm()) conn_.reset();
  return Status::Ok();
}

Status PostgresWalStore::Open() {
  std::set<std::string> registered;
  Status s = Run("open", [this, &registered](pqxx::connection_base& c) {
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
    for (const pqxx::row& r : w.exec_prepared(kSelectInstances.name)) {
      registered.insert(r[0].as<std::string>());
    }
    CommitLocked(w);
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
    CommitLocked(w);
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

}  // namespace chroma_ha
