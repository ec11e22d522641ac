#include "server/wal_endpoints.h"

#include <nlohmann/json.hpp>

#include "server/admin_auth.h"
#include "server/async_util.h"
#include "server/request_handler.h"

namespace chroma_ha {

namespace {

using nlohmann::json;
namespace asio = boost::asio;

json InstancesJson(const WalEndpointSources& s, const StoreSnapshot& snap, const SyncStats& ss) {
  const int64_t now = s.clock->UnixMillis();
  json instances = json::array();
  for (std::size_t i = 0; i < snap.backlog.size(); ++i) {
    const auto& b = snap.backlog[i];
    double oldest_s = b.entries > 0 ? (now - b.oldest_created_ms) / 1000.0 : 0.0;
    json item = {{"name", b.instance},
                 {"pending_entries", b.entries},
                 {"oldest_pending_age_seconds", oldest_s},
                 {"lag_seconds", oldest_s}};
    if (i < ss.instances.size()) {
      const auto& is = ss.instances[i];
      item["consecutive_failures"] = is.consecutive_failures;
      item["backoff_until_ms"] = is.backoff_until_ms;
      item["last_error"] = is.last_error;
      item["batch_size"] = is.batch_size;
    }
    instances.push_back(item);
  }
  return instances;
}

asio::awaitable<HttpResponse> WalStatus(const WalEndpointSources& s) {
  const StoreSnapshot snap = co_await s.snapshot->Fresh(kSnapshotBudget);
  if (!snap.has_data) {
    co_return JsonError(503, "ServiceUnavailable",
                        "the WAL store has not been read yet: " +
                            (snap.error.empty() ? std::string("no answer so far") : snap.error));
  }
  const Config& config = *s.config;
  SyncStats ss = s.sync->stats();
  json blocked = json::array();
  for (const auto& b : snap.blocked) {
    blocked.push_back({{"instance", b.instance},
                       {"tenant", b.tenant},
                       {"database", b.database},
                       {"collection", b.collection},
                       {"seq", b.seq},
                       {"since_ms", b.since_ms},
                       {"error", b.error}});
  }
  // Entries whose forward has no recorded outcome yet (in flight, or left by a crash or a
  // forward that got no answer: recovery resends them).
  int64_t unresolved = 0;
  if (auto it = snap.states.find(EntryState::kPending); it != snap.states.end()) {
    unresolved = it->second;
  }
  // Pending entries recovery failed to resolve (sticky until resolved or rejected by an admin).
  json recovery_failures = json::array();
  for (const auto& u : s.writes->Unresolved()) {
    recovery_failures.push_back({{"seq", u.seq},
                                 {"tenant", u.tenant},
                                 {"database", u.database},
                                 {"collection", u.collection},
                                 {"kind", u.kind},
                                 {"since_ms", u.since_ms},
                                 {"attempts", u.attempts},
                                 {"error", u.error}});
  }
  json body = {{"store", s.store->Kind()},
               {"store_snapshot", SnapshotJson(snap)},
               {"unresolved_entries", unresolved},
               {"recovery_failures", recovery_failures},
               {"instances", InstancesJson(s, snap, ss)},
               {"blocked", blocked},
               {"last_sync_ms", ss.last_sync_ms},
               {"sync_interval_seconds", config.wal_sync_interval.count() / 1000.0},
               {"batch_size", config.wal_batch_size},
               {"high_volume_batch_size", config.wal_high_volume_batch_size},
               {"deletion_conversion", config.wal_deletion_conversion}};
  if (s.leases != nullptr) AddLeaseFields(s.leases->view(), body);
  if (s.extra_status) body.update(s.extra_status());
  co_return JsonResponse(200, DumpJson(body));
}

// Admin check: 403 when admin actions are off, 401 when the token is missing or wrong.
std::optional<HttpResponse> RequireAdmin(const Config& config, const HttpRequest& request) {
  if (config.admin_token.empty()) {
    return JsonError(403, "Forbidden", "admin actions are off: ADMIN_TOKEN is not set");
  }
  if (!HasAdminToken(config, request)) {
    return JsonError(401, "Unauthorized", "a valid admin token is required");
  }
  return std::nullopt;
}

}  // namespace

void AddLeaseFields(const LeaseKeeper::View& view, json& body) {
  json leases = json::array();
  for (const Lease& l : view.leases) {
    leases.push_back({{"name", l.name},
                      {"holder", l.holder},
                      {"term", l.term},
                      {"expires_in_ms", l.expires_ms - l.now_ms},
                      {"live", l.expires_ms > l.now_ms},
                      {"mine", l.HeldBy(view.member)}});
  }
  json members = json::array();
  for (const Member& m : view.members) {
    const int64_t age = m.silent_ms();
    members.push_back({{"member", m.member},
                       {"first_seen_ms", m.first_seen_ms},
                       {"last_seen_ms", m.last_seen_ms},
                       {"age_ms", age},
                       {"live", age < 3 * view.ttl_ms}});
  }
  body["member"] = view.member;
  body["lease_ttl_ms"] = view.ttl_ms;
  body["leases"] = std::move(leases);
  body["members"] = std::move(members);
  body["leases_as_of_ms"] = view.refreshed_ms;
  body["leases_error"] = view.error.empty() ? json(nullptr) : json(view.error);
}

json SnapshotJson(const StoreSnapshot& snap) {
  return {{"as_of_ms", snap.as_of_ms},
          {"age_ms", snap.age_ms},
          {"stale", snap.stale},
          {"error", snap.error.empty() ? json(nullptr) : json(snap.error)},
          {"refreshing_for_ms", snap.refreshing_for_ms},
          {"refresh_failures", snap.refresh_failures}};
}

std::map<std::string, int64_t> StoreErrorCounts(const SyncStats& sync,
                                                const IdentityPersister* identities,
                                                const StoreSnapshot& snapshot) {
  std::map<std::string, int64_t> out = sync.store_errors;
  if (identities != nullptr) {
    for (const auto& [op, n] : identities->stats().errors_by_op) out[op] += n;
  }
  if (snapshot.refresh_failures > 0) out["snapshot"] += snapshot.refresh_failures;
  return out;
}

json WalStatsJson(const WalEndpointSources& s) {
  const SyncStats sync = s.sync->stats();
  const WriteStats& writes = s.writes->stats();
  auto batches = s.committer->stats();
  const auto errors = StoreErrorCounts(sync, s.identities, s.snapshot->Get());
  int64_t errors_total = 0;
  for (const auto& [op, n] : errors) errors_total += n;
  const IdentityPersistStats ids = s.identities ? s.identities->stats() : IdentityPersistStats{};
  return {{"appended", writes.appended.load()},
          {"committed", writes.committed.load()},
          {"rejected", writes.rejected.load()},
          {"unknown_outcome", writes.unknown.load()},
          {"wal_write_failures", writes.wal_failures.load()},
          {"forward_retries", writes.forward_retries.load()},
          {"write_failovers", writes.write_failovers.load()},
          {"recovered", writes.recovered.load()},
          {"fresh_reads_redirected", writes.fresh_reads_redirected.load()},
          {"append_timeouts", writes.append_timeouts.load()},
          {"in_doubt", writes.in_doubt.load()},
          {"turn_timeouts", writes.turn_timeouts.load()},
          {"order_timeouts", writes.order_timeouts.load()},
          {"outcome_retries", writes.outcome_retries.load()},
          {"superseded", writes.superseded.load()},
          {"replayed", sync.replayed},
          {"retried", sync.retried},
          {"failed", sync.failed},
          {"deletion_conversions", sync.conversions},
          {"collections_healed", sync.collections_healed},
          {"coalesced_requests", sync.coalesced_requests},
          {"group_commits", batches.batches},
          {"group_commit_entries", batches.entries},
          {"group_commit_max_batch", batches.max_batch_size},
          {"store_errors", errors},
          {"store_errors_total", errors_total},
          {"identity_persist_failures", ids.failures},
          {"identity_persist_pending", ids.pending},
          {"identity_persist_dropped", ids.dropped}};
}

void RegisterWalEndpoints(OwnEndpoints& own, WalEndpointSources s) {
  own.Register("GET", "/wal/stats", [s](const HttpRequest&) -> asio::awaitable<HttpResponse> {
    co_return JsonResponse(200, DumpJson(WalStatsJson(s)));
  });

  own.Register("GET", "/wal/status", [s](const HttpRequest&) -> asio::awaitable<HttpResponse> {
    co_return co_await WalStatus(s);
  });

  // POST /admin/wal/retry {"instance","tenant","database","collection"}
  own.Register(
      "POST", "/admin/wal/retry",
      [&config = *s.config, &sync = *s.sync, &wal_threads = *s.wal_threads,
       snapshot = s.snapshot](const HttpRequest& req) -> boost::asio::awaitable<HttpResponse> {
        if (auto denied = RequireAdmin(config, req)) co_return *denied;
        json b = json::parse(req.body, nullptr, false);
        if (!b.is_object() || !b.value("instance", json()).is_string()) {
          co_return JsonError(
              400, "InvalidArgumentError",
              "body must be {\"instance\", \"tenant\", \"database\", \"collection\"}");
        }
        Status s = co_await RunBlocking(wal_threads, [&] {
          return sync.Retry(b.value("instance", ""), b.value("tenant", ""), b.value("database", ""),
                            b.value("collection", ""));
        });
        if (!s.ok()) co_return JsonError(400, "InvalidArgumentError", s.message());
        snapshot->RequestRefresh();  // /wal/status shows the unblock soon
        co_return JsonResponse(200, R"({"ok":true})");
      });

  // POST /admin/wal/skip {"instance", "seq"}: a committed entry is marked applied there.
  // POST /admin/wal/skip {"seq"}: a pending entry recovery cannot resolve is rejected.
  own.Register(
      "POST", "/admin/wal/skip",
      [&config = *s.config, &sync = *s.sync, &writes = *s.writes, &wal_threads = *s.wal_threads,
       snapshot = s.snapshot](const HttpRequest& req) -> boost::asio::awaitable<HttpResponse> {
        if (auto denied = RequireAdmin(config, req)) co_return *denied;
        json b = json::parse(req.body, nullptr, false);
        const bool has_instance = b.is_object() && b.contains("instance");
        if (!b.is_object() || (has_instance && !b["instance"].is_string()) ||
            !b.value("seq", json()).is_number_integer()) {
          co_return JsonError(400, "InvalidArgumentError",
                              "body must be {\"instance\", \"seq\"} (a committed entry) or "
                              "{\"seq\"} (a pending entry)");
        }
        const int64_t seq = b["seq"].get<int64_t>();
        Status s = co_await RunBlocking(wal_threads, [&] {
          if (!has_instance) {
            return writes.RejectPending(seq, "rejected by an admin (POST /admin/wal/skip)");
          }
          return sync.Skip(b["instance"].get<std::string>(), seq);
        });
        if (!s.ok()) {
          co_return JsonError(s.code() == StatusCode::kNotFound ? 404 : 400, "InvalidArgumentError",
                              s.message());
        }
        snapshot->RequestRefresh();
        co_return JsonResponse(200, R"({"ok":true})");
      });

  own.AddStatusSection(
      "wal",
      [s] {
        return json{{"enabled", true},
                    {"store", s.store->Kind()},
                    {"store_snapshot", SnapshotJson(s.snapshot->Get())},
                    {"stats", WalStatsJson(s)},
                    {"last_sync_ms", s.sync->stats().last_sync_ms}};
      },
      /*in_health=*/true);
}

}  // namespace chroma_ha
