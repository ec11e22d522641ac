// GET /metrics: the Prometheus text exposition. Request-path instruments come from Metrics;
// everything else is read from the components' own counters at scrape time; the WAL backlog and
// blocked collections come from the StoreSnapshotCache (never a store call on the request: the
// scrape answers while the store hangs, with chroma_ha_wal_store_up 0 and the snapshot's age).
#ifndef CHROMA_HA_SERVER_METRICS_ENDPOINT_H_
#define CHROMA_HA_SERVER_METRICS_ENDPOINT_H_

#include <functional>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/wal_store.h"
#include "metrics/metrics.h"
#include "server/identity_persister.h"
#include "server/own_endpoints.h"
#include "server/store_snapshot.h"
#include "upstream/upstream.h"

namespace chroma_ha {

struct RouterStats;
struct ListenerStats;
class SyncWorker;
class WritePath;
class GroupCommitter;
struct AlertStats;
struct CausalReadStats;

// What /metrics reads. Every pointer must outlive the endpoint; the WAL ones are null when
// the WAL is off.
struct MetricsSources {
  const Config* config = nullptr;
  const Clock* clock = nullptr;
  Metrics* metrics = nullptr;
  const Upstreams* upstreams = nullptr;
  const RouterStats* router = nullptr;
  const ListenerStats* listener = nullptr;
  WalStore* store = nullptr;
  StoreSnapshotCache* snapshot = nullptr;  // set when `store` is
  const IdentityPersister* identities = nullptr;
  const SyncWorker* sync = nullptr;
  const WritePath* writes = nullptr;
  const GroupCommitter* committer = nullptr;
  const AlertStats* alerts = nullptr;  // null: no alert counters
  const CausalReadStats* causal = nullptr;  // null: no causal reads (no WAL)
  int64_t start_ms = 0;
  // More scrape-time families when set (the anti-entropy checker's).
  std::function<void(std::vector<prometheus::MetricFamily>*)> extra_families;
};

void RegisterMetricsEndpoint(OwnEndpoints& own, MetricsSources sources);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_METRICS_ENDPOINT_H_
