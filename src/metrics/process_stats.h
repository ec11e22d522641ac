// This process's resource use, read from /proc (Linux), and the memory it may use: the cgroup
// memory limit of its container when there is one, else the machine's RAM. Cheap enough to call
// per scrape.
#ifndef CHROMA_HA_METRICS_PROCESS_STATS_H_
#define CHROMA_HA_METRICS_PROCESS_STATS_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace chroma_ha {

// Where the cgroup files are; tests point these at sample files in a temp dir.
struct CgroupPaths {
  std::string root = "/sys/fs/cgroup";            // the cgroup file system (v2, or v1's parent)
  std::string self_cgroup = "/proc/self/cgroup";  // this process's cgroup per hierarchy
};

// The memory limit of this process's cgroup, in bytes, or nullopt when there is none.
// cgroup v2: `memory.max` ("max" = no limit); v1: `memory/<path>/memory.limit_in_bytes` (values
// of 2^62 and above are v1's "no limit"). The process's own cgroup directory and each parent up
// to `root` are read and the smallest limit wins (a limit set on a parent applies too). Inside a
// container the directory named by /proc/self/cgroup may not be mounted: the levels that do not
// exist are skipped, so the container's own root files are read.
std::optional<int64_t> ReadCgroupMemoryLimit(const CgroupPaths& paths = {});

struct ProcessStats {
  int64_t resident_bytes = 0;
  double cpu_seconds = 0;  // user + system since start
  int64_t open_fds = 0;
  int64_t total_memory_bytes = 0;  // of the machine (MemTotal)
  // What memory use is measured against: the cgroup limit when there is one (and it is below
  // the machine's RAM), else total_memory_bytes.
  int64_t memory_limit_bytes = 0;
  bool memory_limit_is_cgroup = false;
};

// Reads the current values; fields that cannot be read stay 0.
ProcessStats ReadProcessStats(const CgroupPaths& paths = {});

// Tells whether memory or CPU use is above WAL_MEMORY_THRESHOLD / WAL_CPU_THRESHOLD (percent).
// Memory is resident memory as a percentage of ProcessStats::memory_limit_bytes (the container's
// limit when there is one); CPU is measured between readings (percent of one core);
// thread-safe. A reading younger than `min_interval` is reused: the sync worker asks before each
// replay page (many times a second while it drains), and reading /proc that often cost about 3 %
// of the write path's CPU (bench/analysis.md) and measured CPU over a few milliseconds, where
// the kernel's 10 ms accounting tick makes the percentage noise.
class PressureGauge {
 public:
  static constexpr std::chrono::milliseconds kMinInterval{1000};
  PressureGauge(double memory_percent, double cpu_percent, CgroupPaths paths = {},
                std::chrono::milliseconds min_interval = kMinInterval)
      : memory_percent_(memory_percent),
        cpu_percent_(cpu_percent),
        paths_(std::move(paths)),
        min_interval_ns_(std::chrono::nanoseconds(min_interval).count()) {}
  bool UnderPressure();
  double last_memory_percent() const { return last_memory_percent_; }
  double last_cpu_percent() const { return last_cpu_percent_; }

 private:
  const double memory_percent_;
  const double cpu_percent_;
  const CgroupPaths paths_;
  const int64_t min_interval_ns_;
  std::mutex mu_;
  double last_cpu_seconds_ = -1;
  int64_t last_ns_ = 0;
  double last_memory_percent_ = 0;
  double last_cpu_percent_ = 0;
  bool last_verdict_ = false;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_METRICS_PROCESS_STATS_H_
