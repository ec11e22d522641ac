// The WAL's own endpoints (DESIGN.md §5): GET /wal/status, GET /wal/stats, a "wal" section in
// /health and /status, and the admin actions POST /admin/wal/retry and POST /admin/wal/skip
// (ADMIN_TOKEN required; 403 when no token is configured, 401 when it is missing or wrong).
#ifndef CHROMA_HA_SERVER_WAL_ENDPOINTS_H_
#define CHROMA_HA_SERVER_WAL_ENDPOINTS_H_

#include <boost/asio/thread_pool.hpp>

#include "chroma_ha/config.h"
#include "chroma_ha/wal_store.h"
#include "server/own_endpoints.h"
#include "server/write_path.h"
#include "sync/sync_worker.h"
#include "wal/group_commit.h"

namespace chroma_ha {

// Every reference must outlive `own`. Store calls run on `wal_threads`.
void RegisterWalEndpoints(OwnEndpoints& own, const Config& config, WalStore& store,
                          SyncWorker& sync, WritePath& writes, GroupCommitter& committer,
                          boost::asio::thread_pool& wal_threads, const Clock& clock);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_WAL_ENDPOINTS_H_
