// WritePath at start-up and in recovery: loading the identity map and the replay backlog counts
// from the WAL, and resolving entries whose forward's outcome was never recorded.
#include <spdlog/spdlog.h>

#include <chrono>

#include "proxy/path_rewrite.h"
#include "server/write_path.h"
#include "sync/chroma_api.h"

namespace chroma_ha {

namespace {

// Pending entries younger than this are never resolved by recovery (see ResolveUnresolved).
constexpr int64_t kRecoveryMinAgeMs = 2000;

}  // namespace

Status WritePath::Load() {
  auto identities = store_.LoadCollections();
  if (!identities.ok()) return identities.status();
  resolver_.map().Load(*identities);
  ClearBacklog();
  for (const auto& inst : config_.instances) {
    int64_t after = 0;
    for (;;) {
      auto page = store_.PendingFor(inst.name, after, 1000);
      if (!page.ok()) return page.status();
      for (const auto& e : *page) CountBacklog(e, inst.name, +1);
      if (page->size() < 1000) break;
      after = page->back().seq;
    }
  }
  return Status::Ok();
}

Status WritePath::ResolveUnresolved(const std::vector<InstanceClient*>& clients,
                                    bool at_start) {
  auto pending = store_.Unresolved();
  if (!pending.ok()) return pending.status();
  // An entry appended this instant may not be marked in flight yet (the store commits before
  // the append's callback runs): leave young entries to their writer.
  const int64_t young = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() -
                        (at_start ? 0 : kRecoveryMinAgeMs);
  for (const auto& e : *pending) {
    if (e.created_ms > young) continue;
    {
      std::lock_guard lock(mu_);
      if (in_flight_.count(e.seq) != 0) continue;
    }
    HttpRequest req;
    req.method = e.method;
    req.headers.push_back({"content-type", "application/json"});
    req.body = e.body;
    bool resolved = false;
    for (std::size_t i = 0; i < clients.size() && !resolved; ++i) {
      const std::string& name = config_.instances[i].name;
      req.target = e.path;
      if (e.path.find(kCollectionPlaceholder) != std::string::npos) {
        auto id = resolver_.map().IdOn({e.tenant, e.database, e.collection}, name);
        if (!id) continue;
        req.target = ExpandCollectionTemplate(e.path, *id);
      }
      auto result = clients[i]->Send(req);
      if (!result.ok() || IsGatewayError(result->status)) continue;
      EntryState state = Is2xx(result->status) ? EntryState::kCommitted : EntryState::kRejected;
      if (auto s = store_.SetOutcome(e.seq, state, name, e.attempts + 1, ""); !s.ok()) return s;
      if (state == EntryState::kCommitted) {
        for (const auto& inst : config_.instances) {
          if (inst.name != name) CountBacklog(e, inst.name, +1);
        }
      }
      ++stats_.recovered;
      resolved = true;
      spdlog::info("recovered WAL entry {} ({}): {} on {}", e.seq, e.kind,
                   EntryStateName(state), name);
    }
    if (!resolved) return Status::Unavailable("WAL entry " + std::to_string(e.seq) +
                                              " could not be resolved yet");
  }
  return Status::Ok();
}

}  // namespace chroma_ha
