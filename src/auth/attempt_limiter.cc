#include "auth/attempt_limiter.h"

#include <algorithm>
#include <cmath>

namespace chroma_ha {

FailedAttemptLimiter::FailedAttemptLimiter(const Clock& clock, int per_minute,
                                           std::size_t max_addresses)
    : clock_(clock),
      capacity_(per_minute),
      per_second_(per_minute / 60.0),
      max_addresses_(std::max<std::size_t>(max_addresses, 1)) {}

void FailedAttemptLimiter::Refill(Entry& e, std::chrono::steady_clock::time_point now) const {
  const std::chrono::duration<double> elapsed = now - e.at;
  if (elapsed.count() > 0) e.budget = std::min(capacity_, e.budget + elapsed.count() * per_second_);
  e.at = now;
}

int FailedAttemptLimiter::RetryAfterSeconds(const std::string& address) {
  if (capacity_ <= 0) return 0;
  std::lock_guard lock(mu_);
  auto it = index_.find(address);
  if (it == index_.end()) return 0;
  Entry& e = *it->second;
  Refill(e, clock_.Now());
  if (e.budget >= 1.0) return 0;
  return std::max(1, static_cast<int>(std::ceil((1.0 - e.budget) / per_second_)));
}

void FailedAttemptLimiter::RecordFailure(const std::string& address) {
  if (capacity_ <= 0) return;
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = index_.find(address);
  if (it == index_.end()) {
    if (index_.size() >= max_addresses_) {
      index_.erase(lru_.back().address);
      lru_.pop_back();
    }
    lru_.push_front({address, capacity_, now});
    it = index_.emplace(address, lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second);
  }
  Entry& e = *it->second;
  Refill(e, now);
  e.budget = std::max(0.0, e.budget - 1.0);
}

std::size_t FailedAttemptLimiter::size() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

}  // namespace chroma_ha
