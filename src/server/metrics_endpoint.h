// GET /metrics: the Prometheus text exposition. Request-path instruments come from Metrics;
// everything else is read from the components' own counters at scrape time (one WAL store read
// for the backlog, off the event loop).
#ifndef CHROMA_HA_SERVER_METRICS_ENDPOINT_H_
#define CHROMA_HA_SERVER_METRICS_ENDPOINT_H_

#include <boost/asio/thread_pool.hpp>

#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/wal_store.h"
#include "metrics/metrics.h"
#include "server/own_endpoints.h"
#include "upstream/upstream.h"

namespace chroma_ha {

struct RouterStats;
struct ListenerStats;
class SyncWorker;
class WritePath;
class GroupCommitter;
struct AlertStats;

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
  const SyncWorker* sync = nullptr;
  const WritePath* writes = nullptr;
  const GroupCommitter* committer = nullptr;
  boost::asio::thread_pool* wal_threads = nullptr;
  const AlertStats* alerts = nullptr;  // null: no alert counters
  int64_t start_ms = 0;
};

void RegisterMetricsEndpoint(OwnEndpoints& own, MetricsSources sources);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_METRICS_ENDPOINT_H_
