#include "blocking_store.h"  // same folder: tests/ is on the include path of users only

namespace chroma_ha {

void BlockingStore::Freeze() {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_ = true;
}

void BlockingStore::Thaw() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    frozen_ = false;
  }
  cv_.notify_all();
}

int BlockingStore::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

int64_t BlockingStore::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

bool BlockingStore::WaitForWaiting(int n, std::chrono::milliseconds deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, deadline, [&] { return waiting_ >= n; });
}

void BlockingStore::Gate() {
  std::unique_lock<std::mutex> lock(mu_);
  ++calls_;
  if (!frozen_) return;
  ++waiting_;
  cv_.notify_all();  // WaitForWaiting
  cv_.wait(lock, [this] { return !frozen_; });
  --waiting_;
}

Status BlockingStore::Open() { return Gate(), base_->Open(); }
Status BlockingStore::RegisterInstances(const std::vector<std::string>& instances) {
  return Gate(), base_->RegisterInstances(instances);
}
Status BlockingStore::Append(std::vector<WalEntry>* entries) {
  return Gate(), base_->Append(entries);
}
Status BlockingStore::SetOutcome(int64_t seq, EntryState state, const std::string& origin,
                                 int attempts, const std::string& last_error,
                                 const Fence& fence) {
  return Gate(), base_->SetOutcome(seq, state, origin, attempts, last_error, fence);
}
Status BlockingStore::SetExtra(int64_t seq, const std::string& extra) {
  return Gate(), base_->SetExtra(seq, extra);
}
Status BlockingStore::MarkApplied(int64_t seq, const std::string& instance, bool* was_pending,
                                  const Fence& fence) {
  return Gate(), base_->MarkApplied(seq, instance, was_pending, fence);
}
Status BlockingStore::MarkAppliedBatch(const std::vector<int64_t>& seqs,
                                       const std::string& instance, const Fence& fence) {
  return Gate(), base_->MarkAppliedBatch(seqs, instance, fence);
}
Result<std::vector<WalEntry>> BlockingStore::PendingFor(const std::string& instance,
                                                        int64_t after_seq, int limit) {
  return Gate(), base_->PendingFor(instance, after_seq, limit);
}
Result<std::vector<WalEntry>> BlockingStore::Unresolved() { return Gate(), base_->Unresolved(); }
Result<int64_t> BlockingStore::ResolvedAfter(const WalEntry& entry) {
  return Gate(), base_->ResolvedAfter(entry);
}

Result<std::vector<std::string>> BlockingStore::InstancesBehind(const std::string& tenant,
                                                                const std::string& database,
                                                                const std::string& collection,
                                                                int64_t up_to) {
  return Gate(), base_->InstancesBehind(tenant, database, collection, up_to);
}

Result<std::vector<int64_t>> BlockingStore::PendingBefore(const std::string& tenant,
                                                          const std::string& database,
                                                          const std::string& collection,
                                                          int64_t before) {
  return Gate(), base_->PendingBefore(tenant, database, collection, before);
}
Result<WalEntry> BlockingStore::Get(int64_t seq) { return Gate(), base_->Get(seq); }
Result<std::vector<InstanceBacklog>> BlockingStore::Backlog(
    const std::vector<std::string>& instances) {
  return Gate(), base_->Backlog(instances);
}
Result<std::map<EntryState, int64_t>> BlockingStore::CountByState() {
  return Gate(), base_->CountByState();
}
Result<int64_t> BlockingStore::Prune(int64_t before_ms, const std::vector<std::string>& instances,
                                     const Fence& fence) {
  return Gate(), base_->Prune(before_ms, instances, fence);
}
Status BlockingStore::PutCollection(const CollectionIdentity& identity) {
  return Gate(), base_->PutCollection(identity);
}
Status BlockingStore::RemoveCollection(const std::string& tenant, const std::string& database,
                                       const std::string& name) {
  return Gate(), base_->RemoveCollection(tenant, database, name);
}
Result<std::vector<CollectionIdentity>> BlockingStore::LoadCollections() {
  return Gate(), base_->LoadCollections();
}
Status BlockingStore::Block(const BlockedCollection& blocked, const Fence& fence) {
  return Gate(), base_->Block(blocked, fence);
}
Status BlockingStore::Unblock(const std::string& instance, const std::string& tenant,
                              const std::string& database, const std::string& collection,
                              const Fence& fence) {
  return Gate(), base_->Unblock(instance, tenant, database, collection, fence);
}
Result<std::vector<BlockedCollection>> BlockingStore::ListBlocked() {
  return Gate(), base_->ListBlocked();
}
Status BlockingStore::Clear() { return Gate(), base_->Clear(); }
Result<Lease> BlockingStore::AcquireLease(const std::string& name, const std::string& holder,
                                          int64_t ttl_ms) {
  return Gate(), base_->AcquireLease(name, holder, ttl_ms);
}
Result<Lease> BlockingStore::RenewLease(const std::string& name, const std::string& holder,
                                        int64_t term, int64_t ttl_ms) {
  return Gate(), base_->RenewLease(name, holder, term, ttl_ms);
}
Status BlockingStore::ReleaseLease(const std::string& name, const std::string& holder,
                                   int64_t term) {
  return Gate(), base_->ReleaseLease(name, holder, term);
}
Result<std::vector<Lease>> BlockingStore::ListLeases() { return Gate(), base_->ListLeases(); }
Status BlockingStore::Heartbeat(const std::string& member) {
  return Gate(), base_->Heartbeat(member);
}
Result<std::vector<Member>> BlockingStore::ListMembers() { return Gate(), base_->ListMembers(); }
Result<int64_t> BlockingStore::LastSeq() { return Gate(), base_->LastSeq(); }
Status BlockingStore::PutResync(const std::string& instance, const std::string& state,
                                const Fence& fence) {
  return Gate(), base_->PutResync(instance, state, fence);
}
Result<std::map<std::string, std::string>> BlockingStore::LoadResyncs() {
  return Gate(), base_->LoadResyncs();
}

}  // namespace chroma_ha
