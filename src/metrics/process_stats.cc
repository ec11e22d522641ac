#include "metrics/process_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

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

// cgroup v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is none.
constexpr int64_t kV1Unlimited = int64_t{1} << 62;

// The first line of `file`, trimmed; nullopt when it cannot be read.
std::optional<std::string> ReadLine(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  const auto end = line.find_last_not_of(" \t\r\n");
  line.erase(end == std::string::npos ? 0 : end + 1);
  return line;
}

// A limit file's value: bytes, or nullopt for "max", v1's huge "unlimited", or unreadable.
std::optional<int64_t> ReadLimitFile(const std::string& file) {
  auto line = ReadLine(file);
  if (!line || *line == "max") return std::nullopt;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(line->data(), line->data() + line->size(), n);
  if (ec != std::errc() || end != line->data() + line->size() || n <= 0 || n >= kV1Unlimited) {
    return std::nullopt;
  }
  return n;
}

// This process's cgroup path in the v2 hierarchy ("0::/path") and in v1's memory hierarchy
// ("N:...memory...:/path"), from /proc/self/cgroup; empty when absent.
struct SelfCgroup {
  std::optional<std::string> v2;
  std::optional<std::string> v1_memory;
};

SelfCgroup ReadSelfCgroup(const std::string& file) {
  SelfCgroup out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string_view id = std::string_view(line).substr(0, first);
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (id == "0" && controllers.empty()) {
      out.v2 = path;
      continue;
    }
    std::stringstream list(controllers);
    std::string c;
    while (std::getline(list, c, ',')) {
      if (c == "memory") out.v1_memory = path;
    }
  }
  return out;
}

// The smallest limit in `file_name` of `base` + `path` and each of its parents up to `base`.
std::optional<int64_t> SmallestLimitUpTo(const std::string& base, std::string path,
                                         const char* file_name) {
  std::optional<int64_t> smallest;
  while (true) {
    while (!path.empty() && path.back() == '/') path.pop_back();
    auto limit = ReadLimitFile(base + path + "/" + file_name);
    if (limit && (!smallest || *limit < *smallest)) smallest = limit;
    if (path.empty()) break;
    path.erase(path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  }
  return smallest;
}

}  // namespace

std::optional<int64_t> ReadCgroupMemoryLimit(const CgroupPaths& paths) {
  const SelfCgroup self = ReadSelfCgroup(paths.self_cgroup);
  // v2 (unified) first; on a hybrid host its memory files are absent and v1 answers.
  if (auto v2 = SmallestLimitUpTo(paths.root, self.v2.value_or(""), "memory.max")) return v2;
  return SmallestLimitUpTo(paths.root + "/memory", self.v1_memory.value_or(""),
                           "memory.limit_in_bytes");
}

ProcessStats ReadProcessStats(const CgroupPaths& paths) {
  ProcessStats s;
  s.resident_bytes = ReadKb("/proc/self/status", "VmRSS:");
  s.total_memory_bytes = ReadKb("/proc/meminfo", "MemTotal:");
  s.memory_limit_bytes = s.total_memory_bytes;
  if (auto limit = ReadCgroupMemoryLimit(paths)) {
    if (s.total_memory_bytes <= 0 || *limit < s.total_memory_bytes) {
      s.memory_limit_bytes = *limit;
      s.memory_limit_is_cgroup = true;
    }
  }
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
  const auto now = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  {
    std::lock_guard lock(mu_);
    if (last_cpu_seconds_ >= 0 && now() - last_ns_ < min_interval_ns_) return last_verdict_;
  }
  ProcessStats s = ReadProcessStats(paths_);
  const int64_t now_ns = now();
  std::lock_guard lock(mu_);
  if (s.memory_limit_bytes > 0) {
    last_memory_percent_ =
        100.0 * static_cast<double>(s.resident_bytes) / static_cast<double>(s.memory_limit_bytes);
  }
  if (last_cpu_seconds_ >= 0 && now_ns > last_ns_) {
    last_cpu_percent_ = 100.0 * (s.cpu_seconds - last_cpu_seconds_) /
                        (static_cast<double>(now_ns - last_ns_) / 1e9);
  }
  last_cpu_seconds_ = s.cpu_seconds;
  last_ns_ = now_ns;
  last_verdict_ = last_memory_percent_ > memory_percent_ || last_cpu_percent_ > cpu_percent_;
  return last_verdict_;
}

}  // namespace chroma_ha
