// A database written by a build with schema version 1 (no per-instance todo rows; on SQLite the
// bodies in the entries' rows): opening it migrates to the current version and registering the instances backfills their backlog, so replay goes
// on exactly where it was. Version 1 is made by removing what migration 2 adds from a fresh
// database (its two tables and its version row) and writing the entries with plain SQL, as the
// old build did. SQLite always; PostgreSQL when CHROMA_HA_TEST_DATABASE_URL is set.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "fakes/test_database.h"
#include "group_commit_fixture.h"
#include "wal/postgres_store.h"
#include "wal/sqlite_store.h"

namespace chroma_ha {
namespace {

constexpr const char* kToVersion1 =
    "ALTER TABLE wal_entries DROP COLUMN writer; DROP TABLE wal_todo; DROP TABLE wal_instances; "
    "DROP TABLE wal_leases; "
    "DROP TABLE wal_members; DROP TABLE wal_resyncs; "
    "DELETE FROM schema_version WHERE version >= 2;";
// SQLite's version 5 moved bodies to wal_bodies: a version-1 file has them in wal_entries.
constexpr const char* kSqliteBodiesInRows =
    "DROP TABLE wal_bodies; ALTER TABLE wal_entries ADD COLUMN body BLOB NOT NULL DEFAULT X'';";
// seq 1: committed on primary; 2: committed on primary, applied on replica; 3: committed on
// replica (failover); 4: rejected; 5: pending.
constexpr const char* kOldEntries =
    "INSERT INTO wal_entries (created_ms, tenant, database_name, collection, kind, method, path, "
    "body, state, origin, attempts, last_error, extra) VALUES "
    "(1001, 't', 'd', 'c', 'add', 'POST', 'p', 'b', 1, 'primary', 1, '', ''), "
    "(1002, 't', 'd', 'c', 'add', 'POST', 'p', 'b', 1, 'primary', 1, '', ''), "
    "(1003, 't', 'd', 'c', 'add', 'POST', 'p', 'b', 1, 'replica', 1, '', ''), "
    "(1004, 't', 'd', 'c', 'add', 'POST', 'p', 'b', 2, 'primary', 1, '', ''), "
    "(1005, 't', 'd', 'c', 'add', 'POST', 'p', 'b', 0, '', 0, '', ''); "
    "INSERT INTO wal_applied (seq, instance) VALUES (1, 'primary'), (2, 'primary'), "
    "(2, 'replica'), (3, 'replica');";

// A schema of its own in the test database for one test, dropped at the end; the store's URL
// puts it first on the search path.
struct ScratchSchema {
  ScratchSchema(const std::string& admin_url, const std::string& prefix)
      : url(admin_url), name(prefix + std::to_string(getpid())) {
    const char sep = url.find('?') == std::string::npos ? '?' : '&';
    store_url = url + sep + "options=-csearch_path%3D" + name;
    Exec("DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name);
  }
  ~ScratchSchema() { Exec("DROP SCHEMA " + name + " CASCADE"); }
  // Runs `sql` in one transaction with the schema on the search path.
  void Exec(const std::string& sql) {
    pqxx::connection c(url);
    pqxx::work w(c);
    w.exec("SET search_path TO " + name + ", public");
    w.exec(sql);
    w.commit();
  }
  std::string url, name, store_url;
};

std::vector<int64_t> PendingSeqs(WalStore& store, const std::string& instance) {
  std::vector<int64_t> out;
  Result<std::vector<WalEntry>> r = store.PendingFor(instance, 0, 100);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (r.ok()) {
    for (const WalEntry& e : *r) out.push_back(e.seq);
  }
  return out;
}

// Opens `make()` on a version-1 database, registers, and checks the backlog.
void ExpectMigratedBacklog(const std::function<std::unique_ptr<WalStore>()>& make) {
  std::unique_ptr<WalStore> store = make();
  ASSERT_TRUE(store->Open().ok());
  ASSERT_TRUE(store->RegisterInstances({"primary", "replica"}).ok());
  EXPECT_EQ(PendingSeqs(*store, "replica"), std::vector<int64_t>{1});
  EXPECT_EQ(PendingSeqs(*store, "primary"), std::vector<int64_t>{3});
  Result<std::vector<InstanceBacklog>> b = store->Backlog({"primary", "replica"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)[0].entries, 1);
  EXPECT_EQ((*b)[0].oldest_created_ms, 1003);
  EXPECT_EQ((*b)[1].entries, 1);
  EXPECT_EQ((*b)[1].oldest_created_ms, 1001);
  // The bodies came along (SQLite moved them to a table of their own).
  Result<WalEntry> first = store->Get(1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->body, "b");
  // Entries of a build that did not record their writer read as written by nobody known.
  EXPECT_EQ(first->writer, "");
  // And it works as a current store from then on (leases included).
  EXPECT_TRUE(store->AcquireLease("recovery", "a", 1000).ok());
  ASSERT_TRUE(store->SetOutcome(5, EntryState::kCommitted, "primary", 1, "").ok());
  ASSERT_TRUE(store->MarkAppliedBatch({1, 5}, "replica").ok());
  EXPECT_EQ(PendingSeqs(*store, "replica"), std::vector<int64_t>{});
  // Opening it again migrates nothing and keeps the registrations.
  store = make();
  ASSERT_TRUE(store->Open().ok());
  EXPECT_EQ(PendingSeqs(*store, "primary"), std::vector<int64_t>{3});
}

TEST(WalMigration, SqliteVersion1IsBackfilledOnRegistration) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "chroma-ha-migration-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::string path = pattern + "/wal.sqlite3";
  ASSERT_TRUE(SqliteWalStore(path).Open().ok());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(
        db, (std::string(kSqliteBodiesInRows) + kToVersion1 + kOldEntries).c_str(), nullptr,
        nullptr, &error);
    const std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }
  ExpectMigratedBacklog([&] { return std::make_unique<SqliteWalStore>(path); });
  std::filesystem::remove_all(pattern);
}

// The page size of the database file at `path`, read by a connection of its own.
int64_t PageSizeOf(const std::string& path) {
  sqlite3* db = nullptr;
  int64_t size = -1;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      size = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return size;
}

// A new file gets 16 KiB pages (a 0.8 MB body in 50 WAL frames, not 200); a file made with
// SQLite's default 4 KiB pages, by an older build, keeps them and works as before.
TEST(WalMigration, SqliteNewFilesGet16KiBPagesAndOlderFilesKeepTheirs) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "chroma-ha-pages-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::string fresh = pattern + "/fresh.sqlite3";
  ASSERT_TRUE(SqliteWalStore(fresh).Open().ok());
  EXPECT_EQ(PageSizeOf(fresh), 16384);

  const std::string older = pattern + "/older.sqlite3";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(older.c_str(), &db), SQLITE_OK);
    const int rc = sqlite3_exec(db,
                                "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; "
                                "CREATE TABLE made_by_an_older_build (x INTEGER);",
                                nullptr, nullptr, nullptr);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK);
  }
  {
    SqliteWalStore store(older);
    ASSERT_TRUE(store.Open().ok());
    ASSERT_TRUE(store.RegisterInstances({"primary", "replica"}).ok());
    std::vector<WalEntry> batch(1);
    batch[0].tenant = "t";
    batch[0].kind = "add";
    batch[0].method = "POST";
    batch[0].path = "p";
    batch[0].body = std::string(100000, 'b');
    ASSERT_TRUE(store.Append(&batch).ok());
    Result<WalEntry> got = store.Get(batch[0].seq);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->body, batch[0].body);
  }
  EXPECT_EQ(PageSizeOf(older), 4096);
  std::filesystem::remove_all(pattern);
}

TEST(WalMigration, PostgresVersion1IsBackfilledOnRegistration) {
  const char* env = TestDatabaseUrlOrNull();
  if (env == nullptr) return;  // no database configured (and none required)
  ScratchSchema schema(env, "migration_");
  ASSERT_TRUE(PostgresWalStore(schema.store_url).Open().ok());
  // seq is an identity column: the rows get 1..5 in this fresh schema.
  schema.Exec(std::string(kToVersion1) + kOldEntries);
  ExpectMigratedBacklog([&] { return std::make_unique<PostgresWalStore>(schema.store_url); });
}

// Migration 5: new bodies are compressed with lz4 (the test server, Debian's PostgreSQL 15, has
// it), and read back as they were written.
TEST(WalMigration, PostgresBodiesAreCompressedWithLz4) {
  const char* env = TestDatabaseUrlOrNull();
  if (env == nullptr) return;  // no database configured (and none required)
  ScratchSchema schema(env, "lz4_");
  PostgresWalStore store(schema.store_url);
  ASSERT_TRUE(store.Open().ok());
  const std::string body = "{\"ids\":[" + std::string(20000, ' ') + "]}";  // past TOAST's 2 KB
  std::vector<WalEntry> entries{group_commit_test::Entry(body)};
  entries[0].state = EntryState::kCommitted;
  entries[0].origin = "primary";
  ASSERT_TRUE(store.Append(&entries).ok());
  Result<WalEntry> back = store.Get(entries[0].seq);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->body, body);
  pqxx::connection c(schema.url);
  pqxx::work w(c);
  w.exec("SET search_path TO " + schema.name);
  EXPECT_EQ(w.exec1("SELECT pg_column_compression(body) FROM wal_entries")[0].as<std::string>(),
            "lz4");
}

}  // namespace
}  // namespace chroma_ha
