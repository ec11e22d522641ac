// The PostgreSQL store after its connection dies: the call that finds it dead returns
// kUnavailable, the next call reconnects. Runs when CHROMA_HA_TEST_DATABASE_URL is set.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <pqxx/pqxx>
#include <string>

#include "fakes/test_database.h"
#include "wal/postgres_store.h"

namespace chroma_ha {
namespace {

TEST(PostgresReconnect, DeadConnectionIsUnavailableThenReconnects) {
  const char* env = TestDatabaseUrlOrNull();
  if (env == nullptr) return;  // no database configured (and none required)
  const std::string url = env;
  const std::string app = "reconnect_test_" + std::to_string(getpid());
  const std::string schema = "reconnect_" + std::to_string(getpid());
  const char sep = url.find('?') == std::string::npos ? '?' : '&';
  {
    pqxx::connection c(url);
    pqxx::work w(c);
    w.exec("CREATE SCHEMA " + schema);
    w.commit();
  }
  {
    PostgresWalStore store(url + sep + "application_name=" + app + "&options=-csearch_path%3D" +
                           schema);
    ASSERT_TRUE(store.Open().ok());
    std::vector<WalEntry> batch(1);
    batch[0].body = std::string("a\0b", 3);
    ASSERT_TRUE(store.Append(&batch).ok());

    {  // Kill the store's backend from outside, as a server restart or network cut would.
      pqxx::connection c(url);
      pqxx::work w(c);
      const pqxx::result r = w.exec(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = " +
          w.quote(app));
      w.commit();
      ASSERT_EQ(r.size(), 1u);
    }
    Result<WalEntry> first = store.Get(batch[0].seq);
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.status().code(), StatusCode::kUnavailable) << first.status().ToString();
    Result<WalEntry> second = store.Get(batch[0].seq);
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(second->body, std::string("a\0b", 3));
  }
  pqxx::connection c(url);
  pqxx::work w(c);
  w.exec("DROP SCHEMA " + schema + " CASCADE");
  w.commit();
}

TEST(PostgresReconnect, UnreachableServerBacksOffWithoutThrowing) {
  PostgresWalStore store("postgresql://u:pw-secret@127.0.0.1:1/db");
  const Status first = store.Open();
  EXPECT_EQ(first.code(), StatusCode::kUnavailable);
  EXPECT_EQ(first.message().find("pw-secret"), std::string::npos);
  // Inside the back-off window: refused at once, without a connection attempt.
  const Status second = store.CountByState().status();
  EXPECT_EQ(second.code(), StatusCode::kUnavailable);
  EXPECT_NE(second.message().find("next reconnect"), std::string::npos) << second.message();
}

}  // namespace
}  // namespace chroma_ha
