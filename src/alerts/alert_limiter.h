// Dedup and rate limiting of alerts, as pure logic over an injected Clock.
//
// Per key it remembers the last state sent (firing or resolved) and when:
//  - an alert with the same state as the last one sent is suppressed (firing -> firing);
//  - a resolved alert for a key never sent firing is suppressed (nothing to resolve);
//  - a state change is sent at once unless the key sent something less than `min_interval`
//    ago, or `max_per_minute` messages went out in the last 60 s (all keys). Then it is
//    deferred: the key's latest state is kept as pending (replacing any older pending one) and
//    Due() returns it once allowed, unless the key has meanwhile gone back to the state last
//    sent (a flap shorter than the interval is then never reported).
// So a flapping condition produces at most one message per key per `min_interval`, and the
// final state is always delivered eventually.
//
// Not thread-safe: one owner (the alerter's thread) calls it.
#ifndef CHROMA_HA_ALERTS_ALERT_LIMITER_H_
#define CHROMA_HA_ALERTS_ALERT_LIMITER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "chroma_ha/alert_sink.h"
#include "chroma_ha/clock.h"

namespace chroma_ha {

struct AlertLimits {
  std::chrono::milliseconds min_interval{60000};  // per key (ALERT_MIN_INTERVAL_SECONDS)
  int max_per_minute = 20;                        // all keys together (ALERT_MAX_PER_MINUTE)
};

class AlertLimiter {
 public:
  // `clock` must outlive the limiter.
  AlertLimiter(AlertLimits limits, const Clock& clock) : limits_(limits), clock_(clock) {}

  // Offers an observed state. Returns the alert to send now, or nullopt (suppressed or deferred;
  // both counted in suppressed()).
  std::optional<Alert> Offer(const Alert& alert);
  // Deferred alerts that may go out now (each is then recorded as sent).
  std::vector<Alert> Due();
  // When the earliest deferred alert may become due; nullopt when none is pending.
  std::optional<std::chrono::steady_clock::time_point> NextDue() const;

  int64_t suppressed() const { return suppressed_; }
  std::size_t pending() const;

 private:
  struct KeyState {
    bool sent = false;            // something was sent for this key
    bool last_resolved = true;    // state of the last message sent
    std::chrono::steady_clock::time_point last_sent_at{};
    std::optional<Alert> pending;
  };
  bool Allowed(const KeyState& k, std::chrono::steady_clock::time_point now);
  void RecordSent(KeyState& k, const Alert& a, std::chrono::steady_clock::time_point now);

  const AlertLimits limits_;
  const Clock& clock_;
  std::map<std::string, KeyState> keys_;
  std::deque<std::chrono::steady_clock::time_point> window_;  // sends in the last minute
  int64_t suppressed_ = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERTS_ALERT_LIMITER_H_
