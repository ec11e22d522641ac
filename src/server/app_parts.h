// App's parts (what App owns, in construction order) and the small helpers they use; shared by
// src/server/app.cc (start, reload, stop) and src/server/app_wal.cc (the WAL, sync worker,
// recovery and maintenance). Internal to those two files.
#ifndef CHROMA_HA_SERVER_APP_PARTS_H_
#define CHROMA_HA_SERVER_APP_PARTS_H_

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <thread>

#include "alerts/proxy_alerts.h"
#include "auth/client_auth.h"
#include "collections/collection_map.h"
#include "collections/shared_identity.h"
#include "metrics/metrics.h"
#include "metrics/process_stats.h"
#include "resync/resync_endpoints.h"
#include "resync/resync_manager.h"
#include "server/app.h"
#include "server/async_util.h"
#include "server/causal_reads.h"
#include "server/collection_resolver.h"
#include "server/dashboard.h"
#include "server/fleet_order.h"
#include "server/identity_persister.h"
#include "server/listener.h"
#include "server/listener_tls.h"
#include "server/metrics_endpoint.h"
#include "server/own_endpoints.h"
#include "server/router.h"
#include "server/store_snapshot.h"
#include "server/wal_endpoints.h"
#include "server/write_path.h"
#include "sync/collection_ids.h"
#include "sync/lease_keeper.h"
#include "sync/sync_worker.h"
#include "upstream/blocking_client.h"
#include "upstream/upstream_pool.h"
#include "verify/anti_entropy_service.h"
#include "wal/group_commit.h"
#include "wal/store_factory.h"

namespace chroma_ha {

namespace app_internal {

namespace asio = boost::asio;

// The sync worker's view of the identity map; changes are persisted like the router's (through
// the store first when the identity is shared: the sync worker runs off the event loop).
class MapCollectionIds final : public CollectionIds {
 public:
  MapCollectionIds(CollectionMap& map, std::function<void(const MapChange&)> persist,
                   SharedIdentity* shared)
      : map_(map), persist_(std::move(persist)), shared_(shared) {}
  std::optional<std::string> IdOn(const std::string& tenant, const std::string& database,
                                  const std::string& name, const std::string& instance) override {
    return map_.IdOn({tenant, database, name}, instance);
  }
  void Learn(const std::string& tenant, const std::string& database, const std::string& name,
             const std::string& instance, const std::string& id) override {
    if (shared_ && !id.empty() && shared_->See({tenant, database, name}, instance, id).ok()) {
      return;
    }
    auto learned = map_.Learn({tenant, database, name}, instance, id);
    if (learned.changed && persist_) persist_(learned.change);
  }

 private:
  CollectionMap& map_;
  std::function<void(const MapChange&)> persist_;
  SharedIdentity* shared_;  // null: process-local identity
};

// Event-loop threads: THREADS, 0 = one per core.
inline int EventLoopThreads(const Config& config) {
  const int threads =
      config.threads > 0 ? config.threads : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(threads, 1);
}

// A timer due within a second, kept on each worker: Asio re-arms its timerfd (a system call)
// whenever a new timer becomes the earliest one, which, without this, is nearly every I/O
// deadline of a lone busy connection (several per request). Deadlines stay exact: a timer due
// before the beat is still the earliest and arms the timerfd itself.
class TimerBeat {
 public:
  explicit TimerBeat(asio::io_context& ioc) : timer_(ioc) {}
  void Start() {
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Start();
    });
  }
  void Stop() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

// The event-loop workers, one io_context per thread: `ioc` (run by the caller of App) is worker 0,
// the others are created here and run by threads App starts.
struct Workers {
  Workers(asio::io_context& ioc, int count) {
    all.push_back(&ioc);
    for (int i = 1; i < count; ++i) {
      own.push_back(std::make_unique<asio::io_context>(1));
      all.push_back(own.back().get());
    }
    for (asio::io_context* worker : all) beats.push_back(std::make_unique<TimerBeat>(*worker));
  }
  std::vector<std::unique_ptr<asio::io_context>> own;
  std::vector<asio::io_context*> all;
  std::vector<std::unique_ptr<TimerBeat>> beats;  // one per worker, on it
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
};

}  // namespace app_internal

struct App::Parts {
  Parts(boost::asio::io_context& ioc, const Config& config, const Clock& clock)
      : config(config),
        clock(clock),
        workers(ioc, app_internal::EventLoopThreads(config)),
        wal_threads(2),
        recovery_thread(1),
        causal_thread(1),
        upstreams(ioc.get_executor(), config, clock, workers.all),
        resolver(config, upstreams, map, [this](const MapChange& c) { Persist(c); }),
        own(config, upstreams, clock),
        metrics(InstanceNames(config)),
        start_ms(clock.UnixMillis()),
        maintenance(ioc),
        reload_signals(ioc, SIGHUP) {}

  static std::vector<std::string> InstanceNames(const Config& config) {
    std::vector<std::string> names;
    for (const auto& inst : config.instances) names.push_back(inst.name);
    return names;
  }

  // Queues identity-map changes for the store: written off the event loop (and off the WAL
  // threads) by the persister's thread, and kept, retried, until the store takes them.
  void Persist(const MapChange& change) {
    if (identities) (void)identities->Enqueue(change);  // a refusal is counted and logged
  }

  const Config& config;
  const Clock& clock;
  app_internal::Workers
      workers;  // first: destroyed last, after everything that has sockets on them
  boost::asio::thread_pool wal_threads;  // blocking store calls of the request path (outcomes, ...)
  // Recovery's blocking HTTP to the instances: never on the threads that record outcomes.
  boost::asio::thread_pool recovery_thread;
  // The read_store's calls (causal and fresh reads, fleet order, shared identity), one at a time.
  boost::asio::thread_pool causal_thread;
  std::unique_ptr<WalStore> store;
  std::unique_ptr<WalStore> read_store;    // PostgreSQL: a second connection for reads' checks
  std::unique_ptr<WalStore> replay_store;  // PostgreSQL: the sync worker's own connection
  std::unique_ptr<IdentityPersister> identities;    // identity-map writes (Persist)
  std::unique_ptr<SharedIdentity> shared_identity;  // PostgreSQL: the fleet's identity map
  std::unique_ptr<StoreSnapshotCache> snapshot;     // what /wal/status and /metrics show
  std::unique_ptr<GroupCommitter> committer;
  UpstreamSet upstreams;
  CollectionMap map;
  CollectionResolver resolver;
  OwnEndpoints own;
  Metrics metrics;
  int64_t start_ms;
  std::vector<std::unique_ptr<BlockingInstanceClient>> clients;
  std::unique_ptr<app_internal::MapCollectionIds> sync_ids;
  std::unique_ptr<PressureGauge> pressure;
  std::unique_ptr<LeaseKeeper> leases;  // replay and recovery leases (docs/design.md "Fleet")
  // Bodies the write path validated, for replay coalescing (before `sync` and `writes`, which
  // use it, so it outlives them).
  ValidatedBodies validated;
  std::unique_ptr<SyncWorker> sync;
  std::unique_ptr<ResyncManager> resync;  // POST /admin/instances/{name}/resync, AUTO_RESYNC
  std::unique_ptr<WritePath> writes;
  std::unique_ptr<ClientAuth> client_auth;  // null: no client auth configured
  std::unique_ptr<CausalReads> causal;      // X-Chroma-HA-Min-Seq (with the WAL only)
  std::unique_ptr<FleetOrder> fleet_order;  // PostgreSQL: WAL order across processes
  std::unique_ptr<Router> router;
  std::unique_ptr<Listener> listener;
  boost::asio::steady_timer maintenance;
  boost::asio::signal_set reload_signals;  // SIGHUP: Reload() (client credentials, listener TLS)
  bool stopped = false;
  std::unique_ptr<ProxyAlerts> alerts;  // health listener, Maintenance() rules, webhooks
  std::unique_ptr<AntiEntropyService> anti_entropy;  // VERIFY_INTERVAL; null when off
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_APP_PARTS_H_
