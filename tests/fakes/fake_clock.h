// A Clock that moves only when told to (tests never sleep). Thread-safe.
#ifndef CHROMA_HA_TESTS_FAKES_FAKE_CLOCK_H_
#define CHROMA_HA_TESTS_FAKES_FAKE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "chroma_ha/clock.h"

namespace chroma_ha {

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary fixed point: steady time 1000 s, wall time 2024-01-01T00:00:00Z.
  FakeClock() = default;

  std::chrono::steady_clock::time_point Now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(steady_ms_.load()));
  }
  int64_t UnixMillis() const override { return unix_ms_.load(); }

  void Advance(std::chrono::milliseconds d) {
    steady_ms_ += d.count();
    unix_ms_ += d.count();
  }

 private:
  std::atomic<int64_t> steady_ms_{1000 * 1000};
  std::atomic<int64_t> unix_ms_{1704067200000};
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_FAKE_CLOCK_H_
