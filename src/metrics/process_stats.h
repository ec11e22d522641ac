// This process's resource use, read from /proc (Linux). Cheap enough to call per scrape.
#ifndef CHROMA_HA_METRICS_PROCESS_STATS_H_
#define CHROMA_HA_METRICS_PROCESS_STATS_H_

#include <cstdint>
#include <mutex>

namespace chroma_ha {

struct ProcessStats {
  int64_t resident_bytes = 0;
  double cpu_seconds = 0;       // user + system since start
  int64_t open_fds = 0;
  int64_t total_memory_bytes = 0;  // of the machine (MemTotal)
};

// Reads the current values; fields that cannot be read stay 0.
ProcessStats ReadProcessStats();

// Tells whether memory or CPU use is above WAL_MEMORY_THRESHOLD / WAL_CPU_THRESHOLD (percent).
// CPU is measured between calls (percent of one core); thread-safe.
class PressureGauge {
 public:
  PressureGauge(double memory_percent, double cpu_percent)
      : memory_percent_(memory_percent), cpu_percent_(cpu_percent) {}
  bool UnderPressure();
  double last_memory_percent() const { return last_memory_percent_; }
  double last_cpu_percent() const { return last_cpu_percent_; }

 private:
  const double memory_percent_;
  const double cpu_percent_;
  std::mutex mu_;
  double last_cpu_seconds_ = -1;
  int64_t last_ns_ = 0;
  double last_memory_percent_ = 0;
  double last_cpu_percent_ = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_METRICS_PROCESS_STATS_H_
