#include "wal/store_factory.h"
#include "fakes/test_database.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace chroma_ha {
namespace {

TEST(StoreFactory, SqliteWhenNoDatabaseUrl) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("chroma-ha-factory-" + std::to_string(getpid()));
  Config config;
  config.wal_path = (dir / "a" / "b" / "wal.sqlite3").string();
  Result<std::unique_ptr<WalStore>> store = OpenWalStore(config);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_STREQ((*store)->Kind(), "sqlite");
  EXPECT_TRUE(std::filesystem::exists(config.wal_path));
  store = Status::Internal("closed");
  std::filesystem::remove_all(dir);
}

TEST(StoreFactory, UnreachablePostgresIsUnavailableAndHidesThePassword) {
  Config config;
  // Port 1 on loopback: connection refused at once.
  config.database_url = "postgresql://user:s3cret-pw@127.0.0.1:1/db";
  Result<std::unique_ptr<WalStore>> store = OpenWalStore(config);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store.status().message().find("s3cret-pw"), std::string::npos)
      << store.status().message();
}

TEST(StoreFactory, PostgresWhenDatabaseUrlIsSet) {
  const char* url = TestDatabaseUrlOrNull();
  if (url == nullptr) return;  // no database configured (and none required)
  Config config;
  config.database_url = url;
  Result<std::unique_ptr<WalStore>> store = OpenWalStore(config);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_STREQ((*store)->Kind(), "postgres");
}

}  // namespace
}  // namespace chroma_ha
