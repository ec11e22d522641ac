// The router: classifies each request, checks access (auth/client_auth.h: client tokens;
// admin_auth.h: admin and status tokens)
// before anything else, answers own endpoints, sends reads to an instance by
// strategy and health (failing over on no answer), and hands writes to the write path.
// Everything after admission runs behind an exception barrier: a throw anywhere below (write
// path, own endpoints, forwarding) is answered 500 JSON and logged; the MAX_CONCURRENT_REQUESTS
// slot is held by a guard, so nothing a request holds here outlives it.
// Collection ids in paths are translated per instance and ids in responses made canonical
// through the CollectionResolver.
#ifndef CHROMA_HA_SERVER_ROUTER_H_
#define CHROMA_HA_SERVER_ROUTER_H_

#include <atomic>
#include <functional>
#include <cstddef>
#include <vector>

#include "chroma_ha/config.h"
#include "chroma_ha/route.h"
#include "server/collection_resolver.h"
#include "server/request_handler.h"
#include "upstream/upstream.h"

namespace chroma_ha {

class WritePath;
class CausalReads;
class OwnEndpoints;
class Metrics;
class ClientAuth;

// Router-level counters (for /status and metrics).
struct RouterStats {
  std::atomic<int64_t> reads{0};
  std::atomic<int64_t> writes{0};
  std::atomic<int64_t> unknown_routes{0};
  // Mutating requests to unknown routes (also counted in unknown_routes), per
  // UNKNOWN_WRITE_ROUTES: refused with 501, or forwarded to the primary only.
  std::atomic<int64_t> unknown_writes_refused{0};
  std::atomic<int64_t> unknown_writes_forwarded{0};
  std::atomic<int64_t> invalid_requests{0};
  std::atomic<int64_t> read_failovers{0};   // a read answered by another instance than planned
  std::atomic<int64_t> unavailable{0};      // answered 503: no instance could serve
  std::atomic<int64_t> internal_errors{0};  // answered 500: an exception reached the barrier
};

// Which instances to try for a read, in order. Pure: exposed for tests.
//   optimized_read_replica: healthy replicas (rotating), then the primary; with a
//     read_replica_ratio below 1, that share of reads starts at the primary instead.
//   primary_only: the primary, then the replicas (failover only).
//   round_robin: every healthy instance in turn.
// Unhealthy instances go last (tried only when nothing healthy answered). `ticket` is a
// per-request counter used for rotation; `draw` in [0,1) decides the replica ratio.
std::vector<std::size_t> ReadOrder(const Config& config, const std::vector<bool>& healthy,
                                   uint64_t ticket, double draw);

// Which instance takes a write: the primary when healthy, else the first healthy replica.
// Returns the order to try (healthy first).
std::vector<std::size_t> WriteOrder(const std::vector<bool>& healthy);

class Router final : public RequestHandler {
 public:
  // All references must outlive the Router. `writes` may be null: writes are then forwarded
  // directly (no WAL) to the WriteOrder target.
  Router(const Config& config, Upstreams& upstreams, CollectionResolver& resolver,
         OwnEndpoints& own, WritePath* writes);

  boost::asio::awaitable<HttpResponse> Handle(HttpRequest request) override;

  // Optional: every answered request is observed there. Set before serving.
  void SetMetrics(Metrics* metrics) { metrics_ = metrics; }
  // Optional: client authentication (auth/client_auth.h), checked before everything else on
  // every request; null = off. Must outlive the Router. Set before serving.
  void SetClientAuth(ClientAuth* auth) { client_auth_ = auth; }
  // Optional: reads with X-Chroma-HA-Min-Seq are served causally (server/causal_reads.h);
  // without it the header is ignored. Set before serving.
  void SetCausalReads(CausalReads* causal) { causal_ = causal; }
  // Optional: instances that take no reads now (an instance being resynced: src/resync/);
  // cheap and thread-safe. They are left out of every read order unless nothing else is left.
  void SetReadExcluded(std::function<bool(std::size_t index)> excluded) {
    read_excluded_ = std::move(excluded);
  }

  // Forwards `request` (route already classified) to the instances in `order`, translating the
  // collection id for each and failing over on no answer or a 502/503/504. Used for reads,
  // unknown routes and (without a WAL) writes.
  boost::asio::awaitable<HttpResponse> Forward(HttpRequest request, const Route& route,
                                               std::vector<std::size_t> order);

  const RouterStats& stats() const { return stats_; }
  // Proxied requests holding a MAX_CONCURRENT_REQUESTS slot now.
  int in_flight() const { return in_flight_.load(); }

 private:
  std::vector<bool> HealthVector() const;
  boost::asio::awaitable<HttpResponse> Dispatch(HttpRequest request, const Route& route);

  const Config& config_;
  Upstreams& upstreams_;
  CollectionResolver& resolver_;
  OwnEndpoints& own_;
  WritePath* writes_;
  CausalReads* causal_ = nullptr;
  std::function<bool(std::size_t)> read_excluded_;
  Metrics* metrics_ = nullptr;
  ClientAuth* client_auth_ = nullptr;
  RouterStats stats_;
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> in_flight_{0};  // proxied requests being handled (MAX_CONCURRENT_REQUESTS)
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_ROUTER_H_
