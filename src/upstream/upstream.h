// Upstream side (Envoy's "cluster"): one Upstream per Chroma instance, holding a pool of
// keep-alive connections and the instance's health. The router talks to instances only through
// the `Upstreams` interface below, so router tests can use fakes.
#ifndef CHROMA_HA_UPSTREAM_UPSTREAM_H_
#define CHROMA_HA_UPSTREAM_UPSTREAM_H_

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "chroma_ha/config.h"
#include "chroma_ha/http_message.h"
#include "chroma_ha/status.h"

namespace chroma_ha {

// Point-in-time view of one instance, for /status, /health and metrics.
struct InstanceSnapshot {
  std::string name;
  std::string url;
  bool is_primary = false;
  bool healthy = true;
  double last_check_latency_ms = 0;  // last active health check's round trip
  int64_t requests = 0;              // requests forwarded to it (client traffic)
  int64_t failures = 0;              // of those, no answer (connect/timeout/reset) or 5xx
  int64_t health_checks_failed = 0;
  std::string last_error;            // "" when none
  int64_t last_change_ms = 0;        // unix ms of the last healthy<->unhealthy change
};

// The set of instances, in configuration order (index 0 is the primary).
class Upstreams {
 public:
  virtual ~Upstreams() = default;
  virtual std::size_t size() const = 0;
  virtual bool Healthy(std::size_t index) const = 0;
  // Sends `request` to instance `index` over a pooled keep-alive connection, with the configured
  // connect timeout and `timeout` for the whole exchange. Any HTTP status is an OK Result; a
  // non-OK Status means no complete answer: kUnavailable (could not connect or send: the request
  // was not processed) or kTimeout / other (sent, no answer: outcome unknown). Feeds the instance's passive health. Safe from any thread.
  virtual boost::asio::awaitable<Result<HttpResponse>> Send(std::size_t index,
                                                            HttpRequest request,
                                                            std::chrono::milliseconds timeout) = 0;
  // The same as Send, but `request` is read in place and must stay alive until the call
  // completes (await it at once), and it goes to `target` instead of request.target. The proxy's
  // forwarding path uses it so that a request kept for failover is never copied. The default
  // copies the request and calls Send (enough for fakes).
  virtual boost::asio::awaitable<Result<HttpResponse>> Relay(std::size_t index,
                                                             const HttpRequest& request,
                                                             std::string_view target,
                                                             std::chrono::milliseconds timeout) {
    HttpRequest copy = request;
    copy.target = std::string(target);
    co_return co_await Send(index, std::move(copy), timeout);
  }
  virtual InstanceSnapshot Snapshot(std::size_t index) const = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_UPSTREAM_H_
