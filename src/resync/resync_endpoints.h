// POST and GET /admin/instances/{name}/resync (ADMIN_TOKEN: the router guards /admin/*), for
// each configured instance, and the resync families of /metrics (docs/design.md "Resync").
//
// POST, optional body {"source": NAME} (default the primary; the first replica for the
// primary itself) and, as an extension, {"tenants": [NAME, ...]} (tenants to copy besides
// default_tenant and those the identity map knows: Chroma cannot list tenants): 202 with the
// state object when a resync started, 200 with the running one's state when one is running
// already; 400 for a bad body, an unknown source or the instance itself as source; 503 when
// the WAL store cannot record it. GET: 200 with the state object ("idle" if none ever ran).
// An unknown instance: 404 (no such endpoint). Store calls run on `wal_threads`.
#ifndef CHROMA_HA_RESYNC_RESYNC_ENDPOINTS_H_
#define CHROMA_HA_RESYNC_RESYNC_ENDPOINTS_H_

#include <prometheus/metric_family.h>

#include <boost/asio/thread_pool.hpp>
#include <vector>

#include "chroma_ha/config.h"
#include "resync/resync_manager.h"
#include "server/own_endpoints.h"

namespace chroma_ha {

void RegisterResyncEndpoints(OwnEndpoints& own, const Config& config, ResyncManager& manager,
                             boost::asio::thread_pool& wal_threads);

// The /status "resync" section: the resyncs this process runs or started (from memory: /status
// never waits on the store); the dashboard draws their progress.
nlohmann::json ResyncStatusJson(const ResyncManager& manager);

// chroma_ha_resync_* gauges and counters, per instance.
void AddResyncFamilies(const ResyncManager& manager, std::vector<prometheus::MetricFamily>* out);

}  // namespace chroma_ha

#endif  // CHROMA_HA_RESYNC_RESYNC_ENDPOINTS_H_
