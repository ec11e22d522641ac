// Causal reads across instances and proxies: read-your-writes by token, exact where a lag
// threshold only guesses.
//
// Every write answered 2xx once its outcome is durable carries `X-Chroma-HA-Seq: <seq>`, its
// WAL sequence number. A read that sends `X-Chroma-HA-Min-Seq: <seq>` is served only by an
// instance that has applied every committed entry its route depends on (the collection's, its
// database's and tenant's, and resets: InReadScope) up to that sequence. Which instances still
// have such entries to apply comes from the WAL store (WalStore::InstancesBehind over the
// replay todo set), not from this process's memory, so the token holds whichever proxy of a
// fleet served the write and whichever serves the read.
//
// Choice: the read's planned order (replica first) is kept when its first instance has caught
// up. Otherwise the store is asked again every few ms for up to CAUSAL_WAIT_MS for a caught-up
// replica; after that, any caught-up instance serves (normally the primary, the origin of most
// writes). Only caught-up instances are tried, healthy ones first: a failover never reaches a
// stale one. When no instance has caught up (or the store cannot say) within REQUEST_TIMEOUT,
// the read is answered 503 with Retry-After. The store is asked from one thread of its own
// (`store_thread`), so token reads add at most one store call at a time to the write path's;
// at most kMaxCausalReads token reads wait at once (more: 503 at once). A malformed token is
// 400. A token past the end of the log waits for nothing; "latest" waits for every entry
// committed so far. Entries whose outcome is not recorded yet (in flight) are not waited for: a
// write's own token is issued only after its outcome is recorded.
//
// READ_CONSISTENCY=fresh with a PostgreSQL WAL (which a fleet shares) also asks the store, on
// every read of a collection, database or tenant (FreshOrder): instances with entries of the
// scope still to apply go last, whichever proxy took the writes. It does not wait.
#ifndef CHROMA_HA_SERVER_CAUSAL_READS_H_
#define CHROMA_HA_SERVER_CAUSAL_READS_H_

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "chroma_ha/config.h"
#include "chroma_ha/http_message.h"
#include "chroma_ha/route.h"
#include "chroma_ha/wal_store.h"
#include "upstream/upstream.h"

namespace chroma_ha {

class CollectionMap;

inline constexpr char kSeqHeader[] = "x-chroma-ha-seq";
// `X-Chroma-HA-Min-Seq: latest`: every entry committed before the read (a static header the
// official clients can send on every request: read-your-writes without handling tokens).
inline constexpr int64_t kLatest = INT64_MAX;
inline constexpr char kMinSeqHeader[] = "x-chroma-ha-min-seq";

struct CausalReadStats {
  std::atomic<int64_t> reads{0};      // reads that carried a token
  std::atomic<int64_t> immediate{0};  // served by the planned instance without waiting
  std::atomic<int64_t> waited{0};     // a replica caught up within CAUSAL_WAIT_MS
  std::atomic<int64_t> redirected{0};  // served by another instance (the primary) instead
  std::atomic<int64_t> timeouts{0};   // no instance caught up in time, or too many wait: 503
  std::atomic<int64_t> invalid{0};    // malformed token: 400
  std::atomic<int64_t> fresh_checks{0};      // READ_CONSISTENCY=fresh store checks
  std::atomic<int64_t> fresh_redirected{0};  // ... that moved the planned instance back
};

// The token of a request: nothing when it carries none, the sequence number (kLatest for
// "latest"), or the 400 answer for a malformed one (not "latest" nor a decimal number of at
// most 18 digits).
std::variant<std::monostate, int64_t, HttpResponse> ParseMinSeq(const HttpRequest& request);

inline constexpr int kMaxCausalReads = 1024;

class CausalReads {
 public:
  // References must outlive this object; `store_thread` (a pool of one thread) runs the store
  // calls.
  CausalReads(const Config& config, Upstreams& upstreams, const CollectionMap& map,
              WalStore& store, boost::asio::thread_pool& store_thread);

  // ParseMinSeq, counting malformed tokens.
  std::variant<std::monostate, int64_t, HttpResponse> Token(const HttpRequest& request) {
    auto token = ParseMinSeq(request);
    if (std::holds_alternative<HttpResponse>(token)) ++stats_.invalid;
    return token;
  }

  // (`route` by value: the coroutine may outlive the caller's copy.)
  // `order` narrowed to the instances that have applied what `route` depends on up to `seq`,
  // the first one to try first; or the 503 answer when none has in time.
  boost::asio::awaitable<std::variant<std::vector<std::size_t>, HttpResponse>> Order(
      Route route, int64_t seq, std::vector<std::size_t> order);

  // True when reads without a token ask the store too (READ_CONSISTENCY=fresh with PostgreSQL).
  bool fresh_from_store() const {
    return config_.read_consistency == ReadConsistency::kFresh && !config_.database_url.empty();
  }
  // READ_CONSISTENCY=fresh from the store: `order` with the instances that have nothing of the
  // route's scope left to apply first (stable). Unchanged when the store cannot say.
  boost::asio::awaitable<std::vector<std::size_t>> FreshOrder(Route route,
                                                              std::vector<std::size_t> order);

  const CausalReadStats& stats() const { return stats_; }

 private:
  std::string CollectionOf(const Route& route) const;

  const Config& config_;
  Upstreams& upstreams_;
  const CollectionMap& map_;
  WalStore& store_;
  boost::asio::thread_pool& store_thread_;
  CausalReadStats stats_;
  std::atomic<int> waiting_{0};
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_CAUSAL_READS_H_
