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

#include "forwarding_store.h"

namespace chroma_ha {

class FaultStore final : public ForwardingStore {
 public:
  enum class CrashMode {
    kLost,            // the transaction never committed: nothing was stored
    kDurable,         // it committed, but the caller never heard: entries are stored
    kInDoubtLost,     // kTimeout, nothing stored, seqs 0
    kInDoubtDurable,  // kTimeout, entries stored, seqs filled in
  };

  explicit FaultStore(WalStore* base);                  // not owned; must outlive this
  explicit FaultStore(std::unique_ptr<WalStore> base);  // owned
  FaultStore(const FaultStore&) = delete;
  FaultStore& operator=(const FaultStore&) = delete;

  // --- Fault control -------------------------------------------------------------------------
  void FailNthCall(int64_t n, Status error = Status::Unavailable("injected fault"));
  void FailNthCallOf(WalOp op, int64_t n, Status error = Status::Unavailable("injected fault"));
  void SetDown(bool down);
  void CrashOnAppend(CrashMode mode);  // applies to the next Append only
  void ClearFaults();                  // disarms everything above (counters are kept)

  bool fired() const;             // an armed FailNth*/crash fault has triggered
  int64_t calls() const;          // calls so far (all methods)
  int64_t calls(WalOp op) const;  // calls so far of one method
  int64_t failures() const;       // calls that were failed by this wrapper

  // --- WalStore ------------------------------------------------------------------------------
  Status Append(std::vector<WalEntry>* entries) override;  // the crash modes

 private:
  struct NthFault {
    std::optional<WalOp> op;  // nullopt: count all calls
    int64_t n = 0;
    Status error;
  };

  // Counts the call; returns the error to fail it with, or OK to pass it through.
  Status Enter(WalOp op) override;

  std::unique_ptr<WalStore> owned_;

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
