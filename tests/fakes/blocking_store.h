// A WalStore wrapper whose calls can be made to hang: what a PostgreSQL frozen with its
// connections open (SIGSTOP, a network partition) looks like to chroma-ha. While frozen, every
// call waits until Thaw() (or the wrapper's destruction) and then goes through to the wrapped
// store. Tests use it to check that nothing that must answer waits on the store.
//
// Thread-safe. The wrapped store must outlive this wrapper. Thaw before destroying anything
// that a blocked call refers to; the destructor thaws (and waits for no one).
#ifndef CHROMA_HA_TESTS_FAKES_BLOCKING_STORE_H_
#define CHROMA_HA_TESTS_FAKES_BLOCKING_STORE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "chroma_ha/wal_store.h"

namespace chroma_ha {

class BlockingStore final : public WalStore {
 public:
  explicit BlockingStore(WalStore* base) : base_(base) {}
  ~BlockingStore() override { Thaw(); }
  BlockingStore(const BlockingStore&) = delete;
  BlockingStore& operator=(const BlockingStore&) = delete;

  void Freeze();
  void Thaw();
  // Calls waiting in a frozen store now.
  int waiting() const;
  // Waits (real time, up to `deadline`) until at least `n` calls wait; false on the deadline.
  bool WaitForWaiting(int n, std::chrono::milliseconds deadline = std::chrono::seconds(10));
  int64_t calls() const;

  const char* Kind() const override { return base_->Kind(); }
  Status Open() override;
  Status RegisterInstances(const std::vector<std::string>& instances) override;
  Status Append(std::vector<WalEntry>* entries) override;
  Status SetOutcome(int64_t seq, EntryState state, const std::string& origin, int attempts,
                    const std::string& last_error, const Fence& fence = Fence()) override;
  Status SetExtra(int64_t seq, const std::string& extra) override;
  Status MarkApplied(int64_t seq, const std::string& instance, bool* was_pending = nullptr,
                     const Fence& fence = Fence()) override;
  Status MarkAppliedBatch(const std::vector<int64_t>& seqs, const std::string& instance,
                          const Fence& fence = Fence()) override;
  Result<std::vector<WalEntry>> PendingFor(const std::string& instance, int64_t after_seq,
                                           int limit) override;
  Result<std::vector<WalEntry>> Unresolved() override;
  Result<int64_t> ResolvedAfter(const WalEntry& entry) override;
  Result<std::vector<std::string>> InstancesBehind(const std::string& tenant,
                                                   const std::string& database,
                                                   const std::string& collection,
                                                   int64_t up_to) override;
  Result<std::vector<int64_t>> PendingBefore(const std::string& tenant,
                                             const std::string& database,
                                             const std::string& collection,
                                             int64_t before) override;
  Result<WalEntry> Get(int64_t seq) override;
  Result<std::vector<InstanceBacklog>> Backlog(const std::vector<std::string>& instances) override;
  Result<std::map<EntryState, int64_t>> CountByState() override;
  Result<int64_t> Prune(int64_t before_ms, const std::vector<std::string>& instances,
                        const Fence& fence = Fence()) override;
  Status PutCollection(const CollectionIdentity& identity) override;
  Status RemoveCollection(const std::string& tenant, const std::string& database,
                          const std::string& name) override;
  Result<std::vector<CollectionIdentity>> LoadCollections() override;
  Status Block(const BlockedCollection& blocked, const Fence& fence = Fence()) override;
  Status Unblock(const std::string& instance, const std::string& tenant,
                 const std::string& database, const std::string& collection,
                 const Fence& fence = Fence()) override;
  Result<std::vector<BlockedCollection>> ListBlocked() override;
  Status Clear() override;
  Result<Lease> AcquireLease(const std::string& name, const std::string& holder,
                             int64_t ttl_ms) override;
  Result<Lease> RenewLease(const std::string& name, const std::string& holder, int64_t term,
                           int64_t ttl_ms) override;
  Status ReleaseLease(const std::string& name, const std::string& holder, int64_t term) override;
  Result<std::vector<Lease>> ListLeases() override;
  Status Heartbeat(const std::string& member) override;
  Result<std::vector<Member>> ListMembers() override;
  Result<int64_t> LastSeq() override;
  Status PutResync(const std::string& instance, const std::string& state,
                   const Fence& fence = Fence()) override;
  Result<std::map<std::string, std::string>> LoadResyncs() override;

 private:
  void Gate();  // counts the call; waits while frozen

  WalStore* base_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool frozen_ = false;
  int waiting_ = 0;
  int64_t calls_ = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_BLOCKING_STORE_H_
