#include "server/app.h"

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

namespace asio = boost::asio;

namespace {

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
int EventLoopThreads(const Config& config) {
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

}  // namespace

struct App::Parts {
  Parts(asio::io_context& ioc, const Config& config, const Clock& clock)
      : config(config),
        clock(clock),
        workers(ioc, EventLoopThreads(config)),
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
  Workers workers;  // first: destroyed last, after everything that has sockets on them
  asio::thread_pool wal_threads;  // blocking store calls of the request path (outcomes, ...)
  // Recovery's blocking HTTP to the instances: never on the threads that record outcomes.
  asio::thread_pool recovery_thread;
  // The read_store's calls (causal and fresh reads, fleet order, shared identity), one at a time.
  asio::thread_pool causal_thread;
  std::unique_ptr<WalStore> store;
  std::unique_ptr<WalStore> read_store;  // PostgreSQL: a second connection for reads' checks
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
  std::unique_ptr<MapCollectionIds> sync_ids;
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
  asio::steady_timer maintenance;
  asio::signal_set reload_signals;  // SIGHUP: Reload() (client credentials, listener TLS)
  bool stopped = false;
  std::unique_ptr<ProxyAlerts> alerts;  // health listener, Maintenance() rules, webhooks
  std::unique_ptr<AntiEntropyService> anti_entropy;  // VERIFY_INTERVAL; null when off
};

App::App(asio::io_context& ioc, const Config& config, const Clock& clock)
    : ioc_(ioc), parts_(std::make_unique<Parts>(ioc, config, clock)) {}

App::~App() { Stop(); }

Status App::StartWal() {
  Parts& p = *parts_;
  const Config& config = p.config;
  auto store = OpenWalStore(config);
  if (!store.ok()) return store.status();
  p.store = std::move(store).value();
  spdlog::info("WAL: {} store open ({})", p.store->Kind(),
               config.database_url.empty() ? config.wal_path : RedactUrl(config.database_url));
  if (!config.database_url.empty()) {
    // The reads' store checks (causal and fresh reads) on a connection of their own, so they
    // never wait behind the write path's calls (nor it behind them).
    auto reads = OpenWalStore(config);
    if (!reads.ok()) return reads.status();
    p.read_store = std::move(reads).value();
    // A fleet shares one identity map: the store's (docs/design.md "One identity for the fleet").
    p.shared_identity = std::make_unique<SharedIdentity>(*p.read_store, p.map);
    p.resolver.ShareIdentity(*p.shared_identity, p.causal_thread);
    // Replay's page reads and marks on a connection of their own: on the shared one each waited
    // behind the write path's commits (replication lag under a steady write rate).
    auto replay = OpenWalStore(config);
    if (!replay.ok()) return replay.status();
    p.replay_store = std::move(replay).value();
  }
  p.committer = std::make_unique<GroupCommitter>(p.store.get(), config.wal_high_volume_batch_size,
                                                 config.wal_queue_limit);
  p.identities = std::make_unique<IdentityPersister>(*p.store);
  p.identities->Start();
  p.snapshot =
      std::make_unique<StoreSnapshotCache>(*p.store, Parts::InstanceNames(config), p.clock);

  std::vector<InstanceClient*> raw;
  for (const auto& inst : config.instances) {
    p.clients.push_back(std::make_unique<BlockingInstanceClient>(inst, config.connect_timeout,
                                                                 config.request_timeout));
    raw.push_back(p.clients.back().get());
  }
  p.sync_ids = std::make_unique<MapCollectionIds>(
      p.map, [&p](const MapChange& c) { p.Persist(c); }, p.shared_identity.get());
  p.pressure =
      std::make_unique<PressureGauge>(config.wal_memory_threshold, config.wal_cpu_threshold);
  p.sync = std::make_unique<SyncWorker>(config, p.replay_store ? *p.replay_store : *p.store, raw,
                                        *p.sync_ids, p.clock,
                                        [&p] { return p.pressure->UnderPressure(); });
  std::vector<std::string> lease_names = {kRecoveryLease};
  for (const auto& inst : config.instances) lease_names.push_back(ReplayLeaseName(inst.name));
  p.leases = std::make_unique<LeaseKeeper>(*p.store, LeaseKeeper::MakeMemberId(), lease_names,
                                           config.lease_ttl, p.clock);
  p.leases->Tick();  // take what is free before the first round and the recovery below
  std::string held;
  for (const auto& name : lease_names) {
    if (p.leases->Holding(name)) held += (held.empty() ? "" : ", ") + name;
  }
  spdlog::info("WAL: this process is member {}; leases held: {}", p.leases->member(),
               held.empty() ? "none (other members hold them)" : held);
  p.sync->SetLeases(p.leases.get());
  ResyncManager::Deps resync;
  resync.config = &config;
  resync.store = p.store.get();
  resync.instances = raw;
  resync.ids = p.sync_ids.get();
  resync.leases = p.leases.get();
  resync.alerts = p.alerts ? &p.alerts->sink() : nullptr;
  resync.clock = &p.clock;
  resync.identities = [&p] { return p.map.Snapshot(); };
  resync.healthy = [&p](size_t i) { return p.upstreams.Snapshot(i).healthy; };
  resync.on_finished = [&p] { p.sync->Notify(); };
  p.resync = std::make_unique<ResyncManager>(std::move(resync));
  p.sync->SetPaused([r = p.resync.get()](const std::string& i) { return r->Resyncing(i); });
  p.writes = std::make_unique<WritePath>(config, p.upstreams, p.resolver, *p.store, *p.committer,
                                         p.wal_threads, [&p] { p.sync->Notify(); });
  p.writes->SetValidatedBodies(&p.validated);
  p.sync->SetValidatedBodies(&p.validated);
  p.sync->SetOnApplied(
      [&p](const WalEntry& e, const std::string& instance) { p.writes->OnApplied(e, instance); });
  if (auto s = p.writes->Load(); !s.ok()) return s;
  // Recovery at start, before serving: a killed previous run's pending entries must be resolved
  // before new writes of their collections are. Its recovery lease expires within a TTL: wait
  // for it (bounded). "At start" (resolve even the youngest pending entries) only where no other
  // process can be forwarding them: SQLite (one process per file), or no other member alive.
  if (p.leases->AwaitLease(kRecoveryLease,
                           config.lease_ttl * 4 / 3 + std::chrono::milliseconds(500))) {
    spdlog::info("WAL: recovery lease held at start");
  }
  const bool sole_process = std::string(p.store->Kind()) == "sqlite" || !p.leases->OthersAlive();
  if (auto fence = p.leases->Holding(kRecoveryLease)) {
    if (auto s = p.writes->ResolveUnresolved(raw, sole_process, *fence); !s.ok()) {
      spdlog::warn("WAL recovery incomplete, will retry: {}", s.ToString());
    }
  }
  WalEndpointSources wal;
  wal.config = &config;
  wal.store = p.store.get();
  wal.sync = p.sync.get();
  wal.writes = p.writes.get();
  wal.committer = p.committer.get();
  wal.snapshot = p.snapshot.get();
  wal.identities = p.identities.get();
  wal.wal_threads = &p.wal_threads;
  wal.clock = &p.clock;
  wal.leases = p.leases.get();
  wal.extra_status = [&p] {  // p.anti_entropy is set by Start() before serving
    return p.anti_entropy ? nlohmann::json{{"anti_entropy", p.anti_entropy->StatusJson()}}
                          : nlohmann::json::object();
  };
  RegisterWalEndpoints(p.own, wal);
  RegisterResyncEndpoints(p.own, config, *p.resync, p.wal_threads);
  p.own.AddStatusSection(
      "resync", [r = p.resync.get()] { return ResyncStatusJson(*r); }, false);
  p.snapshot->Start();
  p.leases->Start();
  p.resync->Start();  // before the sync worker: a stored running resync pauses its replay
  p.sync->Start();
  asio::co_spawn(ioc_, Maintenance(), asio::detached);
  return Status::Ok();
}

asio::awaitable<void> App::Maintenance() {
  Parts& p = *parts_;
  std::vector<InstanceClient*> raw;
  for (auto& c : p.clients) raw.push_back(c.get());
  std::vector<std::string> names;
  for (const auto& inst : p.config.instances) names.push_back(inst.name);
  int64_t last_prune_ms = 0;
  while (!p.stopped) {
    p.maintenance.expires_after(p.config.wal_sync_interval);
    auto [ec] = co_await p.maintenance.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || p.stopped) break;
    // Recovery and pruning: only in the holder of the recovery lease, under its fence.
    const std::optional<Fence> fence = p.leases->Holding(kRecoveryLease);
    if (fence) {
      Status s = co_await RunBlocking(
          p.recovery_thread, [&] { return p.writes->ResolveUnresolved(raw, false, *fence); });
      if (!s.ok()) spdlog::warn("WAL recovery: {}", s.ToString());
    }
    const int64_t now = p.clock.UnixMillis();
    if (fence && now - last_prune_ms > 60'000) {
      last_prune_ms = now;
      const int64_t before = now - int64_t{p.config.wal_retention_hours} * 3'600'000;
      auto pruned = co_await RunBlocking(p.wal_threads,
                                         [&] { return p.store->Prune(before, names, *fence); });
      if (pruned.ok() && *pruned > 0) spdlog::info("WAL: pruned {} old entries", *pruned);
    }
    std::vector<AlertObservation::Unresolved> unresolved;
    for (const auto& u : p.writes->Unresolved()) {
      unresolved.push_back({u.seq, u.tenant, u.database, u.collection, u.kind, u.error});
    }
    Status alerted = co_await RunBlocking(p.wal_threads, [&] {
      return p.alerts->Tick(p.store.get(), &p.writes->stats().wal_failures,
                            &p.router->stats().unknown_writes_forwarded, p.pressure.get(),
                            std::move(unresolved));
    });
    if (!alerted.ok()) spdlog::debug("alerts: WAL store read failed: {}", alerted.ToString());
  }
}

Status App::Start() {
  Parts& p = *parts_;
  p.resolver.EnableUnknownIdCache(p.clock);  // 5 s, 10,000 ids (server/unknown_ids.h)
  p.alerts = std::make_unique<ProxyAlerts>(p.config, p.clock);
  p.alerts->Start();
  // One listener slot: alerts see every change; the sync worker is woken when an instance is
  // back, so its backlog starts to drain at once instead of after a backoff or the interval.
  // (p.sync is set, or left null, by StartWal before the health checks start.)
  p.upstreams.SetHealthListener(
      [&p, alert = p.alerts->HealthListener()](std::size_t index, bool healthy) {
        alert(index, healthy);
        if (healthy && p.sync) p.sync->OnInstanceHealthy(index);
      });
  if (p.config.wal_enabled) {
    if (auto s = StartWal(); !s.ok()) return s;
  } else {
    spdlog::warn("WAL_ENABLED=false: writes are forwarded without a log and never replayed");
  }
  auto client_auth = ClientAuth::FromConfig(p.config, p.clock);
  if (!client_auth.ok()) return client_auth.status();
  p.client_auth = std::move(client_auth).value();
  if (p.client_auth) {
    spdlog::info("client auth on: {} token(s), header {}", p.client_auth->token_count(),
                 p.config.auth_x_chroma_token ? "X-Chroma-Token" : "Authorization: Bearer");
    p.client_auth->SetMetrics(&p.metrics);
  }
  p.router = std::make_unique<Router>(p.config, p.upstreams, p.resolver, p.own, p.writes.get());
  p.router->SetClientAuth(p.client_auth.get());
  if (p.resync) {
    p.router->SetReadExcluded([r = p.resync.get()](std::size_t i) { return r->ResyncingIndex(i); });
  }
  p.listener = std::make_unique<Listener>(p.workers.all, p.config, *p.router);
  StartTls();
  p.own.SetStats(&p.router->stats(), &p.listener->stats());
  p.router->SetMetrics(&p.metrics);
  if (p.store) {
    p.causal = std::make_unique<CausalReads>(
        p.config, p.upstreams, p.map, p.read_store ? *p.read_store : *p.store, p.causal_thread);
    p.router->SetCausalReads(p.causal.get());
    if (p.read_store) {
      p.fleet_order =
          std::make_unique<FleetOrder>(*p.read_store, p.causal_thread,
                                       [w = p.writes.get()](int64_t s) { return w->Carrying(s); });
      p.writes->SetFleetOrder(p.fleet_order.get());
      p.own.AddStatusSection(
          "fleet_order",
          [s = &p.fleet_order->stats()] {
            return nlohmann::json{{"checks", s->checks.load()},
                                  {"waits", s->waits.load()},
                                  {"polls", s->polls.load()},
                                  {"errors", s->errors.load()}};
          },
          false);
    }
    if (p.shared_identity) {
      p.own.AddStatusSection(
          "shared_identity",
          [s = &p.shared_identity->stats()] {
            return nlohmann::json{{"merges", s->merges.load()},   {"adopted", s->adopted.load()},
                                  {"lookups", s->lookups.load()}, {"found", s->found.load()},
                                  {"writes", s->writes.load()},   {"errors", s->errors.load()}};
          },
          false);
    }
    p.own.AddStatusSection(
        "causal_reads",
        [s = &p.causal->stats()] {
          return nlohmann::json{{"reads", s->reads.load()},
                                {"immediate", s->immediate.load()},
                                {"waited", s->waited.load()},
                                {"redirected", s->redirected.load()},
                                {"timeouts", s->timeouts.load()},
                                {"invalid", s->invalid.load()},
                                {"fresh_checks", s->fresh_checks.load()},
                                {"fresh_redirected", s->fresh_redirected.load()}};
        },
        false);
  }
  if (p.writes) p.writes->SetMetrics(&p.metrics);
  StartAntiEntropy();
  MetricsSources sources;
  sources.config = &p.config;
  sources.clock = &p.clock;
  sources.metrics = &p.metrics;
  sources.upstreams = &p.upstreams;
  sources.router = &p.router->stats();
  sources.listener = &p.listener->stats();
  sources.store = p.store.get();
  sources.snapshot = p.snapshot.get();
  sources.identities = p.identities.get();
  sources.sync = p.sync.get();
  sources.writes = p.writes.get();
  sources.committer = p.committer.get();
  sources.start_ms = p.start_ms;
  sources.alerts = &p.alerts->stats();
  sources.causal = p.causal ? &p.causal->stats() : nullptr;
  if (p.anti_entropy || p.resync) {
    sources.extra_families = [ae = p.anti_entropy.get(),
                              r = p.resync.get()](std::vector<prometheus::MetricFamily>* out) {
      if (ae != nullptr) ae->AddFamilies(out);
      if (r != nullptr) AddResyncFamilies(*r, out);
    };
  }
  RegisterMetricsEndpoint(p.own, sources);
  RegisterDashboard(p.own);
  p.upstreams.Start();
  if (auto s = p.listener->Start(); !s.ok()) return s;
  WatchReloadSignal();
  for (std::size_t i = 0; i < p.workers.all.size(); ++i) {
    asio::post(*p.workers.all[i], [beat = p.workers.beats[i].get()] { beat->Start(); });
  }
  for (auto& worker : p.workers.own) {
    p.workers.guards.push_back(asio::make_work_guard(*worker));
    p.workers.threads.emplace_back([w = worker.get()] { w->run(); });
  }
  spdlog::info(
      "chroma-ha {} listening on {}:{} (primary {}, {} replica(s), strategy {}, {} thread(s))",
      CHROMA_HA_VERSION, p.config.listen_address, p.listener->port(),
      p.config.instances.front().url, p.config.instances.size() - 1,
      StrategyName(p.config.strategy), p.workers.all.size());
  return Status::Ok();
}

void App::StartAntiEntropy() {
  Parts& p = *parts_;
  p.anti_entropy = AntiEntropyService::Create(
      p.config, p.store.get(), p.clock,
      // AUTO_REPAIR as a one-collection resync (replay paused, later writes replayed after
      // it in WAL order: a repair cannot undo a write that races it); the checker's thread
      // waits for it at most 5 s. Without the WAL: verify --repair's per-collection repair.
      p.resync ? AntiEntropyChecker::Repair([r = p.resync.get()](const std::string& instance,
                                                                 const std::string& tenant,
                                                                 const std::string& database,
                                                                 const std::string& collection) {
        return r->RepairCollection(instance, tenant, database, collection, std::chrono::seconds(5));
      })
               : AntiEntropyChecker::Repair(),
      [alerts = p.alerts.get()](const std::vector<Divergence>& found) {
        std::vector<AlertObservation::Divergent> divergent;
        for (const auto& d : found) {
          divergent.push_back({d.instance, d.tenant, d.database, d.collection, d.detail,
                               d.differences, d.repaired});
        }
        alerts->ObserveDivergence(std::move(divergent));
      });
  if (!p.anti_entropy) return;
  if (p.leases) {  // one checker per fleet: the recovery lease holder's
    p.anti_entropy->checker().SetActive(
        [leases = p.leases.get()] { return leases->Holding(kRecoveryLease).has_value(); });
  }
  p.own.AddStatusSection(
      "anti_entropy", [ae = p.anti_entropy.get()] { return ae->StatusJson(); }, false);
  p.anti_entropy->Start();
  spdlog::info("anti-entropy: every {} s, AUTO_REPAIR={}",
               p.config.verify_interval.count() / 1000.0, p.config.auto_repair);
}

void App::StartTls() {
  Parts& p = *parts_;
  if (!p.config.tls_cert_file.empty()) {
    auto tls = LoadServerTls(p.config.tls_cert_file, p.config.tls_key_file);
    if (!tls.ok()) throw ConfigError(tls.status().message());
    p.listener->SetTls(std::move(tls).value());
    spdlog::info("listener: serving https (TLS_CERT_FILE {}); SIGHUP reloads it",
                 p.config.tls_cert_file);
  }
}

Status App::ReloadTls() {
  Parts& p = *parts_;
  if (p.config.tls_cert_file.empty() || !p.listener) return Status::Ok();
  auto tls = LoadServerTls(p.config.tls_cert_file, p.config.tls_key_file);
  if (!tls.ok()) {
    spdlog::error("listener TLS reload failed, the previous certificate stays in use: {}",
                  tls.status().message());
    return tls.status();
  }
  p.listener->SetTls(std::move(tls).value());
  spdlog::info("listener TLS reloaded from {}: new connections use the new certificate",
               p.config.tls_cert_file);
  return Status::Ok();
}

void App::WatchReloadSignal() {
  parts_->reload_signals.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec || parts_->stopped) return;
    spdlog::info("SIGHUP received: reloading");
    Reload();
    WatchReloadSignal();
  });
}

void App::Reload() {
  Parts& p = *parts_;
  // Off the event loop (file reads); the new state is swapped in whole, connections stay.
  asio::post(p.recovery_thread, [this, &p] {
    if (p.client_auth) {
      if (Status s = p.client_auth->Reload(); !s.ok()) {
        spdlog::error("client credentials NOT reloaded (the previous ones stay in force): {}",
                      s.message());
      }
    }
    (void)ReloadTls();
  });
}

void App::Shutdown(std::function<void()> done) {
  Parts& p = *parts_;
  p.stopped = true;
  p.maintenance.cancel();
  boost::system::error_code ignored;
  p.reload_signals.cancel(ignored);
  p.listener->Shutdown(p.config.shutdown_grace, [&p, done = std::move(done)] {
    for (std::size_t i = 0; i < p.workers.all.size(); ++i) {
      asio::post(*p.workers.all[i], [beat = p.workers.beats[i].get()] { beat->Stop(); });
    }
    p.upstreams.Stop();
    done();
  });
}

void App::Stop() {
  Parts& p = *parts_;
  p.stopped = true;
  boost::system::error_code ignored;
  p.reload_signals.cancel(ignored);
  // The other event-loop threads; their sessions finished (or the grace passed) in Shutdown.
  for (auto& worker : p.workers.own) worker->stop();
  for (auto& thread : p.workers.threads) thread.join();
  p.workers.threads.clear();
  p.workers.guards.clear();
  p.upstreams.Stop();  // closes the pooled connections, which live on the workers
  if (p.anti_entropy) p.anti_entropy->Stop();
  if (p.resync) p.resync->Stop();  // its engines stop between requests; resumed at next start
  if (p.sync) p.sync->Stop();
  if (p.leases) p.leases->Stop();  // after replay stopped: releases the leases for the others
  if (p.snapshot) p.snapshot->Stop();
  if (p.identities) p.identities->Stop();
  if (p.committer) p.committer->Stop();
  p.recovery_thread.join();
  p.causal_thread.join();
  p.wal_threads.join();  // after this no blocking call can complete onto a worker
  if (p.alerts) p.alerts->Stop();
  // Last, while the parts they refer to still exist: drop what is left queued on the other
  // workers (coroutine frames of requests cut off by the grace period), and the workers.
  p.workers.beats.clear();  // their timers belong to the workers
  p.workers.own.clear();
}

uint16_t App::port() const { return parts_->listener ? parts_->listener->port() : 0; }

}  // namespace chroma_ha
