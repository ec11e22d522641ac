#include "metrics/process_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

namespace chroma_ha {

namespace {

int64_t ReadKb(const char* file, const std::string& field) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      std::istringstream fields(line.substr(field.size()));
      int64_t kb = 0;
      fields >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats s;
  s.resident_bytes = ReadKb("/proc/self/status", "VmRSS:");
  s.total_memory_bytes = ReadKb("/proc/meminfo", "MemTotal:");
  std::ifstream stat("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  auto close = content.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(content.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    s.cpu_seconds = (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++s.open_fds;
    }
    closedir(dir);
    --s.open_fds;  // the descriptor opendir itself used
  }
  return s;
}

bool PressureGauge::UnderPressure() {
  ProcessStats s = ReadProcessStats();
  int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  std::lock_guard lock(mu_);
  if (s.total_memory_bytes > 0) {
    last_memory_percent_ = 100.0 * static_cast<double>(s.resident_bytes) /
                           static_cast<double>(s.total_memory_bytes);
  }
  if (last_cpu_seconds_ >= 0 && now_ns > last_ns_) {
    last_cpu_percent_ =
        100.0 * (s.cpu_seconds - last_cpu_seconds_) / (static_cast<double>(now_ns - last_ns_) / 1e9);
  }
  last_cpu_seconds_ = s.cpu_seconds;
  last_ns_ = now_ns;
  return last_memory_percent_ > memory_percent_ || last_cpu_percent_ > cpu_percent_;
}

}  // namespace chroma_ha
