#include "alerts/alert_limiter.h"

#include <algorithm>

namespace chroma_ha {

namespace {
constexpr std::chrono::seconds kWindow{60};
}  // namespace

bool AlertLimiter::Allowed(const KeyState& k, std::chrono::steady_clock::time_point now) {
  while (!window_.empty() && now - window_.front() >= kWindow) window_.pop_front();
  if (limits_.max_per_minute > 0 && static_cast<int>(window_.size()) >= limits_.max_per_minute) {
    return false;
  }
  return !k.sent || now - k.last_sent_at >= limits_.min_interval;
}

void AlertLimiter::RecordSent(KeyState& k, const Alert& a,
                              std::chrono::steady_clock::time_point now) {
  k.sent = true;
  k.last_resolved = a.resolved;
  k.last_sent_at = now;
  k.pending.reset();
  window_.push_back(now);
}

std::optional<Alert> AlertLimiter::Offer(const Alert& alert) {
  const auto now = clock_.Now();
  KeyState& k = keys_[alert.key];
  if (alert.resolved == k.last_resolved) {
    // Same state as the last one sent (or resolved with nothing fired): a flap that came back.
    k.pending.reset();
    ++suppressed_;
    return std::nullopt;
  }
  if (!Allowed(k, now)) {
    k.pending = alert;
    ++suppressed_;
    return std::nullopt;
  }
  RecordSent(k, alert, now);
  return alert;
}

std::vector<Alert> AlertLimiter::Due() {
  const auto now = clock_.Now();
  std::vector<Alert> out;
  for (auto& [key, k] : keys_) {
    if (!k.pending || !Allowed(k, now)) continue;
    Alert a = std::move(*k.pending);
    RecordSent(k, a, now);
    out.push_back(std::move(a));
  }
  return out;
}

std::optional<std::chrono::steady_clock::time_point> AlertLimiter::NextDue() const {
  std::optional<std::chrono::steady_clock::time_point> next;
  for (const auto& [key, k] : keys_) {
    if (!k.pending) continue;
    auto at = k.sent ? k.last_sent_at + limits_.min_interval : clock_.Now();
    if (limits_.max_per_minute > 0 && static_cast<int>(window_.size()) >= limits_.max_per_minute) {
      at = std::max(at, window_.front() + kWindow);
    }
    if (!next || at < *next) next = at;
  }
  return next;
}

std::size_t AlertLimiter::pending() const {
  return static_cast<std::size_t>(
      std::count_if(keys_.begin(), keys_.end(), [](const auto& kv) { return kv.second.pending; }));
}

}  // namespace chroma_ha
