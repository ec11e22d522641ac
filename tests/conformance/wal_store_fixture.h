// The fixture of the WAL store conformance suite (one suite, run against every WalStore: the
// in-memory fake, SQLite (a temp file) and PostgreSQL (CHROMA_HA_TEST_DATABASE_URL; each test
// gets its own schema). With CHROMA_HA_REQUIRE_POSTGRES=1 and no URL, the PostgreSQL
// instantiation fails instead of silently disappearing.
//
// Shared by the suite's files (tests/conformance/*_test.cc): each adds TEST_P(WalStoreConformance,
// ...) cases; wal_store_conformance_test.cc instantiates the suite once for every store.
#ifndef CHROMA_HA_TESTS_CONFORMANCE_WAL_STORE_FIXTURE_H_
#define CHROMA_HA_TESTS_CONFORMANCE_WAL_STORE_FIXTURE_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <ostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <pqxx/pqxx>

#include "chroma_ha/wal_store.h"
#include "fakes/fault_store.h"
#include "fakes/memory_store.h"
#include "wal/postgres_store.h"
#include "wal/sqlite_store.h"

namespace chroma_ha::conformance {

#define ASSERT_OK(expr)                          \
  do {                                           \
    const Status _s = (expr);                    \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

#define EXPECT_OK(expr)                          \
  do {                                           \
    const Status _s = (expr);                    \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

// The storage behind one test: Connect() opens a new handle on it (a new connection for
// SQLite and PostgreSQL; a forwarding wrapper for the memory store).
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<WalStore> Connect() = 0;
};

struct BackendParam {
  std::string name;
  std::function<Result<std::unique_ptr<Backend>>()> make;
};

// gtest prints the parameter in failure messages: the store's name, not its bytes.
inline void PrintTo(const BackendParam& param, std::ostream* os) { *os << param.name; }

class MemoryBackend final : public Backend {
 public:
  std::unique_ptr<WalStore> Connect() override { return std::make_unique<FaultStore>(&store_); }

 private:
  MemoryWalStore store_{{}};  // nothing registered, like a fresh database
};

class SqliteBackend final : public Backend {
 public:
  SqliteBackend() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "chroma-ha-conformance-XXXXXX").string();
    dir_ = mkdtemp(pattern.data()) ? pattern : "";
  }
  ~SqliteBackend() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  // A parent folder that does not exist yet: the store creates it.
  std::unique_ptr<WalStore> Connect() override {
    return std::make_unique<SqliteWalStore>(dir_ + "/nested/wal.sqlite3");
  }

 private:
  std::string dir_;
};

// Each backend gets a fresh schema in the test database, so tests never see each other.
class PostgresBackend final : public Backend {
 public:
  static Result<std::unique_ptr<Backend>> Make(const std::string& url) {
    static std::atomic<int> counter{0};
    const std::string schema =
        "conformance_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    try {
      pqxx::connection c(url);
      pqxx::work w(c);
      w.exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
      w.exec("CREATE SCHEMA " + schema);
      w.commit();
    } catch (const std::exception& e) {
      return Status::Unavailable(std::string("cannot create test schema: ") + e.what());
    }
    return std::unique_ptr<Backend>(new PostgresBackend(url, schema));
  }
  ~PostgresBackend() override {
    try {
      pqxx::connection c(base_url_);
      pqxx::work w(c);
      w.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      w.commit();
    } catch (const std::exception&) {
      // Best effort: a leftover schema is harmless.
    }
  }
  std::unique_ptr<WalStore> Connect() override {
    const char sep = base_url_.find('?') == std::string::npos ? '?' : '&';
    return std::make_unique<PostgresWalStore>(base_url_ + sep +
                                              "options=-csearch_path%3D" + schema_);
  }

 private:
  PostgresBackend(std::string url, std::string schema)
      : base_url_(std::move(url)), schema_(std::move(schema)) {}
  std::string base_url_;
  std::string schema_;
};

inline std::vector<BackendParam> AllBackends() {
  std::vector<BackendParam> out;
  out.push_back({"memory", [] { return Result<std::unique_ptr<Backend>>(
                                    std::unique_ptr<Backend>(new MemoryBackend())); }});
  out.push_back({"sqlite", [] { return Result<std::unique_ptr<Backend>>(
                                    std::unique_ptr<Backend>(new SqliteBackend())); }});
  const char* url = std::getenv("CHROMA_HA_TEST_DATABASE_URL");
  const char* require = std::getenv("CHROMA_HA_REQUIRE_POSTGRES");
  if (url != nullptr && *url != '\0') {
    const std::string u = url;
    out.push_back({"postgres", [u] { return PostgresBackend::Make(u); }});
  } else if (require != nullptr && std::string(require) == "1") {
    out.push_back({"postgres", [] {
                     return Result<std::unique_ptr<Backend>>(Status::InvalidArgument(
                         "CHROMA_HA_REQUIRE_POSTGRES=1 but CHROMA_HA_TEST_DATABASE_URL is unset"));
                   }});
  }
  return out;
}

inline std::vector<int64_t> Seqs(const std::vector<WalEntry>& entries) {
  std::vector<int64_t> out;
  for (const WalEntry& e : entries) out.push_back(e.seq);
  return out;
}

// The instances every test's store registers (some tests register more).
inline const std::vector<std::string> kInstances = {"primary", "replica", "replica2", "idle"};

class WalStoreConformance : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Backend>> backend = GetParam().make();
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
    store_ = backend_->Connect();
    ASSERT_OK(store_->Open());
    ASSERT_OK(store_->RegisterInstances(kInstances));
  }

  static WalEntry Entry(const std::string& collection, const std::string& body = "{}",
                        int64_t created_ms = 0) {
    WalEntry e;
    e.tenant = "default_tenant";
    e.database = "default_database";
    e.collection = collection;
    e.kind = "add";
    e.method = "POST";
    e.path = "/api/v2/tenants/default_tenant/databases/default_database/collections/"
             "{collection}/add";
    e.body = body;
    e.created_ms = created_ms;
    return e;
  }

  // Appends one entry; returns its seq (0 on failure, with a test failure recorded).
  int64_t Append(WalEntry e) {
    std::vector<WalEntry> batch = {std::move(e)};
    const Status s = store_->Append(&batch);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return s.ok() ? batch[0].seq : 0;
  }
  int64_t Append(const std::string& collection, int64_t created_ms = 0) {
    return Append(Entry(collection, "{}", created_ms));
  }
  void Commit(int64_t seq, const std::string& origin) {
    EXPECT_OK(store_->SetOutcome(seq, EntryState::kCommitted, origin, 1, ""));
  }
  void Reject(int64_t seq, const std::string& origin) {
    EXPECT_OK(store_->SetOutcome(seq, EntryState::kRejected, origin, 1, "400 bad"));
  }
  std::vector<int64_t> Pending(const std::string& instance, int64_t after = 0, int limit = 1000) {
    Result<std::vector<WalEntry>> r = store_->PendingFor(instance, after, limit);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? Seqs(*r) : std::vector<int64_t>{};
  }
  int64_t BacklogOf(const std::string& instance) {
    Result<std::vector<InstanceBacklog>> r = store_->Backlog({instance});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->size() == 1 ? r->front().entries : -1;
  }
  WalEntry MustGet(int64_t seq) {
    Result<WalEntry> r = store_->Get(seq);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : WalEntry{};
  }
  // Closes the store and opens a new handle on the same storage (registrations persist: the
  // new handle does not register again).
  void Reopen() {
    store_.reset();
    store_ = backend_->Connect();
    ASSERT_OK(store_->Open());
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<WalStore> store_;
};

}  // namespace chroma_ha::conformance

#endif  // CHROMA_HA_TESTS_CONFORMANCE_WAL_STORE_FIXTURE_H_
