// A WalStore wrapper that injects failures, for fault loops ("fail the Nth call, for every N").
//
// Every call is counted (0-based, per wrapper): overall and per method. Faults:
//  - FailNthCall(n): the call with overall index n fails once with `error` (default
//    kUnavailable) without reaching the wrapped store.
//  - FailNthCallOf(op, n): the same, counting only calls of one method.
//  - SetDown(true): every call fails with kUnavailable until SetDown(false).
//  - CrashOnAppend(mode): the next Append "crashes" between append and commit. kLost and
//    kDurable return kUnavailable and leave the caller's vector as it was passed in; the
//    entries either never reach the store (kLost) or do reach it durably (kDurable: an old-style
//    store that misreports a lost acknowledgement; it breaks WalStore's contract that any error
//    but kTimeout means nothing was written, which is what robustness tests want to see).
//    kInDoubtLost and kInDoubtDurable follow the contract: Append returns kTimeout (outcome
//    unknown) and either nothing was stored (every seq 0) or every entry was stored durably
//    (each seq filled in with the seq it was stored under; created_ms untouched).
//
// Thread-safe (the counters and faults are guarded by a mutex; the wrapped store serialises
// itself). The wrapped store must outlive this wrapper unless it was passed as a unique_ptr.
#ifndef CHROMA_HA_TESTS_FAKES_FAULT_STORE_H_
#define CHROMA_HA_TESTS_FAKES_FAULT_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chroma_ha/wal_store.h"

namespace chroma_ha {

// The WalStore methods, for per-method counting and faults.
enum class WalOp {
  kOpen, kRegisterInstances, kAppend, kSetOutcome, kSetExtra, kMarkApplied, kMarkAppliedBatch,
  kPendingFor, kUnresolved, kGet, kBacklog, kCountByState, kPrune, kPutCollection,
  kRemoveCollection, kLoadCollections, kBlock, kUnblock, kListBlocked, kClear, kResolvedAfter,
  kInstancesBehind, kPendingBefore,
  kAcquireLease, kRenewLease, kReleaseLease, kListLeases, kHeartbeat, kListMembers,
  kLastSeq, kPutResync, kLoadResyncs,
};

const char* WalOpName(WalOp op);

class FaultStore final : public WalStore {
 public:
  enum class CrashMode {
    kLost,     // the transaction never committed: nothing was stored
    kDurable,  // it committed, but the caller never heard: entries are stored
    kInDoubtLost,     // kTimeout, nothing stored, seqs 0
    kInDoubtDurable,  // kTimeout, entries stored, seqs filled in
  };

  explicit FaultStore(WalStore* base);                 // not owned; must outlive this
  explicit FaultStore(std::unique_ptr<WalStore> base);  // owned
  FaultStore(const FaultStore&) = delete;
  FaultStore& operator=(const FaultStore&) = delete;

  // --- Fault control -------------------------------------------------------------------------
  void FailNthCall(int64_t n, Status error = Status::Unavailable("injected fault"));
  void FailNthCallOf(WalOp op, int64_t n, Status error = Status::Unavailable("injected fault"));
  void SetDown(bool down);
  void CrashOnAppend(CrashMode mode);  // applies to the next Append only
  void ClearFaults();                  // disarms everything above (counters are kept)

  bool fired() const;                 // an armed FailNth*/crash fault has triggered
  int64_t calls() const;              // calls so far (all methods)
  int64_t calls(WalOp op) const;      // calls so far of one method
  int64_t failures() const;           // calls that were failed by this wrapper
  WalStore* base() const { return base_; }

  // --- WalStore ------------------------------------------------------------------------------
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
  struct NthFault {
    std::optional<WalOp> op;  // nullopt: count all calls
    int64_t n = 0;
    Status error;
  };

  // Counts the call; returns the error to fail it with, or OK to pass it through.
  Status Enter(WalOp op);

  std::unique_ptr<WalStore> owned_;
  WalStore* base_;

  mutable std::mutex mu_;
  int64_t calls_ = 0;
  std::map<WalOp, int64_t> op_calls_;
  int64_t failures_ = 0;
  std::vector<NthFault> nth_faults_;
  bool down_ = false;
  std::optional<CrashMode> crash_;
  bool fired_ = false;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_FAULT_STORE_H_
