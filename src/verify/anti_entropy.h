// AntiEntropyChecker: the background convergence check (VERIFY_INTERVAL, issue 13 item 4).
//
// A pass walks every tenant (default_tenant and those the identity map knows), every database
// and every collection present on the first instance (the source) or on another, and for each
// other instance:
//   1. skips the collection when the source or that instance still has WAL entries pending for
//      it (`Pending`): it is behind, not divergent;
//   2. compares the cheap digests (count + order-independent hash, verify/digest.h) read page by
//      page from both, and the collection metadata;
//   3. only where they differ, compares every record (verify/compare.h) and, when differences
//      remain and nothing became pending meanwhile, records a divergence;
//   4. with auto_repair, calls `Repair(instance, tenant, database, collection)` for it.
// The result of the last pass (divergent collections, repairs) is what View() shows until the
// next pass replaces it; counters accumulate.
//
// Threads: RunOnce() blocks (HTTP with the clients' deadlines, store reads) and must run off the
// event loop: Start() runs it every `interval` on a thread of its own; Stop() (and the
// destructor) wakes and joins it. View() is thread-safe. Clients, clock and the functions must
// outlive the checker.
#ifndef CHROMA_HA_VERIFY_ANTI_ENTROPY_H_
#define CHROMA_HA_VERIFY_ANTI_ENTROPY_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/instance_client.h"
#include "chroma_ha/status.h"

namespace chroma_ha {

struct Divergence {
  std::string instance, tenant, database, collection;
  int64_t differences = 0;  // counted by the full comparison
  std::string detail;       // the first difference, for people
  bool repair_attempted = false;
  bool repaired = false;
  std::string repair_error;  // when a repair failed
};

struct AntiEntropyView {
  bool enabled = false;
  bool auto_repair = false;
  int64_t interval_ms = 0;
  int64_t passes = 0;        // completed passes
  int64_t last_pass_ms = 0;  // unix ms when the last pass ended; 0 before the first
  int64_t last_pass_duration_ms = 0;
  std::string last_error;           // why the last pass stopped early ("" when it completed)
  int64_t collections_checked = 0;  // in the last pass (per instance pair)
  int64_t collections_skipped = 0;  // in the last pass: WAL entries pending
  int64_t digest_mismatches = 0;    // in the last pass
  int64_t divergences_total = 0;    // every divergence found, all passes
  int64_t repairs_ok_total = 0;
  int64_t repairs_failed_total = 0;
  std::vector<Divergence> divergent;  // found by the last pass
};

class AntiEntropyChecker {
 public:
  // Instances that have WAL entries pending for tenant/database/collection (WalStore::
  // InstancesBehind); an error skips the collection for this pass.
  using Pending = std::function<Result<std::vector<std::string>>(
      const std::string& tenant, const std::string& database, const std::string& collection)>;
  // The tenants to walk (default_tenant is always added).
  using Tenants = std::function<Result<std::vector<std::string>>()>;
  // Makes collection tenant/database/collection on `instance` equal to the source's.
  using Repair = std::function<Status(const std::string& instance, const std::string& tenant,
                                      const std::string& database, const std::string& collection)>;
  // Called with each pass's divergences (alerting); may be empty.
  using Listener = std::function<void(const std::vector<Divergence>&)>;

  struct Options {
    std::chrono::milliseconds interval{0};
    bool auto_repair = false;
    int page_size = 500;
  };

  // `instances[0]` is the source. None is owned.
  AntiEntropyChecker(std::vector<InstanceClient*> instances, Pending pending, Tenants tenants,
                     Repair repair, const Clock& clock, Options options);
  ~AntiEntropyChecker();
  AntiEntropyChecker(const AntiEntropyChecker&) = delete;
  AntiEntropyChecker& operator=(const AntiEntropyChecker&) = delete;

  void SetListener(Listener listener) { listener_ = std::move(listener); }
  // With several processes on one WAL only one should check (and repair): a pass runs only while
  // `active()` is true (chroma-ha: this process holds the recovery lease). Call before Start().
  void SetActive(std::function<bool()> active) { active_ = std::move(active); }

  // One pass (see above). Returns the first error that stopped it (an instance unreadable);
  // divergences found before it are kept.
  Status RunOnce();
  void Start();
  void Stop();
  AntiEntropyView View() const;

 private:
  struct Pass;
  Status CheckTenant(const std::string& tenant, std::size_t other, Pass* pass);
  // `in_a`/`in_b`: the database exists on the source / on instance `other`.
  Status CheckDatabase(const std::string& tenant, const std::string& database, std::size_t other,
                       bool in_a, bool in_b, Pass* pass);
  void Loop();

  std::vector<InstanceClient*> instances_;
  Pending pending_;
  Tenants tenants_;
  Repair repair_;
  Listener listener_;
  std::function<bool()> active_;
  const Clock& clock_;
  const Options options_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};  // ends a pass early on Stop()
  AntiEntropyView view_;
  std::thread thread_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_VERIFY_ANTI_ENTROPY_H_
