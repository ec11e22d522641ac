// A WalStore that forwards every call to another (not owned), for test wrappers that intercept a
// few calls (fault injection, gates, freezes): each call first goes through Enter(op), which a
// wrapper overrides to count, hold or fail calls, and a wrapper overrides only the methods it
// changes beyond that. Kind() is forwarded as it is.
//
// Thread-safety: as the wrapped store's, plus whatever the wrapper's Enter needs.
#ifndef CHROMA_HA_TESTS_FAKES_FORWARDING_STORE_H_
#define CHROMA_HA_TESTS_FAKES_FORWARDING_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "chroma_ha/wal_store.h"

namespace chroma_ha {

// The WalStore methods, for per-method counting and faults.
enum class WalOp {
  kOpen,
  kRegisterInstances,
  kAppend,
  kSetOutcome,
  kSetExtra,
  kMarkApplied,
  kMarkAppliedBatch,
  kPendingFor,
  kUnresolved,
  kGet,
  kBacklog,
  kCountByState,
  kPrune,
  kPutCollection,
  kRemoveCollection,
  kLoadCollections,
  kBlock,
  kUnblock,
  kListBlocked,
  kClear,
  kResolvedAfter,
  kInstancesBehind,
  kPendingBefore,
  kAcquireLease,
  kRenewLease,
  kReleaseLease,
  kListLeases,
  kHeartbeat,
  kListMembers,
  kLastSeq,
  kPutResync,
  kLoadResyncs,
};

const char* WalOpName(WalOp op);

class ForwardingStore : public WalStore {
 public:
  explicit ForwardingStore(WalStore* base) : base_(base) {}
  ForwardingStore(const ForwardingStore&) = delete;
  ForwardingStore& operator=(const ForwardingStore&) = delete;

  WalStore* base() const { return base_; }

  const char* Kind() const override { return base_->Kind(); }
  Status Open() override;
  Status RegisterInstances(const std::vector<std::string>& instances) override;
  Status Append(std::vector<WalEntry>* entries) override;
  Status SetOutcome(int64_t seq, EntryState state, const std::string& origin, int attempts,
                    const std::string& last_error, const Fence& fence = Fence(),
                    bool* written = nullptr) override;
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
  Result<std::vector<int64_t>> PendingBefore(const std::string& tenant, const std::string& database,
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

 protected:
  // Before each forwarded call: a non-OK status is returned instead of calling the wrapped store.
  virtual Status Enter(WalOp /*op*/) { return Status::Ok(); }

  WalStore* base_;  // not owned
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_FORWARDING_STORE_H_
