// The production Upstreams: per instance a pool of keep-alive HTTP/1.1 connections (Beast,
// hidden in upstream_pool.cc) and health from active heartbeats plus passive signals.
//
// Typical wiring (main.cc / server):
//   boost::asio::io_context ioc;
//   UpstreamSet upstreams(ioc.get_executor(), config, clock);  // throws ConfigError on https
//   upstreams.SetHealthListener(...);                           // optional, before Start()
//   upstreams.Start();                                          // heartbeats begin
//   ... run ioc on any number of threads; sessions co_await upstreams.Send(...) ...
//   upstreams.Stop();  // on shutdown; then let ioc.run() return before destroying
#ifndef CHROMA_HA_UPSTREAM_UPSTREAM_POOL_H_
#define CHROMA_HA_UPSTREAM_UPSTREAM_POOL_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "upstream/health.h"
#include "upstream/upstream.h"

namespace chroma_ha {

// Largest response body accepted from an instance (its own limit is 40 MiB) plus slack.
inline constexpr std::size_t kMaxUpstreamBodyBytes = (40u << 20) + (1u << 20);

// True for headers that must not be forwarded (compared case-insensitively): Connection,
// Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, Host, Content-Length (always
// recomputed) and Expect (the proxy answers 100-continue itself).
bool IsHopByHopHeader(std::string_view name);

// Keep-alive connections to one instance, and the HTTP exchange over them. Thread-safe: Exchange
// may run concurrently from coroutines on any threads; each connection is used by one exchange
// at a time. Connections are opened on `executor`. Errors (never exceptions):
//  - kUnavailable: could not resolve/connect or send the request (it was not processed);
//  - kTimeout: the request was sent but no complete answer came: a deadline passed, or the
//    connection closed before or during the answer (outcome unknown). A stale pooled connection
//    that closes before the answer is first retried once on a fresh one;
//  - kInternal: the answer was malformed or over kMaxUpstreamBodyBytes.
// Only the idle connections outlive an exchange; destroy the pool with no Exchange in flight.
// TLS is not supported: `instance.tls` must be false.
class ConnectionPool {
 public:
  ConnectionPool(boost::asio::any_io_executor executor, const InstanceConfig& instance,
                 std::chrono::milliseconds connect_timeout, std::size_t max_idle);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Sends `request` (end-to-end headers; Host and Content-Length are set here) and reads the
  // whole answer. Connecting takes at most min(connect_timeout, timeout); writing the request
  // and reading the answer at most `timeout`. Any HTTP status is an OK Result.
  boost::asio::awaitable<Result<HttpResponse>> Exchange(HttpRequest request,
                                                        std::chrono::milliseconds timeout);

  std::size_t idle() const;            // idle connections now in the pool
  int64_t connections_opened() const;  // fresh connections made so far
  void CloseIdle();                    // closes every idle connection

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One ConnectionPool per configured instance (index 0 = primary), one HealthTracker over all
// of them and a HealthChecker sending `GET /api/v2/heartbeat` (deadline `health_timeout`,
// period `health_interval`) through the same pools. `config` and `clock` must outlive this.
// Every const method and Send are safe from any thread.
class UpstreamSet final : public Upstreams {
 public:
  // Throws ConfigError if an instance uses https (TLS upstreams are not supported yet).
  UpstreamSet(boost::asio::any_io_executor executor, const Config& config, const Clock& clock);
  ~UpstreamSet() override;

  std::size_t size() const override { return pools_.size(); }
  bool Healthy(std::size_t index) const override;
  // See Upstreams::Send. A connect/timeout/reset or a 5xx other than 501 counts as a passive
  // failure; anything else resets the passive failure count.
  boost::asio::awaitable<Result<HttpResponse>> Send(std::size_t index, HttpRequest request,
                                                    std::chrono::milliseconds timeout) override;
  InstanceSnapshot Snapshot(std::size_t index) const override;

  // Called on every healthy<->unhealthy change (see HealthListener). Set before Start().
  void SetHealthListener(HealthListener listener);
  // Starts the periodic heartbeats (first round immediately). Idempotent.
  void Start();
  // Stops the heartbeats and closes idle connections. In-flight work ends within its deadline.
  void Stop();

  // For tests and diagnostics.
  HealthChecker& health_checker() { return *checker_; }
  HealthTracker& health_tracker() { return *tracker_; }
  ConnectionPool& pool(std::size_t index) { return *pools_.at(index); }

 private:
  struct Counters {
    std::atomic<int64_t> requests{0};
    std::atomic<int64_t> failures{0};
  };
  boost::asio::awaitable<Status> Probe(std::size_t index);

  const Config& config_;
  std::vector<InstanceConfig> instances_;
  std::vector<std::unique_ptr<ConnectionPool>> pools_;
  std::unique_ptr<Counters[]> counters_;
  std::unique_ptr<HealthTracker> tracker_;
  std::unique_ptr<HealthChecker> checker_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_UPSTREAM_POOL_H_
