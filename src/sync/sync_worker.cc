#include "sync/sync_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <future>
#include <iterator>
#include <map>
#include <utility>

#include "failpoints/failpoints.h"
#include "sync/backoff.h"
#include "sync/coalesce.h"
#include "sync/replay_lanes.h"

namespace chroma_ha {
namespace {

constexpr std::chrono::milliseconds kMinWait{10};

}  // namespace

SyncWorker::SyncWorker(const Config& config, WalStore& store,
                       std::vector<InstanceClient*> instances, CollectionIds& ids,
                       const Clock& clock, PressureFn under_pressure)
    : config_(config),
      store_(store),
      instances_(std::move(instances)),
      clock_(clock),
      under_pressure_(std::move(under_pressure)),
      replayer_(config.wal_deletion_conversion, ids, instances_),
      requests_in_flight_(std::max(1, config.wal_replay_concurrency)),
      backoff_until_(instances_.size()),
      rng_(std::random_device{}()) {
  for (InstanceClient* instance : instances_) {
    InstanceSyncStats s;
    if (instance != nullptr) s.instance = instance->name();
    stats_.instances.push_back(std::move(s));
  }
}

SyncWorker::~SyncWorker() { Stop(); }

Status SyncWorker::RunOnce() {
  std::lock_guard<std::mutex> run(run_mu_);
  round_store_error_ = false;
  Status first;
  for (size_t i = 0; i < instances_.size() && !stopping_; ++i) {
    if (instances_[i] == nullptr || BackingOff(i) || !HoldsReplayLease(i, /*starting=*/true)) {
      continue;
    }
    Status s = ReplayInstance(i);
    if (!s.ok() && first.ok()) first = std::move(s);
  }
  ScheduleStoreRetry(round_store_error_);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.last_sync_ms = clock_.UnixMillis();
  return first;
}

bool SyncWorker::HoldsReplayLease(size_t index, bool starting) {
  if (paused_ && paused_(instances_[index]->name())) return false;
  if (leases_ == nullptr) return true;
  std::optional<Fence> fence = leases_->Holding(ReplayLeaseName(instances_[index]->name()));
  // Within an instance's round, only the tenure it started under counts: a lease lost and
  // taken again meanwhile (a new term) ends the round; the next one starts afresh.
  if (!starting && fence && fence->term != round_fence_.term) fence.reset();
  if (starting) round_fence_ = fence.value_or(Fence());
  std::lock_guard<std::mutex> lock(mu_);
  stats_.instances[index].replay_lease_held = fence.has_value();
  return fence.has_value();
}

Status SyncWorker::StoreError(const char* op, Status status) {
  if (status.code() == StatusCode::kFailedPrecondition && round_fence_.fenced()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.fenced;
    }
    if (leases_ != nullptr) leases_->Lost(round_fence_.lease);
    spdlog::warn(
        "sync: {} refused: the lease {} (term {}) has ended; replay is left to its "
        "new holder: {}",
        op, round_fence_.lease, round_fence_.term, status.message());
    return status;
  }
  round_store_error_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.store_errors[op];
  }
  spdlog::warn("sync: WAL store {} failed; the round is retried after a backoff: {}", op,
               status.ToString());
  return status;
}

void SyncWorker::ScheduleStoreRetry(bool had_store_error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!had_store_error) {
    stats_.consecutive_store_errors = 0;
    stats_.store_retry_at_ms = 0;
    store_retry_at_ = {};
    return;
  }
  ++stats_.consecutive_store_errors;
  const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  const std::chrono::milliseconds delay =
      JitteredBackoff(config_.wal_retry_delay, stats_.consecutive_store_errors, unit);
  store_retry_at_ = clock_.Now() + delay;
  stats_.store_retry_at_ms = clock_.UnixMillis() + delay.count();
}

int SyncWorker::PageSize(int64_t backlog) const {
  const int normal = std::max(1, config_.wal_batch_size);
  if (under_pressure_ && under_pressure_()) return std::max(1, normal / 2);
  if (backlog > kHighVolumeBacklog) return std::max(1, config_.wal_high_volume_batch_size);
  return normal;
}

bool SyncWorker::IsBlocked(const std::set<BlockKey>& blocked, const WalEntry& e) {
  return blocked.count({e.tenant, e.database, e.collection}) != 0 ||
         (!e.collection.empty() && blocked.count({e.tenant, e.database, ""}) != 0) ||
         (!e.database.empty() && blocked.count({e.tenant, "", ""}) != 0);
}

Status SyncWorker::ReplayInstance(size_t index) {
  InstanceClient& target = *instances_[index];
  const std::string& name = target.name();

  Result<std::vector<BlockedCollection>> listed = store_.ListBlocked();
  if (!listed.ok()) return StoreError("list_blocked", listed.status());
  std::set<BlockKey> blocked;
  for (const BlockedCollection& b : *listed) {
    if (b.instance == name) blocked.insert({b.tenant, b.database, b.collection});
  }
  int64_t backlog = 0;  // best effort: a failed count just means normal pages
  if (Result<std::vector<InstanceBacklog>> b = store_.Backlog({name}); !b.ok()) {
    (void)StoreError("backlog", b.status());
  } else if (!b->empty()) {
    backlog = b->front().entries;
  }

  Round round{index, target, std::move(blocked), {}, {}, {}, {}, {}};
  Status s = ReplayPages(round, backlog);
  // Whatever stopped the pages, the mark behind is collected (it may have been stored).
  Status behind = FinishBehind(round);
  if (!s.ok()) return s;
  if (!behind.ok()) return behind;
  return round.result;
}

Status SyncWorker::ReplayPages(Round& round, int64_t backlog) {
  const size_t index = round.index;
  const std::string& name = round.target.name();
  std::future<PageRead> next;  // the page after this one, read while this one is replayed
  int64_t after_seq = 0;
  while (!stopping_) {
    if (!HoldsReplayLease(index)) break;
    const int page_size = PageSize(backlog);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.instances[index].batch_size = page_size;
    }
    const auto reading = std::chrono::steady_clock::now();
    PageRead read = next.valid() ? next.get() : ReadPage(name, after_seq, page_size);
    if (!read.page.ok()) return StoreError("pending_for", read.page.status());
    std::vector<WalEntry>& page = *read.page;
    if (page.empty()) break;
    const int64_t first_seq = page.front().seq;
    after_seq = page.back().seq;
    const size_t entries = page.size();
    if (read.more) {
      next = std::async(std::launch::async, [this, &name, after_seq, page_size] {
        return ReadPage(name, after_seq, page_size);
      });
    }
    const auto replaying = std::chrono::steady_clock::now();
    std::vector<ReplayUnit> units = PlanReplay(page, validated_);
    if (Status s = ReplayUnits(round, units); !s.ok()) return s;
    const auto marking = std::chrono::steady_clock::now();
    const bool behind = next.valid() && !stopping_;
    if (behind) {
      // Another page follows: it goes out while this one's mark commits.
      if (Status s = FinishBehind(round); !s.ok()) return s;
      MarkBehind(round, std::move(page));
    } else if (Status s = MarkRun(round); !s.ok()) {  // before `page` goes away
      return s;
    }
    // Where a drain's time goes: the store steps left between the instance's requests.
    using Ms = std::chrono::duration<double, std::milli>;
    spdlog::debug(
        "sync: page of {} entries (seqs {}..{}) to {}: {:.1f} ms replaying, {:.1f} ms "
        "waiting for the store",
        entries, first_seq, after_seq, name, Ms(marking - replaying).count(),
        Ms(replaying - reading + (std::chrono::steady_clock::now() - marking)).count());
    if (behind) continue;
    if (stopping_ || !read.more) break;
  }
  return Status::Ok();
}

SyncWorker::PageRead SyncWorker::ReadPage(const std::string& instance, int64_t after_seq,
                                          int chunk) const {
  PageRead out;
  std::vector<WalEntry>& page = *out.page;
  for (int reads = 1;; ++reads) {
    Result<std::vector<WalEntry>> read = store_.PendingFor(instance, after_seq, chunk);
    if (!read.ok()) return {read.status(), false};
    out.more = static_cast<int>(read->size()) >= chunk;
    if (page.empty()) {
      page = std::move(*read);
    } else {
      page.insert(page.end(), std::make_move_iterator(read->begin()),
                  std::make_move_iterator(read->end()));
    }
    if (!out.more || !PageWantsMore(page, chunk, reads)) return out;
    after_seq = page.back().seq;
  }
}

Status SyncWorker::ReplayUnits(Round& round, std::vector<ReplayUnit>& units) {
  size_t next = 0;
  while (next < units.size()) {
    if (stopping_ || !HoldsReplayLease(round.index)) return Status::Ok();
    if (units[next].alone) {
      const WalEntry& entry = *units[next++].entries.front();
      if (IsBlocked(round.blocked, entry)) continue;
      if (Status s = ReplayOne(round, entry); !s.ok()) return s;
      continue;
    }
    size_t end = next;
    while (end < units.size() && !units[end].alone) ++end;
    if (Status s = ReplayConcurrently(round, units, next, end); !s.ok()) return s;
    next = end;
  }
  return Status::Ok();
}

Status SyncWorker::ReplayConcurrently(Round& round, std::vector<ReplayUnit>& units, size_t begin,
                                      size_t end) {
  // Each collection's units in order; `ready` holds the collections whose next unit may go now
  // (none of theirs in flight), by that unit's position, so earlier units go first.
  std::map<ReplayKey, std::deque<size_t>> queues;
  for (size_t i = begin; i < end; ++i) queues[ReplayKeyOf(*units[i].entries.front())].push_back(i);
  std::set<std::pair<size_t, ReplayKey>> ready;
  for (const auto& [key, queue] : queues) ready.insert({queue.front(), key});
  const auto requeue = [&](const ReplayKey& key) {
    std::deque<size_t>& queue = queues[key];
    if (!queue.empty()) ready.insert({queue.front(), key});
  };

  std::map<size_t, WalEntry> merged;  // coalesced units' requests; outlive `lanes`' jobs
  ReplayLanes lanes(requests_in_flight_);
  bool stop = false;                    // launch nothing more
  Status failed;                        // a recording failed: the rest is dropped, re-sent later
  const WalEntry* transient = nullptr;  // the first unit answered transiently
  std::string transient_error;
  for (;;) {
    while (!stop && !lanes.Full() && !ready.empty()) {
      if (stopping_ || !HoldsReplayLease(round.index)) {
        stop = true;
        break;
      }
      const auto [i, key] = *ready.begin();
      ready.erase(ready.begin());
      queues[key].pop_front();
      ReplayUnit& unit = units[i];
      if (IsBlocked(round.blocked, *unit.entries.front())) {
        requeue(key);
        continue;
      }
      const WalEntry* request = unit.entries.front();
      if (unit.coalescer) request = &merged.emplace(i, MergedEntry(*request, unit)).first->second;
      InstanceClient& target = round.target;
      lanes.Launch(i, [this, request, &target] { return replayer_.Apply(*request, target); });
    }
    if (lanes.running() == 0) break;
    auto [i, out] = lanes.Next();
    if (!failed.ok()) continue;  // dropped: applied ones are re-sent (batchable) next round
    const ReplayUnit& unit = units[i];
    if (out.kind == ReplayOutcome::kTransient) {
      if (transient == nullptr) {
        transient = unit.coalescer ? &merged.at(i) : unit.entries.front();
        transient_error = out.error;
      }
      stop = true;
      continue;
    }
    Status s = unit.coalescer ? RecordGroup(round, unit.entries, merged.at(i), out)
                              : RecordOne(round, *unit.entries.front(), out, /*batchable=*/true);
    if (!s.ok()) {
      failed = std::move(s);
      stop = true;
    } else if (!stop) {
      requeue(ReplayKeyOf(*unit.entries.front()));
    }
  }
  if (!failed.ok()) return failed;
  if (transient != nullptr) return StopTransient(round, *transient, transient_error);
  return Status::Ok();
}

WalEntry SyncWorker::MergedEntry(const WalEntry& first, const ReplayUnit& unit) {
  // The first entry with the merged body (its own body, up to megabytes, is not copied).
  return WalEntry{first.seq,        first.created_ms, first.tenant,
                  first.database,   first.collection, first.kind,
                  first.method,     first.path,       unit.coalescer->Body(),
                  first.state,      first.origin,     first.attempts,
                  first.last_error, first.extra};
}

Status SyncWorker::ReplayOne(Round& round, const WalEntry& entry) {
  const bool batchable = IsBatchableReplay(entry);
  // Anything but a batchable write is re-applied only alone: mark the run before it first.
  if (!batchable) {
    if (Status s = MarkRun(round); !s.ok()) return s;
  }
  return RecordOne(round, entry, replayer_.Apply(entry, round.target), batchable);
}

Status SyncWorker::RecordOne(Round& round, const WalEntry& entry, const ReplayOutcome& out,
                             bool batchable) {
  const std::string& name = round.target.name();
  if (out.healed) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.collections_healed;
  }
  if (out.kind == ReplayOutcome::kTransient) return StopTransient(round, entry, out.error);
  if (out.kind == ReplayOutcome::kPermanent) {
    spdlog::info("sync: blocking {}/{}/{} on {} at seq {} ({}): {}", entry.tenant, entry.database,
                 entry.collection, name, entry.seq, entry.kind, out.error);
    round.blocked.insert({entry.tenant, entry.database, entry.collection});
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.failed;
      stats_.instances[round.index].last_error = out.error;
    }
    BlockedCollection b{name,      entry.tenant,        entry.database, entry.collection,
                        entry.seq, clock_.UnixMillis(), out.error};
    if (Status s = store_.Block(b, round_fence_); !s.ok()) {
      s = StoreError("block", std::move(s));
      if (round.result.ok()) round.result = std::move(s);
    }
    return Status::Ok();
  }
  // Applied. Until its mark is stored, only batchable writes may follow it (a crash re-applies
  // the unmarked run); on a store error stop here: the next round re-sends.
  if (failpoints::Hit(failpoints::Point::kAfterReplayApply)) {
    spdlog::debug("sync: seq {} applied on {} but not marked: failpoint", entry.seq, name);
    return Status::Unavailable("failpoint");
  }
  spdlog::debug("sync: seq {} ({} {}/{}/{}) applied on {}{}", entry.seq, entry.kind, entry.tenant,
                entry.database, entry.collection, name,
                out.converted ? " (deletion converted)" : "");
  if (out.converted) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.conversions;
  }
  round.run.push_back(&entry);
  if (!batchable) return MarkRun(round);
  return Status::Ok();
}

Status SyncWorker::RecordGroup(Round& round, const std::vector<const WalEntry*>& group,
                               const WalEntry& merged, const ReplayOutcome& out) {
  const std::string& name = round.target.name();
  if (out.healed) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.collections_healed;
  }
  if (out.kind == ReplayOutcome::kTransient) return StopTransient(round, merged, out.error);
  if (out.kind == ReplayOutcome::kPermanent) {
    // Find the entry at fault (and apply the ones before it): one by one, as without coalescing.
    spdlog::debug("sync: seqs {}..{} ({} entries) refused together by {} ({}); one by one",
                  group.front()->seq, group.back()->seq, group.size(), name, out.error);
    for (const WalEntry* e : group) {
      if (IsBlocked(round.blocked, *e)) continue;
      if (Status s = ReplayOne(round, *e); !s.ok()) return s;
    }
    return Status::Ok();
  }
  if (failpoints::Hit(failpoints::Point::kAfterReplayApply)) {
    spdlog::debug("sync: seqs {}..{} applied on {} but not marked: failpoint", group.front()->seq,
                  group.back()->seq, name);
    return Status::Unavailable("failpoint");
  }
  spdlog::debug("sync: seqs {}..{} ({} {} entries, {}/{}/{}) applied on {} in one request",
                group.front()->seq, group.back()->seq, group.size(), merged.kind, merged.tenant,
                merged.database, merged.collection, name);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.coalesced_requests;
  }
  for (const WalEntry* e : group) round.run.push_back(e);  // adds/upserts: batchable
  return Status::Ok();
}

Status SyncWorker::StopTransient(Round& round, const WalEntry& entry, const std::string& error) {
  const std::string& name = round.target.name();
  spdlog::debug("sync: seq {} ({}) to {}: transient: {}", entry.seq, entry.kind, name, error);
  if (Status s = MarkRun(round); !s.ok()) return s;
  RecordTransient(round.index, error);  // after MarkRun, which ends the failure streak
  return Status::Unavailable("replay to " + name + " stopped at seq " + std::to_string(entry.seq) +
                             ": " + error);
}

bool SyncWorker::BackingOff(size_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  return clock_.Now() < backoff_until_[index];
}

void SyncWorker::RecordTransient(size_t index, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  InstanceSyncStats& s = stats_.instances[index];
  ++stats_.retried;
  ++s.consecutive_failures;
  s.last_error = error;
  const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  const std::chrono::milliseconds delay =
      JitteredBackoff(config_.wal_retry_delay, s.consecutive_failures, unit);
  backoff_until_[index] = clock_.Now() + delay;
  s.backoff_until_ms = clock_.UnixMillis() + delay.count();
}

int SyncWorker::IndexOf(const std::string& instance) const {
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i] != nullptr && instances_[i]->name() == instance) return static_cast<int>(i);
  }
  return -1;
}

Status SyncWorker::Retry(const std::string& instance, const std::string& tenant,
                         const std::string& database, const std::string& collection) {
  const int index = IndexOf(instance);
  if (index < 0) return Status::InvalidArgument("unknown instance '" + instance + "'");
  if (Status s = store_.Unblock(instance, tenant, database, collection); !s.ok()) return s;
  spdlog::info("sync: retry of {}/{}/{} on {} requested", tenant, database, collection, instance);
  {
    std::lock_guard<std::mutex> lock(mu_);
    backoff_until_[index] = {};
    stats_.instances[index].backoff_until_ms = 0;
  }
  Notify();
  return Status::Ok();
}

Status SyncWorker::Skip(const std::string& instance, int64_t seq) {
  if (IndexOf(instance) < 0) return Status::InvalidArgument("unknown instance '" + instance + "'");
  Result<WalEntry> entry = store_.Get(seq);
  if (!entry.ok()) return entry.status();
  if (entry->state != EntryState::kCommitted) {
    return Status::InvalidArgument("entry " + std::to_string(seq) + " is " +
                                   EntryStateName(entry->state) + ", not committed");
  }
  // Count down the fresh-read backlog only if the store says the entry was still to replay
  // there: skipping twice, or skipping an entry already applied, changes nothing.
  bool was_pending = false;
  if (Status s = store_.MarkApplied(seq, instance, &was_pending); !s.ok()) return s;
  if (was_pending && on_applied_) on_applied_(*entry, instance);
  if (Status s = store_.Unblock(instance, entry->tenant, entry->database, entry->collection);
      !s.ok()) {
    return s;
  }
  spdlog::info("sync: seq {} skipped on {} ({}/{}/{} unblocked)", seq, instance, entry->tenant,
               entry->database, entry->collection);
  Notify();
  return Status::Ok();
}

SyncStats SyncWorker::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void SyncWorker::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  wake_.notify_one();
}

void SyncWorker::OnInstanceHealthy(size_t index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (index >= backoff_until_.size()) return;
    backoff_until_[index] = {};
    stats_.instances[index].backoff_until_ms = 0;
    stats_.instances[index].consecutive_failures = 0;
    notified_ = true;
  }
  wake_.notify_one();
}

void SyncWorker::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  notified_ = true;  // catch up at once (backlog from before a restart)
  thread_ = std::thread([this] { Loop(); });
}

void SyncWorker::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    thread.swap(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

std::chrono::milliseconds SyncWorker::WaitTime() const {
  std::chrono::milliseconds wait = std::max(config_.wal_sync_interval, kMinWait);
  const auto now = clock_.Now();
  std::vector<std::chrono::steady_clock::time_point> deadlines = backoff_until_;
  deadlines.push_back(store_retry_at_);
  for (const auto& until : deadlines) {
    if (until <= now) continue;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    wait = std::min(wait, std::max(left, kMinWait));
  }
  return wait;
}

void SyncWorker::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, WaitTime(), [this] { return notified_ || stopping_.load(); });
    if (stopping_) break;
    notified_ = false;
    lock.unlock();
    if (Status s = RunOnce(); !s.ok()) spdlog::debug("sync: round ended: {}", s.ToString());
    lock.lock();
  }
}

}  // namespace chroma_ha
