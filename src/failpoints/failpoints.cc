#include "failpoints/failpoints.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace chroma_ha::failpoints {
namespace {

constexpr int kCount = static_cast<int>(Point::kCount);
constexpr std::array<std::string_view, kCount> kNames = {
    "after_wal_commit", "after_forward",      "after_replay_apply",
    "during_group_commit", "commit_ack_lost", "before_wal_append", "request"};

struct Arm {
  std::atomic<int> action{0};  // Action
  std::atomic<int64_t> nth{0};  // 0 = every hit
  std::atomic<int64_t> hits{0};
};
std::array<Arm, kCount> g_arms;
std::mutex g_configure_mu;  // Configure only; never taken by Hit

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Fail(std::string* error, std::string msg) {
  if (error != nullptr) *error = std::move(msg);
  return false;
}

// Reads the environment before main(): "read once at start".
const bool g_from_env = [] {
  std::string error;
  if (!ConfigureFromEnvironment(&error)) {
    std::fprintf(stderr, "chroma-ha: CHROMA_HA_FAILPOINTS ignored: %s\n", error.c_str());
  }
  return true;
}();

}  // namespace

namespace detail {
std::atomic<bool> g_armed{false};

bool HitSlow(Point p) {
  const int i = static_cast<int>(p);
  if (i < 0 || i >= kCount) return false;
  Arm& arm = g_arms[i];
  const auto action = static_cast<Action>(arm.action.load(std::memory_order_acquire));
  if (action == Action::kNone) return false;
  const int64_t hit = arm.hits.fetch_add(1, std::memory_order_acq_rel) + 1;
  const int64_t nth = arm.nth.load(std::memory_order_acquire);
  if (nth != 0 && hit != nth) return false;
  if (action == Action::kCrash) {
    static constexpr char kMsg[] = "chroma-ha: failpoint crash\n";
    (void)!::write(2, kMsg, sizeof(kMsg) - 1);
    ::_exit(137);
  }
  if (action == Action::kThrow) throw Injected(kNames[i]);
  return true;
}
}  // namespace detail

std::string_view PointName(Point p) {
  const int i = static_cast<int>(p);
  return i >= 0 && i < kCount ? kNames[i] : std::string_view("unknown");
}

bool Configure(std::string_view spec, std::string* error) {
  std::lock_guard lock(g_configure_mu);
  detail::g_armed.store(false, std::memory_order_relaxed);
  std::array<std::pair<Action, int64_t>, kCount> parsed{};
  bool any = false;
  spec = Trim(spec);
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    std::string_view item = Trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Fail(error, "missing '=' in '" + std::string(item) + "'");
    const std::string_view name = Trim(item.substr(0, eq));
    std::string_view action = Trim(item.substr(eq + 1));
    int64_t nth = 0;
    if (const size_t at = action.find('@'); at != std::string_view::npos) {
      const std::string_view n = Trim(action.substr(at + 1));
      action = Trim(action.substr(0, at));
      if (n.empty() || n.size() > 12) return Fail(error, "bad @N in '" + std::string(item) + "'");
      for (char c : n) {
        if (c < '0' || c > '9') return Fail(error, "bad @N in '" + std::string(item) + "'");
        nth = nth * 10 + (c - '0');
      }
      if (nth == 0) return Fail(error, "@N must be at least 1 in '" + std::string(item) + "'");
    }
    int index = -1;
    for (int i = 0; i < kCount; ++i) {
      if (kNames[i] == name) index = i;
    }
    if (index < 0) return Fail(error, "unknown failpoint '" + std::string(name) + "'");
    Action a;
    if (action == "crash") {
      a = Action::kCrash;
    } else if (action == "error") {
      a = Action::kError;
    } else if (action == "throw") {
      a = Action::kThrow;
    } else if (action == "off") {
      a = Action::kNone;
    } else {
      return Fail(error, "unknown action '" + std::string(action) + "'");
    }
    parsed[index] = {a, nth};
    any |= a != Action::kNone;
  }
  for (int i = 0; i < kCount; ++i) {
    g_arms[i].action.store(static_cast<int>(parsed[i].first), std::memory_order_release);
    g_arms[i].nth.store(parsed[i].second, std::memory_order_release);
    g_arms[i].hits.store(0, std::memory_order_release);
  }
  detail::g_armed.store(any, std::memory_order_release);
  return true;
}

bool ConfigureFromEnvironment(std::string* error) {
  const char* spec = std::getenv("CHROMA_HA_FAILPOINTS");
  const bool ok = Configure(spec == nullptr ? "" : spec, error);
  if (ok && spec != nullptr && *spec != '\0') {
    std::fprintf(stderr, "chroma-ha: failpoints armed: %s\n", spec);
  }
  return ok;
}

int64_t HitCount(Point p) {
  const int i = static_cast<int>(p);
  return i >= 0 && i < kCount ? g_arms[i].hits.load(std::memory_order_acquire) : 0;
}

}  // namespace chroma_ha::failpoints
