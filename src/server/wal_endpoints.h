// The WAL's own endpoints (DESIGN.md §5): GET /wal/status, GET /wal/stats, a "wal" section in
// /health and /status, and the admin actions POST /admin/wal/retry and POST /admin/wal/skip
// (ADMIN_TOKEN required; 403 when no token is configured, 401 when it is missing or wrong).
//
// /wal/status answers from the StoreSnapshotCache: it asks for a refresh and waits at most
// kSnapshotBudget for it, so it answers within ~50 ms even while the store hangs, with
// "store_snapshot": {"as_of_ms", "age_ms", "stale", "error", "refreshing_for_ms"} saying how
// old what it shows is. /wal/stats and the sections read only in-memory counters.
// With a LeaseKeeper (always, when the WAL is on), /wal/status also has "member" (this
// process's id), "lease_ttl_ms", "leases" (name, holder, term, expires_in_ms, live, mine) and
// "members" (id, first/last seen, age_ms, live: seen within 3 x TTL), as read from the store at
// the keeper's last tick (no store call on the request), and "leases_error".
#ifndef CHROMA_HA_SERVER_WAL_ENDPOINTS_H_
#define CHROMA_HA_SERVER_WAL_ENDPOINTS_H_

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>

#include "chroma_ha/config.h"
#include "chroma_ha/wal_store.h"
#include "server/identity_persister.h"
#include "server/own_endpoints.h"
#include "server/store_snapshot.h"
#include "server/write_path.h"
#include "sync/sync_worker.h"
#include "wal/group_commit.h"

namespace chroma_ha {

// How long an own endpoint waits for a store snapshot newer than its request.
// Under the 100 ms the own endpoints promise; a healthy store answers the three reads in a
// few ms.
inline constexpr std::chrono::milliseconds kSnapshotBudget{50};

// What the WAL endpoints read. Every pointer must outlive `own`; `identities` may be null.
struct WalEndpointSources {
  const Config* config = nullptr;
  WalStore* store = nullptr;  // Kind() only; reads go through `snapshot`
  SyncWorker* sync = nullptr;
  WritePath* writes = nullptr;
  const GroupCommitter* committer = nullptr;
  StoreSnapshotCache* snapshot = nullptr;
  const IdentityPersister* identities = nullptr;
  boost::asio::thread_pool* wal_threads = nullptr;  // admin actions run there
  const Clock* clock = nullptr;
  const LeaseKeeper* leases = nullptr;  // may be null: no lease fields
  // Fields merged into /wal/status when set (the anti-entropy checker's "anti_entropy").
  std::function<nlohmann::json()> extra_status;
};

void RegisterWalEndpoints(OwnEndpoints& own, WalEndpointSources sources);

// The bodies, exposed for tests.
nlohmann::json WalStatsJson(const WalEndpointSources& s);
// The lease fields of /wal/status (see above), merged into `body`.
void AddLeaseFields(const LeaseKeeper::View& view, nlohmann::json& body);
// "store_snapshot" of /wal/status.
nlohmann::json SnapshotJson(const StoreSnapshot& snapshot);
// Store errors by operation, summed over the sync worker, identity persistence and snapshot
// refreshes ("snapshot").
std::map<std::string, int64_t> StoreErrorCounts(const SyncStats& sync,
                                                const IdentityPersister* identities,
                                                const StoreSnapshot& snapshot);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_WAL_ENDPOINTS_H_
