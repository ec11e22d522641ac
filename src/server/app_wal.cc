// App: the write-ahead log's side of start-up (stores, group committer, sync worker, leases,
// resync, recovery at start, the WAL endpoints) and the maintenance loop (recovery, pruning,
// alerts) that runs every WAL_SYNC_INTERVAL.
#include <spdlog/spdlog.h>

#include "server/app_parts.h"

namespace chroma_ha {

namespace asio = boost::asio;
using app_internal::MapCollectionIds;

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
  p.writes->SetMember(p.leases->member(), config.lease_ttl);
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
    // Elsewhere: only this process's own entries that it no longer carries (the holder leaves a
    // live member's entries to it).
    Status s = co_await RunBlocking(p.recovery_thread, [&] {
      return fence ? p.writes->ResolveUnresolved(raw, false, *fence)
                   : p.writes->ResolveOwnUnresolved(raw);
    });
    if (!s.ok()) spdlog::warn("WAL recovery: {}", s.ToString());
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

}  // namespace chroma_ha
