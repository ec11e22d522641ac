// Retry backoff for replay to an instance that gave no usable answer (connect error, timeout,
// 5xx, 429): exponential in the number of consecutive failures, capped, with bounded jitter.
// Pure functions; thread-safe.
#ifndef CHROMA_HA_SYNC_BACKOFF_H_
#define CHROMA_HA_SYNC_BACKOFF_H_

#include <chrono>

namespace chroma_ha {

// The longest wait between two attempts on one instance.
inline constexpr std::chrono::milliseconds kMaxReplayBackoff{60000};

// The un-jittered delay after `failures` (>= 1) consecutive failures:
// min(base * 2^(failures-1), kMaxReplayBackoff). A non-positive base counts as 1 ms.
std::chrono::milliseconds BackoffCeiling(std::chrono::milliseconds base, int failures);

// The delay to wait: "equal jitter", uniformly in [ceiling/2, ceiling], where `unit` in [0, 1)
// picks the point (callers pass a random number; tests pass fixed values).
std::chrono::milliseconds JitteredBackoff(std::chrono::milliseconds base, int failures,
                                          double unit);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_BACKOFF_H_
