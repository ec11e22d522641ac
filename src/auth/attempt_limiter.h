// Failed-authentication budget per client address: each address may fail AUTH_FAILURES_PER_MINUTE
// times per minute (a token bucket of that size, refilled continuously). An address with no
// failure left is answered 429 with Retry-After, without its token being looked at, until the
// bucket holds one again: so a wrong guess costs the guesser time, and the answer never says
// whether a token would have been right. Nothing sleeps: the refusal is immediate.
//
// The table is bounded (`max_addresses`, least recently failed dropped first): an address that
// falls out merely starts again with a full budget. Thread-safe (one mutex, O(1) per call).
#ifndef CHROMA_HA_AUTH_ATTEMPT_LIMITER_H_
#define CHROMA_HA_AUTH_ATTEMPT_LIMITER_H_

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "chroma_ha/clock.h"

namespace chroma_ha {

class FailedAttemptLimiter {
 public:
  // `clock` must outlive the limiter. `per_minute` 0 = no limit.
  FailedAttemptLimiter(const Clock& clock, int per_minute, std::size_t max_addresses = 10000);

  // Seconds until `address` may try again (for Retry-After); 0 when it may try now.
  int RetryAfterSeconds(const std::string& address);
  // Spends one failure of `address`'s budget.
  void RecordFailure(const std::string& address);

  std::size_t size() const;

 private:
  struct Entry {
    std::string address;
    double budget;                             // failures left (fractional while refilling)
    std::chrono::steady_clock::time_point at;  // when budget was computed
  };
  // Refills `e` up to now.
  void Refill(Entry& e, std::chrono::steady_clock::time_point now) const;

  const Clock& clock_;
  const double capacity_;
  const double per_second_;
  const std::size_t max_addresses_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently failed first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_AUTH_ATTEMPT_LIMITER_H_
