// ResyncManager, part 2: automatic resyncs (AUTO_RESYNC; see resync_manager.h).
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>

#include "resync/resync_manager.h"
#include "sync/chroma_api.h"

namespace chroma_ha {
namespace {

// A failed resync is not started again automatically for this long.
constexpr int64_t kAutoRetryAfterFailureMs = 10 * 60 * 1000;
// At most this many (tenant, database) pairs are asked when checking for an empty instance.
constexpr size_t kEmptyCheckDatabases = 20;

}  // namespace

bool ResyncManager::LooksEmpty(size_t index, const std::vector<CollectionIdentity>& known) {
  InstanceClient& instance = *d_.instances[index];
  std::set<std::pair<std::string, std::string>> databases;
  for (const CollectionIdentity& c : known) {
    if (c.ids.count(instance.name())) databases.insert({c.tenant, c.database});
  }
  if (databases.empty()) return false;  // the map does not say it held anything
  size_t asked = 0;
  for (const auto& [tenant, database] : databases) {
    if (asked++ == kEmptyCheckDatabases) break;
    HttpRequest request;
    request.method = "GET";
    request.target = CollectionsPath(tenant, database) + "_count";
    const Result<HttpResponse> r = instance.Send(request);
    if (!r.ok()) return false;       // no answer: not known to be empty
    if (r->status == 404) continue;  // the tenant or database is gone: empty
    if (!Is2xx(r->status)) return false;
    const nlohmann::json count = nlohmann::json::parse(r->body, nullptr, false);
    if (!count.is_number_integer() || count.get<int64_t>() != 0) return false;
  }
  return true;
}

void ResyncManager::CheckAutomatic() {
  const std::vector<CollectionIdentity> known =
      d_.identities ? d_.identities() : std::vector<CollectionIdentity>{};
  const int64_t now = d_.clock->UnixMillis();
  for (size_t i = 0; i < d_.instances.size(); ++i) {
    if (d_.instances[i] == nullptr || ResyncingIndex(i)) continue;
    const std::string name = d_.instances[i]->name();
    if (!FenceFor(name)) continue;  // the replay lease holder decides
    if (d_.healthy && !d_.healthy(i)) continue;
    const size_t source = i == 0 && d_.instances.size() > 1 ? 1 : 0;
    if (source == i || (d_.healthy && !d_.healthy(source))) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto last = known_.find(name);
      if (last != known_.end() && last->second.state == kResyncFailed &&
          now - last->second.finished_at_ms < kAutoRetryAfterFailureMs) {
        continue;
      }
    }
    std::string reason;
    if (LooksEmpty(i, known)) {
      reason = "it came back empty while the identity map says it held collections";
    } else if (Result<std::vector<InstanceBacklog>> b = d_.store->Backlog({name});
               b.ok() && !b->empty() && b->front().entries > 0 &&
               now - b->front().oldest_created_ms >
                   int64_t{d_.config->wal_retention_hours} * 3'600'000) {
      reason = "its replay backlog (" + std::to_string(b->front().entries) +
               " entries) is older than WAL_RETENTION_HOURS";
    }
    if (reason.empty()) continue;
    // Announced before the copy begins: a fast copy's "done" alert must not come first.
    const std::string& from = d_.instances[source]->name();
    Result<Started> started = Request(name, "", {}, "auto: " + reason, [&] {
      spdlog::warn("resync {}: started automatically from {}: {}", name, from, reason);
      Alert(name, AlertSeverity::kWarning, "Instance " + name + " is being resynced from " + from,
            "Started automatically (AUTO_RESYNC): " + reason + ".", /*resolved=*/false);
    });
    if (!started.ok()) {
      spdlog::warn("resync {}: automatic start failed: {}", name, started.status().ToString());
      continue;
    }
    if (started->started) ++auto_started_total_;
  }
}

}  // namespace chroma_ha
