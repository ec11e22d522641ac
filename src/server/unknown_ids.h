// A negative cache for collection ids that no instance knows (DESIGN.md §4, §9): without it, a
// request naming an unknown collection id lists every collection of its database on every
// instance, on every request, so a client repeating a stale or made-up id costs each instance
// a full listing per request. After a complete lookup round found nothing, "id X is unknown in
// tenant/database" is remembered for `ttl`; requests for it in that time skip the round.
//
// Bounds: at most `max_entries` entries; when full, expired entries are dropped, and if none
// had expired, everything is (a cache, not a record: the cost is one more lookup round each).
// Forget() removes an id that became known (learned from a response); an id that is in the
// identity map is never looked up here at all, so the cache can only delay the discovery of a
// collection created around the proxy, by at most `ttl`.
//
// Thread-safe (one mutex); the clock must outlive the cache.
#ifndef CHROMA_HA_SERVER_UNKNOWN_IDS_H_
#define CHROMA_HA_SERVER_UNKNOWN_IDS_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chroma_ha/clock.h"

namespace chroma_ha {

class UnknownIdCache {
 public:
  struct Options {
    std::chrono::milliseconds ttl{5000};
    std::size_t max_entries = 10000;
  };

  UnknownIdCache(const Clock& clock, Options options) : clock_(clock), options_(options) {}
  explicit UnknownIdCache(const Clock& clock) : UnknownIdCache(clock, Options{}) {}

  // True while `id` is remembered as unknown in tenant/database (counts a hit).
  bool IsUnknown(std::string_view tenant, std::string_view database, std::string_view id);
  void Remember(std::string_view tenant, std::string_view database, std::string_view id);
  void Forget(std::string_view tenant, std::string_view database, std::string_view id);

  std::size_t size() const;
  int64_t hits() const { return hits_.load(); }

 private:
  static std::string Key(std::string_view tenant, std::string_view database, std::string_view id);

  const Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> until_;  // expiry
  std::atomic<int64_t> hits_{0};
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_UNKNOWN_IDS_H_
