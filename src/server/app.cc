#include "server/app.h"

#include <spdlog/spdlog.h>

#include "server/app_parts.h"

namespace chroma_ha {

namespace asio = boost::asio;

App::App(asio::io_context& ioc, const Config& config, const Clock& clock)
    : ioc_(ioc), parts_(std::make_unique<Parts>(ioc, config, clock)) {}

App::~App() { Stop(); }

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
