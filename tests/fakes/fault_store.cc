#include "fault_store.h"  // same folder: tests/ is on the include path of users only

#include <utility>

namespace chroma_ha {

const char* WalOpName(WalOp op) {
  switch (op) {
    case WalOp::kOpen: return "Open";
    case WalOp::kRegisterInstances: return "RegisterInstances";
    case WalOp::kAppend: return "Append";
    case WalOp::kSetOutcome: return "SetOutcome";
    case WalOp::kSetExtra: return "SetExtra";
    case WalOp::kMarkApplied: return "MarkApplied";
    case WalOp::kMarkAppliedBatch: return "MarkAppliedBatch";
    case WalOp::kPendingFor: return "PendingFor";
    case WalOp::kUnresolved: return "Unresolved";
    case WalOp::kGet: return "Get";
    case WalOp::kBacklog: return "Backlog";
    case WalOp::kCountByState: return "CountByState";
    case WalOp::kPrune: return "Prune";
    case WalOp::kPutCollection: return "PutCollection";
    case WalOp::kRemoveCollection: return "RemoveCollection";
    case WalOp::kLoadCollections: return "LoadCollections";
    case WalOp::kBlock: return "Block";
    case WalOp::kUnblock: return "Unblock";
    case WalOp::kListBlocked: return "ListBlocked";
    case WalOp::kClear: return "Clear";
    case WalOp::kResolvedAfter: return "ResolvedAfter";
    case WalOp::kInstancesBehind: return "InstancesBehind";
    case WalOp::kPendingBefore: return "PendingBefore";
    case WalOp::kAcquireLease: return "AcquireLease";
    case WalOp::kRenewLease: return "RenewLease";
    case WalOp::kReleaseLease: return "ReleaseLease";
    case WalOp::kListLeases: return "ListLeases";
    case WalOp::kHeartbeat: return "Heartbeat";
    case WalOp::kListMembers: return "ListMembers";
    case WalOp::kLastSeq: return "LastSeq";
    case WalOp::kPutResync: return "PutResync";
    case WalOp::kLoadResyncs: return "LoadResyncs";
  }
  return "Unknown";
}

FaultStore::FaultStore(WalStore* base) : base_(base) {}

FaultStore::FaultStore(std::unique_ptr<WalStore> base)
    : owned_(std::move(base)), base_(owned_.get()) {}

void FaultStore::FailNthCall(int64_t n, Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  nth_faults_.push_back({std::nullopt, n, std::move(error)});
}

void FaultStore::FailNthCallOf(WalOp op, int64_t n, Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  nth_faults_.push_back({op, n, std::move(error)});
}

void FaultStore::SetDown(bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = down;
}

void FaultStore::CrashOnAppend(CrashMode mode) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_ = mode;
}

void FaultStore::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  nth_faults_.clear();
  down_ = false;
  crash_.reset();
}

bool FaultStore::fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_;
}

int64_t FaultStore::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

int64_t FaultStore::calls(WalOp op) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = op_calls_.find(op);
  return it == op_calls_.end() ? 0 : it->second;
}

int64_t FaultStore::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

Status FaultStore::Enter(WalOp op) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t index = calls_++;
  const int64_t op_index = op_calls_[op]++;
  Status result;
  for (auto it = nth_faults_.begin(); it != nth_faults_.end(); ++it) {
    const bool hit = it->op.has_value() ? (*it->op == op && it->n == op_index) : it->n == index;
    if (hit) {
      result = it->error;
      nth_faults_.erase(it);
      fired_ = true;
      break;
    }
  }
  if (result.ok() && down_) result = Status::Unavailable("store is down (injected)");
  if (!result.ok()) ++failures_;
  return result;
}

Status FaultStore::Open() {
  if (Status s = Enter(WalOp::kOpen); !s.ok()) return s;
  return base_->Open();
}

Status FaultStore::RegisterInstances(const std::vector<std::string>& instances) {
  if (Status s = Enter(WalOp::kRegisterInstances); !s.ok()) return s;
  return base_->RegisterInstances(instances);
}

Status FaultStore::Append(std::vector<WalEntry>* entries) {
  if (Status s = Enter(WalOp::kAppend); !s.ok()) return s;
  std::optional<CrashMode> crash;
  {
    std::lock_guard<std::mutex> lock(mu_);
    crash.swap(crash_);
    if (crash.has_value()) {
      fired_ = true;
      ++failures_;
    }
  }
  if (!crash.has_value()) return base_->Append(entries);
  switch (*crash) {
    case CrashMode::kLost:
      return Status::Unavailable("crashed between append and commit (injected)");
    case CrashMode::kDurable: {
      std::vector<WalEntry> copy = *entries;
      if (Status s = base_->Append(&copy); !s.ok()) return s;
      return Status::Unavailable("crashed between append and commit (injected)");
    }
    case CrashMode::kInDoubtLost:
      for (WalEntry& e : *entries) e.seq = 0;
      return Status::Timeout("commit acknowledgement lost (injected; nothing was stored)");
    case CrashMode::kInDoubtDurable: {
      std::vector<WalEntry> copy = *entries;
      if (Status s = base_->Append(&copy); !s.ok()) return s;
      for (size_t i = 0; i < entries->size(); ++i) (*entries)[i].seq = copy[i].seq;
      return Status::Timeout("commit acknowledgement lost (injected; the entries are durable)");
    }
  }
  return Status::Internal("unknown crash mode");
}

Status FaultStore::SetOutcome(int64_t seq, EntryState state, const std::string& origin,
                              int attempts, const std::string& last_error, const Fence& fence) {
  if (Status s = Enter(WalOp::kSetOutcome); !s.ok()) return s;
  return base_->SetOutcome(seq, state, origin, attempts, last_error, fence);
}

Status FaultStore::SetExtra(int64_t seq, const std::string& extra) {
  if (Status s = Enter(WalOp::kSetExtra); !s.ok()) return s;
  return base_->SetExtra(seq, extra);
}

Status FaultStore::MarkApplied(int64_t seq, const std::string& instance, bool* was_pending,
                               const Fence& fence) {
  if (Status s = Enter(WalOp::kMarkApplied); !s.ok()) return s;
  return base_->MarkApplied(seq, instance, was_pending, fence);
}

Status FaultStore::MarkAppliedBatch(const std::vector<int64_t>& seqs, const std::string& instance,
                                    const Fence& fence) {
  if (Status s = Enter(WalOp::kMarkAppliedBatch); !s.ok()) return s;
  return base_->MarkAppliedBatch(seqs, instance, fence);
}

Result<std::vector<WalEntry>> FaultStore::PendingFor(const std::string& instance,
                                                     int64_t after_seq, int limit) {
  if (Status s = Enter(WalOp::kPendingFor); !s.ok()) return s;
  return base_->PendingFor(instance, after_seq, limit);
}

Result<std::vector<WalEntry>> FaultStore::Unresolved() {
  if (Status s = Enter(WalOp::kUnresolved); !s.ok()) return s;
  return base_->Unresolved();
}

Result<int64_t> FaultStore::ResolvedAfter(const WalEntry& entry) {
  if (Status s = Enter(WalOp::kResolvedAfter); !s.ok()) return s;
  return base_->ResolvedAfter(entry);
}

Result<std::vector<std::string>> FaultStore::InstancesBehind(const std::string& tenant,
                                                             const std::string& database,
                                                             const std::string& collection,
                                                             int64_t up_to) {
  if (Status s = Enter(WalOp::kInstancesBehind); !s.ok()) return s;
  return base_->InstancesBehind(tenant, database, collection, up_to);
}

Result<std::vector<int64_t>> FaultStore::PendingBefore(const std::string& tenant,
                                                       const std::string& database,
                                                       const std::string& collection,
                                                       int64_t before) {
  if (Status s = Enter(WalOp::kPendingBefore); !s.ok()) return s;
  return base_->PendingBefore(tenant, database, collection, before);
}

Result<WalEntry> FaultStore::Get(int64_t seq) {
  if (Status s = Enter(WalOp::kGet); !s.ok()) return s;
  return base_->Get(seq);
}

Result<std::vector<InstanceBacklog>> FaultStore::Backlog(
    const std::vector<std::string>& instances) {
  if (Status s = Enter(WalOp::kBacklog); !s.ok()) return s;
  return base_->Backlog(instances);
}

Result<std::map<EntryState, int64_t>> FaultStore::CountByState() {
  if (Status s = Enter(WalOp::kCountByState); !s.ok()) return s;
  return base_->CountByState();
}

Result<int64_t> FaultStore::Prune(int64_t before_ms, const std::vector<std::string>& instances,
                                  const Fence& fence) {
  if (Status s = Enter(WalOp::kPrune); !s.ok()) return s;
  return base_->Prune(before_ms, instances, fence);
}

Status FaultStore::PutCollection(const CollectionIdentity& identity) {
  if (Status s = Enter(WalOp::kPutCollection); !s.ok()) return s;
  return base_->PutCollection(identity);
}

Status FaultStore::RemoveCollection(const std::string& tenant, const std::string& database,
                                    const std::string& name) {
  if (Status s = Enter(WalOp::kRemoveCollection); !s.ok()) return s;
  return base_->RemoveCollection(tenant, database, name);
}

Result<std::vector<CollectionIdentity>> FaultStore::LoadCollections() {
  if (Status s = Enter(WalOp::kLoadCollections); !s.ok()) return s;
  return base_->LoadCollections();
}

Status FaultStore::Block(const BlockedCollection& blocked, const Fence& fence) {
  if (Status s = Enter(WalOp::kBlock); !s.ok()) return s;
  return base_->Block(blocked, fence);
}

Status FaultStore::Unblock(const std::string& instance, const std::string& tenant,
                           const std::string& database, const std::string& collection,
                           const Fence& fence) {
  if (Status s = Enter(WalOp::kUnblock); !s.ok()) return s;
  return base_->Unblock(instance, tenant, database, collection, fence);
}

Result<std::vector<BlockedCollection>> FaultStore::ListBlocked() {
  if (Status s = Enter(WalOp::kListBlocked); !s.ok()) return s;
  return base_->ListBlocked();
}

Status FaultStore::Clear() {
  if (Status s = Enter(WalOp::kClear); !s.ok()) return s;
  return base_->Clear();
}

Result<Lease> FaultStore::AcquireLease(const std::string& name, const std::string& holder,
                                       int64_t ttl_ms) {
  if (Status s = Enter(WalOp::kAcquireLease); !s.ok()) return s;
  return base_->AcquireLease(name, holder, ttl_ms);
}

Result<Lease> FaultStore::RenewLease(const std::string& name, const std::string& holder,
                                     int64_t term, int64_t ttl_ms) {
  if (Status s = Enter(WalOp::kRenewLease); !s.ok()) return s;
  return base_->RenewLease(name, holder, term, ttl_ms);
}

Status FaultStore::ReleaseLease(const std::string& name, const std::string& holder,
                                int64_t term) {
  if (Status s = Enter(WalOp::kReleaseLease); !s.ok()) return s;
  return base_->ReleaseLease(name, holder, term);
}

Result<std::vector<Lease>> FaultStore::ListLeases() {
  if (Status s = Enter(WalOp::kListLeases); !s.ok()) return s;
  return base_->ListLeases();
}

Status FaultStore::Heartbeat(const std::string& member) {
  if (Status s = Enter(WalOp::kHeartbeat); !s.ok()) return s;
  return base_->Heartbeat(member);
}

Result<std::vector<Member>> FaultStore::ListMembers() {
  if (Status s = Enter(WalOp::kListMembers); !s.ok()) return s;
  return base_->ListMembers();
}

Result<int64_t> FaultStore::LastSeq() {
  if (Status s = Enter(WalOp::kLastSeq); !s.ok()) return s;
  return base_->LastSeq();
}

Status FaultStore::PutResync(const std::string& instance, const std::string& state,
                             const Fence& fence) {
  if (Status s = Enter(WalOp::kPutResync); !s.ok()) return s;
  return base_->PutResync(instance, state, fence);
}

Result<std::map<std::string, std::string>> FaultStore::LoadResyncs() {
  if (Status s = Enter(WalOp::kLoadResyncs); !s.ok()) return s;
  return base_->LoadResyncs();
}

}  // namespace chroma_ha
