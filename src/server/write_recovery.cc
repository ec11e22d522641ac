// WritePath at start-up and in recovery: loading the identity map and the replay backlog counts
// from the WAL, and resolving entries whose forward's outcome was never recorded.
//
// The rule for a pending entry (README "In-doubt writes"): it is sent again only while no later
// write of its collection has been resolved; otherwise it is recorded as rejected (counted as
// `superseded`), because applying it then would undo a later, acknowledged write. The write path
// keeps outcomes in seq order per collection, so a pending entry normally has only pending
// entries after it; the check covers what order alone cannot (an append whose commit was in
// doubt, a store that lost an outcome, a second process).
//
// Several processes on one store: recovery runs only in the holder of the "recovery" lease
// (App::Maintenance asks the LeaseKeeper) and writes every outcome under its fence, so a former
// holder that was paused past its lease writes none (docs/design.md "Fleet").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "proxy/path_rewrite.h"
#include "server/write_path.h"
#include "sync/chroma_api.h"

namespace chroma_ha {

namespace {

// Pending entries younger than this are never resolved by recovery (see ResolveUnresolved).
constexpr int64_t kRecoveryMinAgeMs = 2000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The scopes an entry orders against, widest first: "t", "t/d", "t/d/c".
std::vector<std::string> EntryScopes(const WalEntry& e) {
  std::vector<std::string> scopes;
  if (e.tenant.empty()) return scopes;
  scopes.push_back(e.tenant);
  if (e.database.empty()) return scopes;
  scopes.push_back(e.tenant + "/" + e.database);
  if (!e.collection.empty()) scopes.push_back(scopes.back() + "/" + e.collection);
  return scopes;
}

// The writers of `pending`, other than `self`, that heartbeated within `live_for` by the
// store's clock: each carries its own entries (its forward may take longer than
// kRecoveryMinAgeMs), and recovery leaves them to it. Asks the store only when some entry has
// another writer.
Result<std::set<std::string>> LiveWriters(WalStore& store, const std::vector<WalEntry>& pending,
                                          const std::string& self,
                                          std::chrono::milliseconds live_for) {
  std::set<std::string> live;
  const bool others = std::any_of(pending.begin(), pending.end(), [&](const WalEntry& e) {
    return !e.writer.empty() && e.writer != self;
  });
  if (!others) return live;
  auto members = store.ListMembers();
  if (!members.ok()) return members.status();
  for (const Member& m : *members) {
    if (m.member != self && m.silent_ms() <= live_for.count()) live.insert(m.member);
  }
  return live;
}

// ResolveOne's end when the entry's writer recorded its outcome after the listing (a process
// slower than kRecoveryMinAgeMs, not a dead one): that outcome is the instance's answer to the
// forward the client was given, and stands.
Status ResolvedMeanwhile(const WalEntry& e) {
  spdlog::info("WAL recovery: entry {} ({}) was resolved by its writer meanwhile; left as it is",
               e.seq, e.kind);
  return Status::Ok();
}

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

Status WritePath::ResolveUnresolved(const std::vector<InstanceClient*>& clients, bool at_start,
                                    const Fence& fence) {
  return Resolve(clients, at_start, fence, /*own_only=*/false);
}

Status WritePath::ResolveOwnUnresolved(const std::vector<InstanceClient*>& clients) {
  if (member_.empty()) return Status::Ok();  // entries have no writer: the lease holder's work
  return Resolve(clients, /*at_start=*/false, Fence(), /*own_only=*/true);
}

Status WritePath::Resolve(const std::vector<InstanceClient*>& clients, bool at_start,
                          const Fence& fence, bool own_only) {
  auto pending = store_.Unresolved();
  if (!pending.ok()) return pending.status();
  // An entry appended this instant may not be marked in flight yet (the store commits before
  // the append's callback runs): leave young entries to their writer.
  const int64_t now = NowMs();
  const int64_t young = now - (at_start ? 0 : kRecoveryMinAgeMs);
  // At start nothing of this process is in flight and no other member is alive (the caller's
  // rule), so a writer's heartbeat there is a dead run's last one.
  std::set<std::string> live_writers;
  if (!at_start && !own_only) {
    auto live = LiveWriters(store_, *pending, member_, member_live_for_);
    if (!live.ok()) return live.status();
    live_writers = std::move(live).value();
  }
  // Scopes with an earlier entry left unresolved in this round: their later entries (and those
  // of the collections inside them) wait; every other collection goes on.
  std::set<std::string> held;
  auto is_held = [&](const std::vector<std::string>& scopes) {
    for (const auto& s : scopes) {
      if (held.count(s) != 0) return true;
    }
    return false;
  };
  Status first_error;
  std::set<int64_t> still_pending;
  for (const auto& e : *pending) {
    still_pending.insert(e.seq);
    const auto scopes = EntryScopes(e);
    if (scopes.empty() || is_held(scopes)) continue;
    if (e.created_ms > young || in_flight_->Contains(e.seq) || live_writers.count(e.writer) != 0 ||
        (own_only && e.writer != member_)) {
      held.insert(scopes.back());
      continue;
    }
    Status s = ResolveOne(e, clients, fence);
    if (s.code() == StatusCode::kFailedPrecondition && fence.fenced()) {
      spdlog::warn("WAL recovery: stopped, the recovery lease has ended: {}", s.message());
      return s;  // the new holder goes on; nothing here is this process's problem any more
    }
    std::lock_guard lock(mu_);
    if (s.ok()) {
      unresolved_.erase(e.seq);
      still_pending.erase(e.seq);
      continue;
    }
    held.insert(scopes.back());
    UnresolvedEntry& u = unresolved_[e.seq];
    if (u.seq == 0) {
      u = {e.seq, e.tenant, e.database, e.collection, e.kind, now, 0, ""};
      spdlog::error("WAL recovery: entry {} ({} of {}/{}/{}) cannot be resolved: {}", e.seq, e.kind,
                    e.tenant, e.database, e.collection, s.message());
    }
    ++u.attempts;
    u.error = s.message();
    if (first_error.ok()) first_error = s;
  }
  {
    // Resolved elsewhere (an admin, a writer): no longer a problem.
    std::lock_guard lock(mu_);
    std::erase_if(unresolved_, [&](const auto& kv) { return still_pending.count(kv.first) == 0; });
  }
  return first_error;
}

Status WritePath::ResolveOne(const WalEntry& e, const std::vector<InstanceClient*>& clients,
                             const Fence& fence) {
  auto later = store_.ResolvedAfter(e);
  if (!later.ok()) return later.status();
  if (*later > 0) {
    const std::string why = "in doubt: a later write of its collection (seq " +
                            std::to_string(*later) +
                            ") was already resolved; never applied after it";
    bool written = false;  // only while still pending: its writer may have recorded it since
    if (Status s =
            store_.SetOutcome(e.seq, EntryState::kRejected, "", e.attempts, why, fence, &written);
        !s.ok()) {
      return s;
    }
    if (!written) return ResolvedMeanwhile(e);
    ++stats_.superseded;
    spdlog::warn("WAL recovery: entry {} ({}) rejected: {}", e.seq, e.kind, why);
    return Status::Ok();
  }
  // Unresolved() lists entries without their bodies: read this one's.
  Result<WalEntry> whole = store_.Get(e.seq);
  if (!whole.ok()) {
    // Gone (pruned or removed by an admin since the listing): nothing left to resolve.
    return whole.status().code() == StatusCode::kNotFound ? Status::Ok() : whole.status();
  }
  HttpRequest req;
  req.method = e.method;
  req.headers.push_back({"content-type", "application/json"});
  req.body = std::move(whole->body);
  std::string error = "no instance is configured";
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const std::string& name = config_.instances[i].name;
    req.target = e.path;
    if (e.path.find(kCollectionPlaceholder) != std::string::npos) {
      auto id = IdOn(e, i, *clients[i]);
      if (!id) {
        error = name + ": the collection's id there is not known";
        continue;
      }
      req.target = ExpandCollectionTemplate(e.path, *id);
    }
    auto result = clients[i]->Send(req);
    if (!result.ok()) {
      error = name + ": " + result.status().message();
      continue;
    }
    if (IsGatewayError(result->status)) {
      error = name + " answered " + std::to_string(result->status);
      continue;
    }
    EntryState state = Is2xx(result->status) ? EntryState::kCommitted : EntryState::kRejected;
    bool written = false;
    if (auto s = store_.SetOutcome(e.seq, state, name, e.attempts + 1, "", fence, &written);
        !s.ok()) {
      return s;
    }
    if (!written) return ResolvedMeanwhile(e);
    if (state == EntryState::kCommitted) CountOthers(e, name, +1);
    ++stats_.recovered;
    spdlog::info("recovered WAL entry {} ({}): {} on {}", e.seq, e.kind, EntryStateName(state),
                 name);
    return Status::Ok();
  }
  return Status::Unavailable(error);
}

std::optional<std::string> WritePath::IdOn(const WalEntry& e, std::size_t index,
                                           InstanceClient& client) {
  const CollectionKey key{e.tenant, e.database, e.collection};
  const std::string& name = config_.instances[index].name;
  if (auto id = resolver_.map().IdOn(key, name)) return id;
  // Not in memory (learned by another process, or lost): ask the instance by name, as the sync
  // worker does.
  HttpRequest get;
  get.method = "GET";
  get.target = CollectionPath(e.tenant, e.database, e.collection);
  auto answer = client.Send(get);
  if (!answer.ok() || !Is2xx(answer->status)) return std::nullopt;
  auto id = CollectionIdOf(answer->body);
  if (id) (void)resolver_.map().Learn(key, name, *id);
  return id;
}

std::vector<UnresolvedEntry> WritePath::Unresolved() const {
  std::lock_guard lock(mu_);
  std::vector<UnresolvedEntry> out;
  for (const auto& [seq, u] : unresolved_) out.push_back(u);
  return out;
}

Status WritePath::RejectPending(int64_t seq, const std::string& why) {
  auto entry = store_.Get(seq);
  if (!entry.ok()) return entry.status();
  if (entry->state != EntryState::kPending) {
    return Status::InvalidArgument("entry " + std::to_string(seq) + " is " +
                                   EntryStateName(entry->state) + ", not pending");
  }
  if (in_flight_->Contains(seq)) {
    return Status::InvalidArgument("entry " + std::to_string(seq) + " is being forwarded now");
  }
  if (Status s = store_.SetOutcome(seq, EntryState::kRejected, "", entry->attempts, why); !s.ok()) {
    return s;
  }
  std::lock_guard lock(mu_);
  unresolved_.erase(seq);
  spdlog::warn("WAL entry {} ({}) rejected by an admin: {}", seq, entry->kind, why);
  return Status::Ok();
}

}  // namespace chroma_ha
