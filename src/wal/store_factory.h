// Chooses and opens the WAL store for a configuration: PostgreSQL when `database_url` is set,
// otherwise SQLite at `wal_path` (parent directories created). The returned store is open
// (schema created or migrated) and config.instances are registered (WalStore::RegisterInstances).
// PostgreSQL calls are bounded by config.wal_store_timeout (WAL_STORE_TIMEOUT_MS).
// Errors: whatever Open() or RegisterInstances() returned (kUnavailable when the database cannot
// be reached); messages never contain the database password.
#ifndef CHROMA_HA_WAL_STORE_FACTORY_H_
#define CHROMA_HA_WAL_STORE_FACTORY_H_

#include <memory>

#include "chroma_ha/config.h"
#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"

namespace chroma_ha {

Result<std::unique_ptr<WalStore>> OpenWalStore(const Config& config);

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_STORE_FACTORY_H_
