#include "memory_store.h"  // same folder: tests/ is on the include path of users only

#include <chrono>

#include "wal/lease_rules.h"
#include "wal/text_check.h"

namespace chroma_ha {
namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NotFoundMessage(int64_t seq) { return "no WAL entry with seq " + std::to_string(seq); }

bool ValidState(EntryState s) {
  return s == EntryState::kPending || s == EntryState::kCommitted || s == EntryState::kRejected;
}

Status InvalidState() { return Status::InvalidArgument("invalid entry state"); }

Status NotRegistered(const std::string& instance) {
  return Status::InvalidArgument("instance '" + instance +
                                 "' is not registered with the WAL store");
}

const Clock& SystemClockInstance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace

MemoryWalStore::MemoryWalStore(std::vector<std::string> instances, const Clock* clock)
    : clock_(clock != nullptr ? *clock : SystemClockInstance()),
      registered_(instances.begin(), instances.end()) {}

Status MemoryWalStore::Open() { return Status::Ok(); }

Status MemoryWalStore::RegisterInstances(const std::vector<std::string>& instances) {
  for (const std::string& instance : instances) {
    if (Status s = CheckText("instance", instance); !s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  registered_.insert(instances.begin(), instances.end());
  return Status::Ok();
}

Status MemoryWalStore::Append(std::vector<WalEntry>* entries) {
  if (Status s = CheckEntries(*entries); !s.ok()) return s;
  for (const WalEntry& e : *entries) {
    if (!ValidState(e.state)) return InvalidState();
  }
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowMillis();
  for (WalEntry& e : *entries) {
    e.seq = next_seq_++;
    if (e.created_ms == 0) e.created_ms = now;
    e.last_error = SanitizeText(e.last_error);
    entries_[e.seq] = e;
    if (e.state == EntryState::kCommitted && !e.origin.empty()) applied_[e.seq].insert(e.origin);
  }
  return Status::Ok();
}

Status MemoryWalStore::SetOutcome(int64_t seq, EntryState state, const std::string& origin,
                                  int attempts, const std::string& last_error, const Fence& fence,
                                  bool* written) {
  if (!ValidState(state)) return InvalidState();
  if (Status s = CheckText("origin", origin); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = FenceLocked(fence); !s.ok()) return s;
  auto it = entries_.find(seq);
  if (it == entries_.end()) return Status::NotFound(NotFoundMessage(seq));
  if (written != nullptr) {
    *written = it->second.state == EntryState::kPending;
    if (!*written) return Status::Ok();
  }
  it->second.state = state;
  it->second.origin = origin;
  it->second.attempts = attempts;
  it->second.last_error = SanitizeText(last_error);
  if (state == EntryState::kCommitted && !origin.empty()) applied_[seq].insert(origin);
  return Status::Ok();
}

Status MemoryWalStore::SetExtra(int64_t seq, const std::string& extra) {
  if (Status s = CheckText("extra", extra); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(seq);
  if (it == entries_.end()) return Status::NotFound(NotFoundMessage(seq));
  it->second.extra = extra;
  return Status::Ok();
}

Status MemoryWalStore::MarkApplied(int64_t seq, const std::string& instance, bool* was_pending,
                                   const Fence& fence) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = FenceLocked(fence); !s.ok()) return s;
  auto it = entries_.find(seq);
  if (it == entries_.end()) return Status::NotFound(NotFoundMessage(seq));
  if (was_pending != nullptr) {
    // The real stores keep replay work for registered instances only.
    *was_pending = registered_.count(instance) != 0 && PendingOnLocked(it->second, instance);
  }
  applied_[seq].insert(instance);
  return Status::Ok();
}

Status MemoryWalStore::MarkAppliedBatch(const std::vector<int64_t>& seqs,
                                        const std::string& instance, const Fence& fence) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = FenceLocked(fence); !s.ok()) return s;
  for (const int64_t seq : seqs) {  // all or nothing
    if (entries_.count(seq) == 0) return Status::NotFound(NotFoundMessage(seq));
  }
  for (const int64_t seq : seqs) applied_[seq].insert(instance);
  return Status::Ok();
}

bool MemoryWalStore::PendingOnLocked(const WalEntry& e, const std::string& instance) const {
  if (e.state != EntryState::kCommitted || e.origin == instance) return false;
  auto it = applied_.find(e.seq);
  return it == applied_.end() || it->second.count(instance) == 0;
}

Result<std::vector<WalEntry>> MemoryWalStore::PendingFor(const std::string& instance,
                                                         int64_t after_seq, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  if (registered_.count(instance) == 0) return NotRegistered(instance);
  std::vector<WalEntry> out;
  if (limit <= 0) return out;
  for (auto it = entries_.upper_bound(after_seq); it != entries_.end(); ++it) {
    if (!PendingOnLocked(it->second, instance)) continue;
    out.push_back(it->second);
    if (static_cast<int>(out.size()) >= limit) break;
  }
  return out;
}

Result<std::vector<WalEntry>> MemoryWalStore::Unresolved() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WalEntry> out;
  for (const auto& [seq, e] : entries_) {
    if (e.state == EntryState::kPending) {
      out.push_back(e);
      out.back().body.clear();  // as the real stores: no bodies (WalStore::Unresolved)
    }
  }
  return out;
}

Result<int64_t> MemoryWalStore::ResolvedAfter(const WalEntry& entry) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = entries_.upper_bound(entry.seq); it != entries_.end(); ++it) {
    const WalEntry& e = it->second;
    if (e.state == EntryState::kPending) continue;
    if (e.tenant == entry.tenant && e.database == entry.database &&
        e.collection == entry.collection) {
      return it->first;
    }
  }
  return int64_t{0};
}

Result<std::vector<std::string>> MemoryWalStore::InstancesBehind(const std::string& tenant,
                                                                 const std::string& database,
                                                                 const std::string& collection,
                                                                 int64_t up_to) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> behind;
  for (auto it = entries_.begin(); it != entries_.end() && it->first <= up_to; ++it) {
    if (!InReadScope(it->second, tenant, database, collection)) continue;
    for (const std::string& instance : registered_) {
      if (PendingOnLocked(it->second, instance)) behind.insert(instance);
    }
  }
  return std::vector<std::string>(behind.begin(), behind.end());
}

Result<std::vector<int64_t>> MemoryWalStore::PendingBefore(const std::string& tenant,
                                                           const std::string& database,
                                                           const std::string& collection,
                                                           int64_t before) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> out;
  for (auto it = entries_.begin(); it != entries_.end() && it->first < before; ++it) {
    const WalEntry& e = it->second;
    if (e.state == EntryState::kPending && e.tenant == tenant && e.database == database &&
        e.collection == collection) {
      out.push_back(it->first);
    }
  }
  return out;
}

Result<WalEntry> MemoryWalStore::Get(int64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(seq);
  if (it == entries_.end()) return Status::NotFound(NotFoundMessage(seq));
  return it->second;
}

Result<std::vector<InstanceBacklog>> MemoryWalStore::Backlog(
    const std::vector<std::string>& instances) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<InstanceBacklog> out;
  for (const std::string& instance : instances) {
    if (registered_.count(instance) == 0) return NotRegistered(instance);
    InstanceBacklog b;
    b.instance = instance;
    for (const auto& [seq, e] : entries_) {
      if (!PendingOnLocked(e, instance)) continue;
      if (b.entries == 0 || e.created_ms < b.oldest_created_ms) b.oldest_created_ms = e.created_ms;
      ++b.entries;
    }
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::map<EntryState, int64_t>> MemoryWalStore::CountByState() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<EntryState, int64_t> out = {
      {EntryState::kPending, 0}, {EntryState::kCommitted, 0}, {EntryState::kRejected, 0}};
  for (const auto& [seq, e] : entries_) ++out[e.state];
  return out;
}

Result<int64_t> MemoryWalStore::Prune(int64_t before_ms, const std::vector<std::string>& instances,
                                      const Fence& fence) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = FenceLocked(fence); !s.ok()) return s;
  int64_t pruned = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const WalEntry& e = it->second;
    bool prunable = false;
    if (e.created_ms < before_ms) {
      if (e.state == EntryState::kRejected) {
        prunable = true;
      } else if (e.state == EntryState::kCommitted) {
        const std::set<std::string>& done = applied_[e.seq];
        prunable = true;
        for (const std::string& instance : instances) {
          if (done.count(instance) == 0) prunable = false;
        }
      }
    }
    if (prunable) {
      applied_.erase(it->first);
      it = entries_.erase(it);
      ++pruned;
    } else {
      ++it;
    }
  }
  return pruned;
}

Status MemoryWalStore::PutCollection(const CollectionIdentity& identity) {
  if (Status s = CheckIdentity(identity); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  collections_[{identity.tenant, identity.database, identity.name}] = identity;
  return Status::Ok();
}

Status MemoryWalStore::RemoveCollection(const std::string& tenant, const std::string& database,
                                        const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  collections_.erase({tenant, database, name});
  return Status::Ok();
}

Result<std::vector<CollectionIdentity>> MemoryWalStore::LoadCollections() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<CollectionIdentity> out;
  for (const auto& [key, c] : collections_) out.push_back(c);
  return out;
}

Status MemoryWalStore::Block(const BlockedCollection& blocked, const Fence& fence) {
  if (Status s = CheckBlocked(blocked); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = FenceLocked(fence); !s.ok()) return s;
  BlockedCollection& b =
      blocked_[{blocked.instance, blocked.tenant, blocked.database, blocked.collection}];
  b = blocked;
  b.error = SanitizeText(blocked.error);
  return Status::Ok();
}

Status MemoryWalStore::Unblock(const std::string& instance, const std::string& tenant,
                               const std::string& database, const std::string& collection,
                               const Fence& fence) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = FenceLocked(fence); !s.ok()) return s;
  blocked_.erase({instance, tenant, database, collection});
  return Status::Ok();
}

Result<std::vector<BlockedCollection>> MemoryWalStore::ListBlocked() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<BlockedCollection> out;
  for (const auto& [key, b] : blocked_) out.push_back(b);
  return out;
}

Status MemoryWalStore::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
  applied_.clear();
  collections_.clear();
  blocked_.clear();
  return Status::Ok();
}

std::optional<Lease> MemoryWalStore::LeaseLocked(const std::string& name) const {
  auto it = leases_.find(name);
  if (it == leases_.end()) return std::nullopt;
  return it->second;
}

Status MemoryWalStore::FenceLocked(const Fence& fence) const {
  if (!fence.fenced()) return Status::Ok();
  return lease_rules::CheckFence(fence, LeaseLocked(fence.lease), clock_.UnixMillis());
}

Result<Lease> MemoryWalStore::AcquireLease(const std::string& name, const std::string& holder,
                                           int64_t ttl_ms) {
  if (Status s = lease_rules::CheckArgs(name, holder, ttl_ms); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  Lease after =
      lease_rules::Acquire(LeaseLocked(name), name, holder, ttl_ms, clock_.UnixMillis());
  leases_[name] = after;
  return after;
}

Result<Lease> MemoryWalStore::RenewLease(const std::string& name, const std::string& holder,
                                         int64_t term, int64_t ttl_ms) {
  if (Status s = lease_rules::CheckArgs(name, holder, ttl_ms); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.UnixMillis();
  if (!lease_rules::Current(LeaseLocked(name), holder, term, now)) {
    return lease_rules::Lost(name, holder, term);
  }
  Lease& l = leases_[name];
  l.expires_ms = now + ttl_ms;
  l.now_ms = now;
  return l;
}

Status MemoryWalStore::ReleaseLease(const std::string& name, const std::string& holder,
                                    int64_t term) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.UnixMillis();
  if (lease_rules::Current(LeaseLocked(name), holder, term, now)) leases_[name].expires_ms = now;
  return Status::Ok();
}

Result<std::vector<Lease>> MemoryWalStore::ListLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Lease> out;
  for (auto [name, l] : leases_) {
    l.now_ms = clock_.UnixMillis();
    out.push_back(l);
  }
  return out;
}

Status MemoryWalStore::Heartbeat(const std::string& member) {
  if (member.empty()) return Status::InvalidArgument("a member needs an id");
  if (Status s = CheckText("member", member); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.UnixMillis();
  std::erase_if(members_, [now](const auto& kv) {
    return kv.second.last_seen_ms < now - kMemberForgetMs;
  });
  Member& m = members_[member];
  if (m.member.empty()) m = {member, now, now, now};
  m.last_seen_ms = now;
  return Status::Ok();
}

Result<std::vector<Member>> MemoryWalStore::ListMembers() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.UnixMillis();
  std::vector<Member> out;
  for (auto [id, m] : members_) {
    if (m.last_seen_ms < now - kMemberForgetMs) continue;
    m.now_ms = now;
    out.push_back(m);
  }
  return out;
}

void MemoryWalStore::SetLastSeen(const std::string& member, int64_t unix_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Member& m = members_[member];
  if (m.member.empty()) m = {member, unix_ms, unix_ms, 0};
  m.last_seen_ms = unix_ms;
}

Result<int64_t> MemoryWalStore::LastSeq() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.empty() ? int64_t{0} : entries_.rbegin()->first;
}

Status MemoryWalStore::PutResync(const std::string& instance, const std::string& state,
                                 const Fence& fence) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = FenceLocked(fence); !s.ok()) return s;
  resyncs_[instance] = state;
  return Status::Ok();
}

Result<std::map<std::string, std::string>> MemoryWalStore::LoadResyncs() {
  std::lock_guard<std::mutex> lock(mu_);
  return resyncs_;
}

size_t MemoryWalStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::vector<WalEntry> MemoryWalStore::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WalEntry> out;
  for (const auto& [seq, e] : entries_) out.push_back(e);
  return out;
}

}  // namespace chroma_ha
