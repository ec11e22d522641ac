// The PostgreSQL store against a REAL server that goes silent: a TCP relay between the store
// and PostgreSQL stops forwarding (connections left open, as with SIGSTOP or a partition).
// Every call must fail retryably within the store timeout (+ margin), never hang, and the
// store must work again once the server answers, without a restart. Runs when
// CHROMA_HA_TEST_DATABASE_URL is set (a failure when CHROMA_HA_REQUIRE_POSTGRES=1 and unset).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "conformance/tcp_relay.h"
#include "fakes/test_database.h"
#include "wal/postgres_sql.h"
#include "wal/postgres_store.h"

namespace chroma_ha::conformance {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kTimeout{1000};  // WAL_STORE_TIMEOUT_MS of the store under test

struct Timed {
  Status status;
  milliseconds elapsed{0};
};

Timed Time(const std::function<Status()>& call) {
  const auto start = Clock::now();
  Timed t;
  t.status = call();
  t.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return t;
}

// postgresql://user@HOST:PORT/db...: the parts around host:port.
struct UrlParts {
  std::string before;  // "postgresql://user@"
  std::string host;
  int port = 0;
  std::string after;  // "/db?..."
};

bool ParseUrl(const std::string& url, UrlParts* out) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return false;
  const size_t start =
      url.find('@', scheme) != std::string::npos ? url.find('@', scheme) + 1 : scheme + 3;
  const size_t slash = url.find('/', start);
  const size_t colon = url.rfind(':', slash);
  if (slash == std::string::npos || colon == std::string::npos || colon < start) return false;
  out->before = url.substr(0, start);
  out->host = url.substr(start, colon - start);
  out->port = std::stoi(url.substr(colon + 1, slash - colon - 1));
  out->after = url.substr(slash);
  return true;
}

// A schema of its own in the test database, dropped at the end.
class TestSchema {
 public:
  explicit TestSchema(std::string url) : url_(std::move(url)) {
    static int counter = 0;
    name_ = "deadline_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    Exec("CREATE SCHEMA " + name_);
  }
  ~TestSchema() { Exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE"); }
  // `url` (pointing wherever) with this schema as search path and `app` as application name.
  std::string Url(const std::string& url, const std::string& app) const {
    const char sep = url.find('?') == std::string::npos ? '?' : '&';
    return url + sep + "application_name=" + app + "&options=-csearch_path%3D" + name_;
  }

 private:
  void Exec(const std::string& sql) {
    pqxx::connection c(url_);
    pqxx::work w(c);
    w.exec(sql);
    w.commit();
  }
  std::string url_;
  std::string name_;
};

WalEntry Entry(const std::string& body) {
  WalEntry e;
  e.tenant = "t";
  e.database = "d";
  e.collection = "c";
  e.kind = "add";
  e.method = "POST";
  e.path = "/x";
  e.body = body;
  return e;
}

Status AppendOne(WalStore& store, const std::string& body, int64_t* seq = nullptr) {
  std::vector<WalEntry> batch = {Entry(body)};
  Status s = store.Append(&batch);
  if (seq != nullptr) *seq = batch[0].seq;
  return s;
}

TEST(PostgresDeadline, BlackholedServerFailsEveryCallInTimeThenRecovers) {
  const char* env = TestDatabaseUrlOrNull();
  if (env == nullptr) return;  // no database configured (and none required)
  UrlParts parts;
  ASSERT_TRUE(ParseUrl(env, &parts)) << "cannot parse " << env;
  TestSchema schema(env);
  TcpRelay relay(parts.host == "localhost" ? "127.0.0.1" : parts.host, parts.port);
  ASSERT_GT(relay.port(), 0);
  const std::string via_relay =
      parts.before + "127.0.0.1:" + std::to_string(relay.port()) + parts.after;
  PostgresWalStore store(schema.Url(via_relay, "deadline_relay"), kTimeout);
  ASSERT_TRUE(store.Open().ok());
  int64_t seq = 0;
  ASSERT_TRUE(AppendOne(store, "before", &seq).ok());

  relay.SetBlackhole(true);
  // Two calls at once on the open connection: the one that gets the store is cut by the
  // watchdog (T + T/4), the other gives up waiting for it at T ("store busy").
  Timed first[2];
  {
    std::thread other([&] { first[1] = Time([&] { return store.Get(seq).status(); }); });
    first[0] = Time([&] { return AppendOne(store, "during"); });
    other.join();
  }
  bool busy = false;
  for (const Timed& t : first) {
    EXPECT_TRUE(t.status.retryable()) << t.status.ToString();
    EXPECT_LT(t.elapsed, kTimeout + milliseconds(750)) << t.status.ToString();
    busy = busy || t.status.message().find("store busy") != std::string::npos;
    std::cout << "[ deadline ] blackholed, open connection: " << t.elapsed.count()
              << " ms: " << t.status.ToString() << "\n";
  }
  EXPECT_TRUE(busy) << "one of two concurrent calls should have waited for the other";
  // The next calls must reconnect through the blackhole: bounded by connect_timeout (2 s,
  // libpq's minimum), or refused at once inside the reconnect back-off window.
  milliseconds longest{0};
  for (int i = 0; i < 4; ++i) {
    const Timed t = Time([&] { return store.CountByState().status(); });
    EXPECT_TRUE(t.status.retryable()) << t.status.ToString();
    EXPECT_LT(t.elapsed, milliseconds(2000) + milliseconds(750)) << t.status.ToString();
    longest = std::max(longest, t.elapsed);
    std::cout << "[ deadline ] blackholed, reconnecting: " << t.elapsed.count()
              << " ms: " << t.status.ToString() << "\n";
  }

  relay.SetBlackhole(false);
  const auto thaw = Clock::now();
  Status recovered = Status::Unavailable("not tried");
  while (Clock::now() - thaw < std::chrono::seconds(15)) {  // back-off is at most 5 s
    recovered = store.CountByState().status();
    if (recovered.ok()) break;
    std::this_thread::sleep_for(milliseconds(20));  // polling a condition, with a deadline
  }
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  std::cout << "[ deadline ] working again "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - thaw).count()
            << " ms after the relay forwards again\n";
  int64_t after = 0;
  ASSERT_TRUE(AppendOne(store, "after", &after).ok());
  EXPECT_GT(after, seq);
  Result<WalEntry> got = store.Get(seq);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->body, "before");
}

TEST(PostgresDeadline, BlockedStatementTimesOutOnTheServerAndKeepsTheConnection) {
  const char* env = TestDatabaseUrlOrNull();
  if (env == nullptr) return;
  TestSchema schema(env);
  const std::string app = "deadline_lock_" + std::to_string(getpid());
  PostgresWalStore store(schema.Url(env, app), kTimeout);
  ASSERT_TRUE(store.Open().ok());
  ASSERT_TRUE(AppendOne(store, "one").ok());
  pqxx::connection other(env);
  const auto backend_pid = [&] {
    pqxx::nontransaction t(other);
    return t.exec1("SELECT pid FROM pg_stat_activity WHERE application_name = " + t.quote(app))[0]
        .as<int>();
  };
  const int pid_before = backend_pid();
  {
    pqxx::nontransaction t(other);  // hold the append lock: Append waits for it on the server
    t.exec("SELECT pg_advisory_lock(" + std::to_string(kAppendLockKey) + ")");
  }
  const Timed blocked = Time([&] { return AppendOne(store, "blocked"); });
  {
    pqxx::nontransaction t(other);
    t.exec("SELECT pg_advisory_unlock(" + std::to_string(kAppendLockKey) + ")");
  }
  EXPECT_EQ(blocked.status.code(), StatusCode::kUnavailable) << blocked.status.ToString();
  EXPECT_NE(blocked.status.message().find("statement timeout"), std::string::npos)
      << blocked.status.ToString();
  EXPECT_GE(blocked.elapsed, kTimeout - milliseconds(50));
  EXPECT_LT(blocked.elapsed, kTimeout + milliseconds(750));
  std::cout << "[ deadline ] append behind a held lock: " << blocked.elapsed.count()
            << " ms: " << blocked.status.ToString() << "\n";
  ASSERT_TRUE(AppendOne(store, "two").ok());
  EXPECT_EQ(backend_pid(), pid_before);  // the same session: nothing was reconnected
}

}  // namespace
}  // namespace chroma_ha::conformance
