#include "server/wal_endpoints.h"

#include <nlohmann/json.hpp>

#include "server/admin_auth.h"
#include "server/async_util.h"
#include "server/request_handler.h"

namespace chroma_ha {

namespace {

using nlohmann::json;

json StatsJson(const SyncStats& sync, const WriteStats& writes, const GroupCommitter& committer) {
  auto batches = committer.stats();
  return {{"appended", writes.appended.load()},
          {"committed", writes.committed.load()},
          {"rejected", writes.rejected.load()},
          {"unknown_outcome", writes.unknown.load()},
          {"wal_write_failures", writes.wal_failures.load()},
          {"forward_retries", writes.forward_retries.load()},
          {"write_failovers", writes.write_failovers.load()},
          {"recovered", writes.recovered.load()},
          {"fresh_reads_redirected", writes.fresh_reads_redirected.load()},
          {"replayed", sync.replayed},
          {"retried", sync.retried},
          {"failed", sync.failed},
          {"deletion_conversions", sync.conversions},
          {"collections_healed", sync.collections_healed},
          {"coalesced_requests", sync.coalesced_requests},
          {"group_commits", batches.batches},
          {"group_commit_entries", batches.entries},
          {"group_commit_max_batch", batches.max_batch_size}};
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

void RegisterWalEndpoints(OwnEndpoints& own, const Config& config, WalStore& store,
                          SyncWorker& sync, WritePath& writes, GroupCommitter& committer,
                          boost::asio::thread_pool& wal_threads, const Clock& clock) {
  std::vector<std::string> names;
  for (const auto& inst : config.instances) names.push_back(inst.name);

  own.Register("GET", "/wal/stats", [&](const HttpRequest&) -> boost::asio::awaitable<HttpResponse> {
    co_return JsonResponse(200, StatsJson(sync.stats(), writes.stats(), committer).dump());
  });

  own.Register("GET", "/wal/status", [&, names](const HttpRequest&)
                                         -> boost::asio::awaitable<HttpResponse> {
    struct Read {
      Result<std::vector<InstanceBacklog>> backlog = Status::Internal("not read");
      Result<std::vector<BlockedCollection>> blocked = Status::Internal("not read");
      Result<std::map<EntryState, int64_t>> states = Status::Internal("not read");
    };
    Read read = co_await RunBlocking(wal_threads, [&] {
      Read r;
      r.backlog = store.Backlog(names);
      r.blocked = store.ListBlocked();
      r.states = store.CountByState();
      return r;
    });
    if (!read.backlog.ok() || !read.blocked.ok()) {
      Status s = read.backlog.ok() ? read.blocked.status() : read.backlog.status();
      co_return JsonError(503, "ServiceUnavailable", "the WAL store cannot be read: " + s.message());
    }
    const int64_t now = clock.UnixMillis();
    SyncStats ss = sync.stats();
    json instances = json::array();
    for (std::size_t i = 0; i < read.backlog->size(); ++i) {
      const auto& b = (*read.backlog)[i];
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
    json blocked = json::array();
    for (const auto& b : *read.blocked) {
      blocked.push_back({{"instance", b.instance}, {"tenant", b.tenant}, {"database", b.database},
                         {"collection", b.collection}, {"seq", b.seq}, {"since_ms", b.since_ms},
                         {"error", b.error}});
    }
    // Entries whose forward has no recorded outcome yet (in flight, or left by a crash or a
    // forward that got no answer: recovery resends them).
    int64_t unresolved = 0;
    if (read.states.ok() && read.states->count(EntryState::kPending) != 0) {
      unresolved = read.states->at(EntryState::kPending);
    }
    json body = {{"store", store.Kind()},
                 {"unresolved_entries", unresolved},
                 {"instances", instances},
                 {"blocked", blocked},
                 {"last_sync_ms", ss.last_sync_ms},
                 {"sync_interval_seconds", config.wal_sync_interval.count() / 1000.0},
                 {"batch_size", config.wal_batch_size},
                 {"high_volume_batch_size", config.wal_high_volume_batch_size},
                 {"deletion_conversion", config.wal_deletion_conversion}};
    co_return JsonResponse(200, body.dump());
  });

  // POST /admin/wal/retry {"instance","tenant","database","collection"}
  own.Register("POST", "/admin/wal/retry", [&](const HttpRequest& req)
                                               -> boost::asio::awaitable<HttpResponse> {
    if (auto denied = RequireAdmin(config, req)) co_return *denied;
    json b = json::parse(req.body, nullptr, false);
    if (!b.is_object() || !b.value("instance", json()).is_string()) {
      co_return JsonError(400, "InvalidArgumentError",
                          "body must be {\"instance\", \"tenant\", \"database\", \"collection\"}");
    }
    Status s = co_await RunBlocking(wal_threads, [&] {
      return sync.Retry(b.value("instance", ""), b.value("tenant", ""), b.value("database", ""),
                        b.value("collection", ""));
    });
    if (!s.ok()) co_return JsonError(400, "InvalidArgumentError", s.message());
    co_return JsonResponse(200, R"({"ok":true})");
  });

  // POST /admin/wal/skip {"instance", "seq"}
  own.Register("POST", "/admin/wal/skip", [&](const HttpRequest& req)
                                              -> boost::asio::awaitable<HttpResponse> {
    if (auto denied = RequireAdmin(config, req)) co_return *denied;
    json b = json::parse(req.body, nullptr, false);
    if (!b.is_object() || !b.value("instance", json()).is_string() ||
        !b.value("seq", json()).is_number_integer()) {
      co_return JsonError(400, "InvalidArgumentError", "body must be {\"instance\", \"seq\"}");
    }
    Status s = co_await RunBlocking(wal_threads, [&] {
      return sync.Skip(b["instance"].get<std::string>(), b["seq"].get<int64_t>());
    });
    if (!s.ok()) {
      co_return JsonError(s.code() == StatusCode::kNotFound ? 404 : 400, "InvalidArgumentError",
                          s.message());
    }
    co_return JsonResponse(200, R"({"ok":true})");
  });

  own.AddStatusSection("wal", [&] {
    auto ss = sync.stats();
    return json{{"enabled", true},
                {"store", store.Kind()},
                {"stats", StatsJson(ss, writes.stats(), committer)},
                {"last_sync_ms", ss.last_sync_ms}};
  }, /*in_health=*/true);
}

}  // namespace chroma_ha
