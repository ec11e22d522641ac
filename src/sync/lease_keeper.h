// This process's leases in the WAL store (wal_store.h "Leases and fencing"; docs/design.md
// "Fleet"): every chroma-ha process sharing one store runs one LeaseKeeper, which heartbeats
// the process as a member and tries, every TTL/3, to take or renew each lease it was given:
// "replay/<instance>" (one per target instance: the sync worker replays to an instance only
// while it holds that instance's lease, so the work of several instances can be spread over
// several processes) and "recovery" (resolving pending entries, pruning).
//
// Holding(lease) is this process's own, conservative view: the fence of the last successful
// acquire/renew, valid until 9/10 of the TTL after that call *started* (local steady clock), so
// the view ends before the store's expiry does. The store has the last word: every write made
// with the fence is checked in its transaction (kFailedPrecondition once the tenure is over),
// and a caller that sees that calls Lost(), which drops the lease from the view at once.
//
// Takeover time: a holder that dies (SIGKILL) stops renewing; its lease expires at most TTL
// after its last renewal and another process takes it at its next tick, TTL/3 later at most,
// so within about 4/3 TTL (LEASE_TTL_MS, 3000: about 4 s at worst, 3 s typically). A smaller
// TTL takes over sooner but renews more often (3 store writes per lease per TTL per process)
// and drops a lease that a store stall longer than the TTL leaves unrenewed.
//
// Threads: Start() runs Tick() every TTL/3 on its own thread; Holding(), Lost(), view() are
// cheap and thread-safe (one mutex, no I/O). Stop() (and the destructor) joins the thread (a
// tick in progress stops after its current store call) and releases the held leases so another
// process takes over at once after a clean shutdown (unless the store failed the last tick:
// then they are left to expire, so a silent store cannot hold the shutdown up).
#ifndef CHROMA_HA_SYNC_LEASE_KEEPER_H_
#define CHROMA_HA_SYNC_LEASE_KEEPER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/wal_store.h"

namespace chroma_ha {

inline constexpr const char* kRecoveryLease = "recovery";
std::string ReplayLeaseName(const std::string& instance);  // "replay/<instance>"

class LeaseKeeper {
 public:
  // What /wal/status shows: as read from the store at the last tick.
  struct View {
    std::string member;
    std::vector<Lease> leases;
    std::vector<Member> members;
    int64_t ttl_ms = 0;
    int64_t refreshed_ms = 0;  // this process's wall clock at the last successful read
    std::string error;         // the last tick's store error, "" when it went through
  };

  // `member`: this process's id (MakeMemberId()). Nothing is read or written before Tick().
  LeaseKeeper(WalStore& store, std::string member, std::vector<std::string> leases,
              std::chrono::milliseconds ttl, const Clock& clock);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // "<hostname>:<pid>:<8 random hex digits>": unique per process run, readable in /wal/status.
  static std::string MakeMemberId();

  // One pass (blocks on the store): heartbeat, take or renew every lease, refresh the view.
  void Tick();
  void Start();
  void Stop();  // joins, then releases the leases held

  // Before Start() (start-up): ticks every TTL/3 until this process holds `lease`, another
  // member shows it is alive (OthersAlive: it holds the lease or will take it), or `max_wait`
  // has passed; returns whether it holds it. A lease a killed previous run left behind expires
  // within a TTL, so max_wait = 4/3 TTL + a margin gets it when nobody else is alive.
  bool AwaitLease(const std::string& lease, std::chrono::milliseconds max_wait);
  // True iff another member heartbeated after this process's first heartbeat (by the store's
  // clock, as of the last tick): some other process is alive, not just a dead one's row left.
  bool OthersAlive() const;

  // The fence to write under `lease` while this process holds it (see above); nullopt if not.
  std::optional<Fence> Holding(const std::string& lease) const;
  // A write under `lease` was refused by its fence: drop it from the view now.
  void Lost(const std::string& lease);

  View view() const;
  const std::string& member() const { return member_; }
  std::chrono::milliseconds ttl() const { return ttl_; }

 private:
  struct Held {
    Fence fence;
    std::chrono::steady_clock::time_point valid_until;
  };
  void TakeOrRenew(const std::string& lease);
  void Loop();

  WalStore& store_;
  const std::string member_;
  const std::vector<std::string> leases_;
  const std::chrono::milliseconds ttl_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  std::map<std::string, Held> held_;  // by lease name
  View view_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_LEASE_KEEPER_H_
