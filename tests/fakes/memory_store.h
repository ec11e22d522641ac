// An in-memory WalStore with the same observable semantics as the SQLite and PostgreSQL stores
// (the conformance suite runs against all three). For unit tests of code that uses a WalStore.
//
// Thread-safe: every call takes one internal mutex. Nothing is durable: the contents live as long
// as the object. Calls never fail (wrap it in FaultStore to inject failures). Pending work is
// computed by scanning (it is a fake), but only for registered instances, as in the real stores.
// Registered from the start: `instances`, by default the two of a default deployment.
// Lease expiry and member heartbeats use `clock` (UnixMillis), by default the system clock: a
// FakeClock lets tests expire a lease without sleeping.
#ifndef CHROMA_HA_TESTS_FAKES_MEMORY_STORE_H_
#define CHROMA_HA_TESTS_FAKES_MEMORY_STORE_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/wal_store.h"

namespace chroma_ha {

class MemoryWalStore final : public WalStore {
 public:
  explicit MemoryWalStore(std::vector<std::string> instances = {"primary", "replica"},
                          const Clock* clock = nullptr);
  MemoryWalStore(const MemoryWalStore&) = delete;
  MemoryWalStore& operator=(const MemoryWalStore&) = delete;

  const char* Kind() const override { return "memory"; }
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

  // Test helpers (not part of WalStore).
  size_t size() const;               // number of entries held
  std::vector<WalEntry> All() const;  // every entry, in seq order
  // Test only: `member`'s last heartbeat as if it had been at `unix_ms` (a member gone silent).
  void SetLastSeen(const std::string& member, int64_t unix_ms);

 private:
  using CollectionKey = std::tuple<std::string, std::string, std::string>;
  using BlockKey = std::tuple<std::string, std::string, std::string, std::string>;

  bool PendingOnLocked(const WalEntry& e, const std::string& instance) const;
  std::optional<Lease> LeaseLocked(const std::string& name) const;
  Status FenceLocked(const Fence& fence) const;  // lease_rules::CheckFence at clock_'s now

  const Clock& clock_;
  mutable std::mutex mu_;
  int64_t next_seq_ = 1;                                   // never reset, not even by Clear()
  std::map<int64_t, WalEntry> entries_;                    // by seq
  std::map<int64_t, std::set<std::string>> applied_;       // seq -> instances applied on
  std::map<CollectionKey, CollectionIdentity> collections_;
  std::map<BlockKey, BlockedCollection> blocked_;
  std::set<std::string> registered_;
  std::map<std::string, Lease> leases_;    // by name
  std::map<std::string, Member> members_;  // by member id
  std::map<std::string, std::string> resyncs_;  // by instance
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_MEMORY_STORE_H_
