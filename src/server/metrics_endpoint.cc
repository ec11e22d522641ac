#include "server/metrics_endpoint.h"

#include "alerts/alert_stats.h"
#include "metrics/process_stats.h"
#include "server/causal_reads.h"
#include "server/listener.h"
#include "server/wal_endpoints.h"
#include "server/router.h"
#include "server/write_path.h"
#include "sync/sync_worker.h"
#include "wal/group_commit.h"

namespace chroma_ha {

namespace {

using prometheus::MetricType;

void AddUpstreamFamilies(const MetricsSources& s, std::vector<prometheus::MetricFamily>* out) {
  FamilyBuilder healthy("chroma_ha_upstream_healthy", "1 when the instance is healthy",
                        MetricType::Gauge);
  FamilyBuilder latency("chroma_ha_upstream_health_check_latency_seconds",
                        "Round trip of the last active health check", MetricType::Gauge);
  FamilyBuilder requests("chroma_ha_upstream_requests_total",
                         "Client requests forwarded to the instance", MetricType::Counter);
  FamilyBuilder failures("chroma_ha_upstream_failures_total",
                         "Forwarded requests that got no answer or a 5xx", MetricType::Counter);
  FamilyBuilder checks_failed("chroma_ha_upstream_health_checks_failed_total",
                              "Active health checks that failed", MetricType::Counter);
  for (std::size_t i = 0; i < s.upstreams->size(); ++i) {
    auto snap = s.upstreams->Snapshot(i);
    std::map<std::string, std::string> l = {{"instance", snap.name},
                                            {"role", snap.is_primary ? "primary" : "replica"}};
    healthy.Add(snap.healthy ? 1 : 0, l);
    latency.Add(snap.last_check_latency_ms / 1000.0, l);
    requests.Add(static_cast<double>(snap.requests), l);
    failures.Add(static_cast<double>(snap.failures), l);
    checks_failed.Add(static_cast<double>(snap.health_checks_failed), l);
  }
  for (auto* b : {&healthy, &latency, &requests, &failures, &checks_failed}) {
    out->push_back(std::move(*b).Build());
  }
}

void AddRouterFamilies(const MetricsSources& s, std::vector<prometheus::MetricFamily>* out) {
  const auto& r = *s.router;
  int64_t write_failovers = s.writes != nullptr ? s.writes->stats().write_failovers.load() : 0;
  out->push_back(FamilyBuilder("chroma_ha_failovers_total",
                               "Requests answered by another instance than the first choice",
                               MetricType::Counter)
                     .Add(static_cast<double>(r.read_failovers.load()), {{"kind", "read"}})
                     .Add(static_cast<double>(write_failovers), {{"kind", "write"}})
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_unknown_routes_total",
                               "Requests for routes chroma-ha does not know (reads go to the "
                               "primary; writes per UNKNOWN_WRITE_ROUTES)",
                               MetricType::Counter)
                     .Add(static_cast<double>(r.unknown_routes.load()))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_unknown_writes_total",
                               "Mutating requests for unknown routes: refused (501) or forwarded "
                               "to the primary only (not logged, not replicated)",
                               MetricType::Counter)
                     .Add(static_cast<double>(r.unknown_writes_refused.load()),
                          {{"outcome", "refused"}})
                     .Add(static_cast<double>(r.unknown_writes_forwarded.load()),
                          {{"outcome", "forwarded"}})
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_unavailable_total",
                               "Requests answered 503 because no instance could serve them",
                               MetricType::Counter)
                     .Add(static_cast<double>(r.unavailable.load()))
                     .Build());
  const auto& l = *s.listener;
  out->push_back(FamilyBuilder("chroma_ha_connections_open", "Client connections open now",
                               MetricType::Gauge)
                     .Add(static_cast<double>(l.connections_open.load()))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_http_rejected_total",
                               "Requests refused by the listener: bad_request (400/408/413/431), "
                               "over_capacity (503, MAX_CONNECTIONS)",
                               MetricType::Counter)
                     .Add(static_cast<double>(l.rejected_bad_request.load()),
                          {{"reason", "bad_request"}})
                     .Add(static_cast<double>(l.rejected_over_capacity.load()),
                          {{"reason", "over_capacity"}})
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_internal_errors_total",
                               "Requests answered 500 because an exception reached a barrier",
                               MetricType::Counter)
                     .Add(static_cast<double>(r.internal_errors.load() +
                                              l.handler_exceptions.load()))
                     .Build());
}

void AddStoreFamilies(const MetricsSources& s, const StoreSnapshot& snap, const SyncStats& sync,
                      std::vector<prometheus::MetricFamily>* out) {
  out->push_back(FamilyBuilder("chroma_ha_wal_store_up",
                               "1 when the last WAL store read succeeded and is recent",
                               MetricType::Gauge)
                     .Add(snap.stale ? 0 : 1)
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_wal_store_snapshot_age_seconds",
                               "Age of the WAL store read shown by /wal/status and here "
                               "(-1: never read)",
                               MetricType::Gauge)
                     .Add(snap.age_ms < 0 ? -1.0 : snap.age_ms / 1000.0)
                     .Build());
  FamilyBuilder errors("chroma_ha_wal_store_errors_total",
                       "WAL store calls that failed outside the write path, by operation "
                       "(each is retried)",
                       MetricType::Counter);
  std::map<std::string, int64_t> by_op;  // every known operation, so the series exist at 0
  for (const char* op : {"list_blocked", "backlog", "pending_for", "mark_applied_batch", "block",
                         "put_collection", "remove_collection", "snapshot"}) {
    by_op[op] = 0;
  }
  for (const auto& [op, n] : StoreErrorCounts(sync, s.identities, snap)) by_op[op] = n;
  for (const auto& [op, n] : by_op) errors.Add(static_cast<double>(n), {{"op", op}});
  out->push_back(std::move(errors).Build());
  if (s.identities != nullptr) {
    const IdentityPersistStats ids = s.identities->stats();
    out->push_back(FamilyBuilder("chroma_ha_identity_persist_pending",
                                 "Collection identity changes waiting for the WAL store",
                                 MetricType::Gauge)
                       .Add(static_cast<double>(ids.pending))
                       .Build());
    out->push_back(FamilyBuilder("chroma_ha_identity_persist_failures_total",
                                 "Failed writes of collection identities (each is retried)",
                                 MetricType::Counter)
                       .Add(static_cast<double>(ids.failures))
                       .Build());
  }
}

void AddWalFamilies(const MetricsSources& s, const StoreSnapshot& read,
                    std::vector<prometheus::MetricFamily>* out) {
  const int64_t now = s.clock->UnixMillis();
  auto ss = s.sync->stats();
  AddStoreFamilies(s, read, ss, out);
  if (read.has_data) {
    FamilyBuilder backlog("chroma_ha_wal_backlog_entries",
                          "Committed entries not yet applied on the instance", MetricType::Gauge);
    FamilyBuilder oldest("chroma_ha_wal_oldest_pending_age_seconds",
                         "Age of the oldest entry not yet applied on the instance",
                         MetricType::Gauge);
    FamilyBuilder lag("chroma_ha_wal_replication_lag_seconds",
                      "How far the instance is behind the WAL, in seconds", MetricType::Gauge);
    for (const auto& b : read.backlog) {
      double age = b.entries > 0 ? (now - b.oldest_created_ms) / 1000.0 : 0.0;
      backlog.Add(static_cast<double>(b.entries), {{"instance", b.instance}});
      oldest.Add(age, {{"instance", b.instance}});
      lag.Add(age, {{"instance", b.instance}});
    }
    for (auto* f : {&backlog, &oldest, &lag}) out->push_back(std::move(*f).Build());
  }
  if (read.has_data) {
    out->push_back(FamilyBuilder("chroma_ha_wal_blocked_collections",
                                 "Collections whose replay stopped on a permanent failure",
                                 MetricType::Gauge)
                       .Add(static_cast<double>(read.blocked.size()))
                       .Build());
  }
  const auto& w = s.writes->stats();
  out->push_back(FamilyBuilder("chroma_ha_wal_entries_total", "WAL entries by outcome",
                               MetricType::Counter)
                     .Add(static_cast<double>(w.committed.load()), {{"outcome", "committed"}})
                     .Add(static_cast<double>(w.rejected.load()), {{"outcome", "rejected"}})
                     .Add(static_cast<double>(w.unknown.load()), {{"outcome", "unknown"}})
                     .Add(static_cast<double>(w.recovered.load()), {{"outcome", "recovered"}})
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_wal_append_failures_total",
                               "Writes refused with 503 because the WAL could not be written",
                               MetricType::Counter)
                     .Add(static_cast<double>(w.wal_failures.load()))
                     .Build());
  out->push_back(
      FamilyBuilder("chroma_ha_wal_write_faults_total",
                    "Write-path faults: append_timeout (not durable within "
                    "WAL_APPEND_TIMEOUT_MS), in_doubt (commit unconfirmed: recorded rejected), "
                    "turn_timeout (503 while queued behind an unresolved write), order_timeout "
                    "(503: the store did not answer the fleet-order check in time), outcome_retry "
                    "(an outcome record tried again), superseded (a pending entry rejected by "
                    "recovery because a later write of its collection was resolved)",
                    MetricType::Counter)
          .Add(static_cast<double>(w.append_timeouts.load()), {{"kind", "append_timeout"}})
          .Add(static_cast<double>(w.in_doubt.load()), {{"kind", "in_doubt"}})
          .Add(static_cast<double>(w.turn_timeouts.load()), {{"kind", "turn_timeout"}})
          .Add(static_cast<double>(w.order_timeouts.load()), {{"kind", "order_timeout"}})
          .Add(static_cast<double>(w.outcome_retries.load()), {{"kind", "outcome_retry"}})
          .Add(static_cast<double>(w.superseded.load()), {{"kind", "superseded"}})
          .Build());
  out->push_back(FamilyBuilder("chroma_ha_wal_recovery_failures",
                               "Pending WAL entries recovery has not been able to resolve",
                               MetricType::Gauge)
                     .Add(static_cast<double>(s.writes->Unresolved().size()))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_wal_replays_total", "Replay attempts by result",
                               MetricType::Counter)
                     .Add(static_cast<double>(ss.replayed), {{"result", "applied"}})
                     .Add(static_cast<double>(ss.retried), {{"result", "retried"}})
                     .Add(static_cast<double>(ss.failed), {{"result", "failed"}})
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_wal_deletion_conversions_total",
                               "Deletes by id replayed (partly) by document_id",
                               MetricType::Counter)
                     .Add(static_cast<double>(ss.conversions))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_wal_collections_healed_total",
                               "Collections created on an instance from the origin's definition",
                               MetricType::Counter)
                     .Add(static_cast<double>(ss.collections_healed))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_wal_coalesced_requests_total",
                               "Replay requests that carried several adds or upserts at once",
                               MetricType::Counter)
                     .Add(static_cast<double>(ss.coalesced_requests))
                     .Build());
  auto gc = s.committer->stats();
  out->push_back(FamilyBuilder("chroma_ha_wal_group_commits_total",
                               "Store transactions written by the group committer",
                               MetricType::Counter)
                     .Add(static_cast<double>(gc.batches))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_wal_group_commit_entries_total",
                               "Entries written by the group committer", MetricType::Counter)
                     .Add(static_cast<double>(gc.entries))
                     .Build());
  FamilyBuilder sizes("chroma_ha_wal_group_commit_batches",
                      "Group commits by batch size (le: upper bound of the bucket)",
                      MetricType::Gauge);
  for (std::size_t i = 0; i < gc.size_histogram.size(); ++i) {
    std::string le = i < kBatchSizeBounds.size() ? std::to_string(kBatchSizeBounds[i]) : "+Inf";
    sizes.Add(static_cast<double>(gc.size_histogram[i]), {{"le", le}});
  }
  out->push_back(std::move(sizes).Build());
}

void AddCausalFamilies(const CausalReadStats& c, std::vector<prometheus::MetricFamily>* out) {
  out->push_back(FamilyBuilder("chroma_ha_causal_reads_total",
                               "Reads with X-Chroma-HA-Min-Seq, by how they were served",
                               MetricType::Counter)
                     .Add(static_cast<double>(c.immediate.load()), {{"outcome", "immediate"}})
                     .Add(static_cast<double>(c.waited.load()), {{"outcome", "waited"}})
                     .Add(static_cast<double>(c.redirected.load()), {{"outcome", "redirected"}})
                     .Add(static_cast<double>(c.timeouts.load()), {{"outcome", "timeout"}})
                     .Add(static_cast<double>(c.invalid.load()), {{"outcome", "invalid"}})
                     .Build());
}

void AddAlertFamilies(const AlertStats& a, std::vector<prometheus::MetricFamily>* out) {
  out->push_back(FamilyBuilder("chroma_ha_alerts_total",
                               "Alert messages by result: sent, suppressed (dedup/rate limit), "
                               "failed (webhook error), dropped (queue full)",
                               MetricType::Counter)
                     .Add(static_cast<double>(a.sent.load()), {{"result", "sent"}})
                     .Add(static_cast<double>(a.suppressed.load()), {{"result", "suppressed"}})
                     .Add(static_cast<double>(a.failed.load()), {{"result", "failed"}})
                     .Add(static_cast<double>(a.dropped.load()), {{"result", "dropped"}})
                     .Build());
}

void AddProcessFamilies(const MetricsSources& s, std::vector<prometheus::MetricFamily>* out) {
  ProcessStats p = ReadProcessStats();
  out->push_back(FamilyBuilder("chroma_ha_process_resident_memory_bytes", "Resident memory",
                               MetricType::Gauge)
                     .Add(static_cast<double>(p.resident_bytes))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_process_cpu_seconds_total",
                               "User and system CPU time used", MetricType::Counter)
                     .Add(p.cpu_seconds)
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_process_open_fds", "Open file descriptors",
                               MetricType::Gauge)
                     .Add(static_cast<double>(p.open_fds))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_process_start_time_seconds",
                               "Start time of the process since the Unix epoch",
                               MetricType::Gauge)
                     .Add(static_cast<double>(s.start_ms) / 1000.0)
                     .Build());
}

}  // namespace

void RegisterMetricsEndpoint(OwnEndpoints& own, MetricsSources s) {
  own.Register("GET", "/metrics", [s](const HttpRequest&) -> boost::asio::awaitable<HttpResponse> {
    std::vector<prometheus::MetricFamily> extra;
    AddUpstreamFamilies(s, &extra);
    AddRouterFamilies(s, &extra);
    if (s.store != nullptr && s.snapshot != nullptr) {
      AddWalFamilies(s, co_await s.snapshot->Fresh(kSnapshotBudget), &extra);
    }
    if (s.alerts != nullptr) AddAlertFamilies(*s.alerts, &extra);
    if (s.causal != nullptr) AddCausalFamilies(*s.causal, &extra);
    if (s.extra_families) s.extra_families(&extra);
    AddProcessFamilies(s, &extra);
    HttpResponse r;
    r.status = 200;
    r.headers.push_back({"content-type", "text/plain; version=0.0.4; charset=utf-8"});
    r.body = s.metrics->Render(extra);
    co_return r;
  });
}

}  // namespace chroma_ha
