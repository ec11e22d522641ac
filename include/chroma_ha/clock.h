// Time, injected: production uses SystemClock; tests move a FakeClock instead of sleeping.
#ifndef CHROMA_HA_CLOCK_H_
#define CHROMA_HA_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace chroma_ha {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time for deadlines and intervals.
  virtual std::chrono::steady_clock::time_point Now() const = 0;
  // Wall-clock time in milliseconds since the Unix epoch, for records and ages.
  virtual int64_t UnixMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override {
    return std::chrono::steady_clock::now();
  }
  int64_t UnixMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_CLOCK_H_
