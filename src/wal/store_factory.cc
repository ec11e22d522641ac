#include "wal/store_factory.h"

#include "wal/postgres_store.h"
#include "wal/sqlite_store.h"

namespace chroma_ha {

Result<std::unique_ptr<WalStore>> OpenWalStore(const Config& config) {
  std::unique_ptr<WalStore> store;
  if (!config.database_url.empty()) {
    store = std::make_unique<PostgresWalStore>(config.database_url, config.wal_store_timeout);
  } else {
    store = std::make_unique<SqliteWalStore>(config.wal_path);
  }
  if (Status s = store->Open(); !s.ok()) {
    if (s.code() == StatusCode::kUnavailable) {
      return Status::Unavailable(std::string("opening the ") + store->Kind() +
                                 " WAL store: " + s.message());
    }
    return s;  // permanent: keep its code (e.g. a schema newer than this build)
  }
  std::vector<std::string> instances;
  for (const InstanceConfig& instance : config.instances) instances.push_back(instance.name);
  if (Status s = store->RegisterInstances(instances); !s.ok()) return s;
  return store;
}

}  // namespace chroma_ha
