#include "forwarding_store.h"  // same folder: tests/ is on the include path of users only

namespace chroma_ha {

const char* WalOpName(WalOp op) {
  // clang-format off
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
  // clang-format on
  return "Unknown";
}

Status ForwardingStore::Open() {
  if (Status s = Enter(WalOp::kOpen); !s.ok()) return s;
  return base_->Open();
}

Status ForwardingStore::RegisterInstances(const std::vector<std::string>& instances) {
  if (Status s = Enter(WalOp::kRegisterInstances); !s.ok()) return s;
  return base_->RegisterInstances(instances);
}

Status ForwardingStore::Append(std::vector<WalEntry>* entries) {
  if (Status s = Enter(WalOp::kAppend); !s.ok()) return s;
  return base_->Append(entries);
}

Status ForwardingStore::SetOutcome(int64_t seq, EntryState state, const std::string& origin,
                                   int attempts, const std::string& last_error, const Fence& fence,
                                   bool* written) {
  if (Status s = Enter(WalOp::kSetOutcome); !s.ok()) return s;
  return base_->SetOutcome(seq, state, origin, attempts, last_error, fence, written);
}

Status ForwardingStore::SetExtra(int64_t seq, const std::string& extra) {
  if (Status s = Enter(WalOp::kSetExtra); !s.ok()) return s;
  return base_->SetExtra(seq, extra);
}

Status ForwardingStore::MarkApplied(int64_t seq, const std::string& instance, bool* was_pending,
                                    const Fence& fence) {
  if (Status s = Enter(WalOp::kMarkApplied); !s.ok()) return s;
  return base_->MarkApplied(seq, instance, was_pending, fence);
}

Status ForwardingStore::MarkAppliedBatch(const std::vector<int64_t>& seqs,
                                         const std::string& instance, const Fence& fence) {
  if (Status s = Enter(WalOp::kMarkAppliedBatch); !s.ok()) return s;
  return base_->MarkAppliedBatch(seqs, instance, fence);
}

Result<std::vector<WalEntry>> ForwardingStore::PendingFor(const std::string& instance,
                                                          int64_t after_seq, int limit) {
  if (Status s = Enter(WalOp::kPendingFor); !s.ok()) return s;
  return base_->PendingFor(instance, after_seq, limit);
}

Result<std::vector<WalEntry>> ForwardingStore::Unresolved() {
  if (Status s = Enter(WalOp::kUnresolved); !s.ok()) return s;
  return base_->Unresolved();
}

Result<int64_t> ForwardingStore::ResolvedAfter(const WalEntry& entry) {
  if (Status s = Enter(WalOp::kResolvedAfter); !s.ok()) return s;
  return base_->ResolvedAfter(entry);
}

Result<std::vector<std::string>> ForwardingStore::InstancesBehind(const std::string& tenant,
                                                                  const std::string& database,
                                                                  const std::string& collection,
                                                                  int64_t up_to) {
  if (Status s = Enter(WalOp::kInstancesBehind); !s.ok()) return s;
  return base_->InstancesBehind(tenant, database, collection, up_to);
}

Result<std::vector<int64_t>> ForwardingStore::PendingBefore(const std::string& tenant,
                                                            const std::string& database,
                                                            const std::string& collection,
                                                            int64_t before) {
  if (Status s = Enter(WalOp::kPendingBefore); !s.ok()) return s;
  return base_->PendingBefore(tenant, database, collection, before);
}

Result<WalEntry> ForwardingStore::Get(int64_t seq) {
  if (Status s = Enter(WalOp::kGet); !s.ok()) return s;
  return base_->Get(seq);
}

Result<std::vector<InstanceBacklog>> ForwardingStore::Backlog(
    const std::vector<std::string>& instances) {
  if (Status s = Enter(WalOp::kBacklog); !s.ok()) return s;
  return base_->Backlog(instances);
}

Result<std::map<EntryState, int64_t>> ForwardingStore::CountByState() {
  if (Status s = Enter(WalOp::kCountByState); !s.ok()) return s;
  return base_->CountByState();
}

Result<int64_t> ForwardingStore::Prune(int64_t before_ms, const std::vector<std::string>& instances,
                                       const Fence& fence) {
  if (Status s = Enter(WalOp::kPrune); !s.ok()) return s;
  return base_->Prune(before_ms, instances, fence);
}

Status ForwardingStore::PutCollection(const CollectionIdentity& identity) {
  if (Status s = Enter(WalOp::kPutCollection); !s.ok()) return s;
  return base_->PutCollection(identity);
}

Status ForwardingStore::RemoveCollection(const std::string& tenant, const std::string& database,
                                         const std::string& name) {
  if (Status s = Enter(WalOp::kRemoveCollection); !s.ok()) return s;
  return base_->RemoveCollection(tenant, database, name);
}

Result<std::vector<CollectionIdentity>> ForwardingStore::LoadCollections() {
  if (Status s = Enter(WalOp::kLoadCollections); !s.ok()) return s;
  return base_->LoadCollections();
}

Status ForwardingStore::Block(const BlockedCollection& blocked, const Fence& fence) {
  if (Status s = Enter(WalOp::kBlock); !s.ok()) return s;
  return base_->Block(blocked, fence);
}

Status ForwardingStore::Unblock(const std::string& instance, const std::string& tenant,
                                const std::string& database, const std::string& collection,
                                const Fence& fence) {
  if (Status s = Enter(WalOp::kUnblock); !s.ok()) return s;
  return base_->Unblock(instance, tenant, database, collection, fence);
}

Result<std::vector<BlockedCollection>> ForwardingStore::ListBlocked() {
  if (Status s = Enter(WalOp::kListBlocked); !s.ok()) return s;
  return base_->ListBlocked();
}

Status ForwardingStore::Clear() {
  if (Status s = Enter(WalOp::kClear); !s.ok()) return s;
  return base_->Clear();
}

Result<Lease> ForwardingStore::AcquireLease(const std::string& name, const std::string& holder,
                                            int64_t ttl_ms) {
  if (Status s = Enter(WalOp::kAcquireLease); !s.ok()) return s;
  return base_->AcquireLease(name, holder, ttl_ms);
}

Result<Lease> ForwardingStore::RenewLease(const std::string& name, const std::string& holder,
                                          int64_t term, int64_t ttl_ms) {
  if (Status s = Enter(WalOp::kRenewLease); !s.ok()) return s;
  return base_->RenewLease(name, holder, term, ttl_ms);
}

Status ForwardingStore::ReleaseLease(const std::string& name, const std::string& holder,
                                     int64_t term) {
  if (Status s = Enter(WalOp::kReleaseLease); !s.ok()) return s;
  return base_->ReleaseLease(name, holder, term);
}

Result<std::vector<Lease>> ForwardingStore::ListLeases() {
  if (Status s = Enter(WalOp::kListLeases); !s.ok()) return s;
  return base_->ListLeases();
}

Status ForwardingStore::Heartbeat(const std::string& member) {
  if (Status s = Enter(WalOp::kHeartbeat); !s.ok()) return s;
  return base_->Heartbeat(member);
}

Result<std::vector<Member>> ForwardingStore::ListMembers() {
  if (Status s = Enter(WalOp::kListMembers); !s.ok()) return s;
  return base_->ListMembers();
}

Result<int64_t> ForwardingStore::LastSeq() {
  if (Status s = Enter(WalOp::kLastSeq); !s.ok()) return s;
  return base_->LastSeq();
}

Status ForwardingStore::PutResync(const std::string& instance, const std::string& state,
                                  const Fence& fence) {
  if (Status s = Enter(WalOp::kPutResync); !s.ok()) return s;
  return base_->PutResync(instance, state, fence);
}

Result<std::map<std::string, std::string>> ForwardingStore::LoadResyncs() {
  if (Status s = Enter(WalOp::kLoadResyncs); !s.ok()) return s;
  return base_->LoadResyncs();
}

}  // namespace chroma_ha
