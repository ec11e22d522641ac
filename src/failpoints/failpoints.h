// Failpoints: named places in the code where a test can make chroma-ha crash or fail.
//
// Compiled in always, inert unless armed by the environment variable CHROMA_HA_FAILPOINTS, read
// once when the program starts:
//
//   CHROMA_HA_FAILPOINTS=after_wal_commit=crash,after_forward=crash@3
//
// Actions: `crash` = _exit(137) right there (as if SIGKILLed at that point); `error` = the call
// fails as if the dependency had failed (see each point); `throw` = Hit() throws
// failpoints::Injected (a bug's exception: what the request path's barrier and guards must
// survive). `@N` = on the N-th hit only (1-based); without it, on every hit. Unarmed, Hit() is
// one relaxed atomic load.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace chroma_ha::failpoints {

enum class Point : int {
  kAfterWalCommit = 0,   // write path: entry durable, before forward. error: forward not tried,
                         //   outcome unknown (entry left pending for recovery), client gets 503
  kAfterForward,         // write path: an instance answered, before recording the outcome.
                         //   error: the answer is lost (outcome unknown), client gets 503
  kAfterReplayApply,     // sync: target applied the entry, before MarkApplied. error: MarkApplied
                         //   fails (Unavailable)
  kDuringGroupCommit,    // group committer: before the store Append of a batch. error: the
                         //   batch's Append fails (Unavailable)
  kCommitAckLost,        // group committer: after the store Append of a batch succeeded. error:
                         //   the commit's acknowledgement is lost (the batch is durable, but the
                         //   writers are told its outcome is unknown: kTimeout)
  kBeforeWalAppend,      // write path: the write is validated, before its WAL append. error:
                         //   the append fails (Unavailable)
  kRequest,              // router: a request is classified, before it is dispatched. error: 500
  kCount,
};

enum class Action : int { kNone = 0, kCrash, kError, kThrow };

// What the `throw` action throws.
class Injected : public std::runtime_error {
 public:
  explicit Injected(std::string_view point)
      : std::runtime_error("failpoint " + std::string(point) + ": injected exception") {}
};

std::string_view PointName(Point p);

// Parses and installs a spec (replacing any previous one). Empty spec = disarm. Returns false and
// sets *error (leaving the failpoints disarmed) on an unknown point, action or a bad @N.
bool Configure(std::string_view spec, std::string* error = nullptr);

// Reads CHROMA_HA_FAILPOINTS (done once at program start automatically; exposed for tests).
bool ConfigureFromEnvironment(std::string* error = nullptr);

namespace detail {
extern std::atomic<bool> g_armed;
bool HitSlow(Point p);
}  // namespace detail

// True if the point's action is `error` and fires now; never returns if it is `crash` and fires;
// throws Injected if it is `throw` and fires.
inline bool Hit(Point p) {
  if (!detail::g_armed.load(std::memory_order_relaxed)) return false;
  return detail::HitSlow(p);
}

// Hits counted at `p` since the last Configure (only counted while armed).
int64_t HitCount(Point p);

}  // namespace chroma_ha::failpoints
