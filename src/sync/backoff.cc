#include "sync/backoff.h"

#include <algorithm>

namespace chroma_ha {

std::chrono::milliseconds BackoffCeiling(std::chrono::milliseconds base, int failures) {
  int64_t delay = std::max<int64_t>(base.count(), 1);
  const int64_t cap = kMaxReplayBackoff.count();
  for (int i = 1; i < failures && delay < cap; ++i) delay *= 2;
  return std::chrono::milliseconds(std::min(delay, cap));
}

std::chrono::milliseconds JitteredBackoff(std::chrono::milliseconds base, int failures,
                                          double unit) {
  const int64_t ceiling = BackoffCeiling(base, failures).count();
  const double u = std::clamp(unit, 0.0, 1.0);
  const int64_t half = ceiling / 2;
  const int64_t jitter = static_cast<int64_t>(static_cast<double>(ceiling - half) * u);
  return std::chrono::milliseconds(std::min(half + jitter, ceiling));
}

}  // namespace chroma_ha
