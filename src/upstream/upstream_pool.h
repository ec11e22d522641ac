// The production Upstreams: per instance a pool of keep-alive HTTP/1.1 connections (Beast,
// hidden in upstream_pool.cc) and health from active heartbeats plus passive signals.
//
// Typical wiring (server/app.cc):
//   std::vector<boost::asio::io_context*> workers = ...;  // one io_context per event-loop thread
//   UpstreamSet upstreams(workers[0]->get_executor(), config, clock, workers);
//   upstreams.SetHealthListener(...);                           // optional, before Start()
//   upstreams.Start();                                          // heartbeats begin
//   ... run each worker on its own thread; sessions co_await upstreams.Send(...) ...
//   upstreams.Stop();  // on shutdown; then let the workers' run() return before destroying
//
// Per-thread pools (the HAProxy/nginx model): a request sent from a coroutine running on worker
// W uses, and opens, only connections that belong to W's io_context, so their completions come
// back on W's thread; no connection is handed between threads. Requests from any other executor
// (tests, a caller with its own io_context) share one more pool whose connections live on the
// executor given at construction.
#ifndef CHROMA_HA_UPSTREAM_UPSTREAM_POOL_H_
#define CHROMA_HA_UPSTREAM_UPSTREAM_POOL_H_

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
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

// How long a connection beyond the pool's `max_idle` may stay idle before it is closed (HAProxy's
// pool-purge-delay default). Connections are never closed because the pool is "full" when an
// exchange ends: a burst keeps its connections for the next one.
inline constexpr std::chrono::milliseconds kSurplusIdleTimeout{5000};

// A pooled connection idle for less than this is reused without asking the kernel whether the
// server closed it (see LooksAlive in upstream_pool.cc).
inline constexpr std::chrono::milliseconds kPeekAfterIdle{250};

// Keep-alive connections to one instance, and the HTTP exchange over them. Thread-safe: Exchange
// may run concurrently from coroutines on any threads; each connection is used by one exchange
// at a time. Idle connections are kept per worker (see the file comment): an exchange running on
// worker W takes and opens W's connections (opened on W's io_context); one from any other
// executor uses the shared slot, whose connections are opened on `executor`. Each slot keeps up
// to `max_idle` idle connections indefinitely (while the server keeps them open) and the ones
// beyond that until they have been idle for `surplus_idle_timeout` (CloseExpired). Errors (never
// exceptions):
//  - kUnavailable: could not resolve/connect or send the request (it was not processed);
//  - kTimeout: the request was sent but no complete answer came: a deadline passed, or the
//    connection closed before or during the answer (outcome unknown). A stale pooled connection
//    that closes before the answer is first retried once on a fresh one;
//  - kInternal: the answer was malformed or over kMaxUpstreamBodyBytes.
// Only the idle connections outlive an exchange; destroy the pool with no Exchange in flight.
// https:// (`instance.tls`): every new connection completes a verified TLS handshake (chain
// against the trust store, the URL's host name, SNI; see upstream/tls_client.h) before any byte
// of a request is sent, within the same connect deadline; a failed or silent handshake is
// kUnavailable naming the certificate problem. Connections are closed without close_notify
// (a TCP close), so no TLS shutdown can ever wait on the server.
class ConnectionPool {
 public:
  // `workers` (may be empty) must outlive the pool, each run by exactly one thread. `clock`
  // (null: the system clock) must outlive the pool. For https, throws ConfigError when the
  // trust store cannot be set up (e.g. SSL_CERT_FILE names no readable certificate).
  ConnectionPool(boost::asio::io_context::executor_type executor, const InstanceConfig& instance,
                 std::chrono::milliseconds connect_timeout, std::size_t max_idle,
                 std::vector<boost::asio::io_context*> workers = {}, const Clock* clock = nullptr,
                 std::chrono::milliseconds surplus_idle_timeout = kSurplusIdleTimeout);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Sends `request` (end-to-end headers; Host and Content-Length are set here) and reads the
  // whole answer. Connecting takes at most min(connect_timeout, timeout); writing the request
  // and reading the answer at most `timeout`. Any HTTP status is an OK Result.
  // `request` is read in place (not copied) and must stay alive until the call completes; it
  // is sent to `target` (empty: request.target), with `*body` as its body (null:
  // request.body), which must stay alive as long.
  boost::asio::awaitable<Result<HttpResponse>> Exchange(const HttpRequest& request,
                                                        std::chrono::milliseconds timeout,
                                                        std::string_view target = {},
                                                        const std::string* body = nullptr);

  std::size_t idle() const;  // idle connections now in the pool (all slots)
  // Idle connections of `worker`'s slot (the shared slot when it is not one of the workers).
  std::size_t idle_on(const boost::asio::io_context* worker) const;
  int64_t connections_opened() const;  // fresh connections made so far
  // Exchanges sent on a pooled connection the server had closed, and retried on a fresh one.
  int64_t stale_retries() const;
  void CloseIdle();  // closes every idle connection
  // Closes the surplus idle connections (beyond max_idle per slot) idle for at least
  // surplus_idle_timeout. Called periodically (UpstreamSet: every health check round) and after
  // each exchange. Safe from any thread.
  void CloseExpired();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One ConnectionPool per configured instance (index 0 = primary), one HealthTracker over all
// of them and a HealthChecker sending `GET /api/v2/heartbeat` (deadline `health_timeout`,
// period `health_interval`) through the same pools. `config`, `clock` and the `workers` must
// outlive this. Each pool keeps ceil(pool_size / workers) idle connections per worker.
// Every const method, Send and Relay are safe from any thread.
class UpstreamSet final : public Upstreams {
 public:
  // Throws ConfigError when an https instance's trust store cannot be set up (ConnectionPool).
  // `executor` runs the health checks. `workers`: see the file comment (empty: every request
  // uses the shared slot of each pool).
  UpstreamSet(boost::asio::io_context::executor_type executor, const Config& config,
              const Clock& clock, std::vector<boost::asio::io_context*> workers = {});
  ~UpstreamSet() override;

  std::size_t size() const override { return pools_.size(); }
  bool Healthy(std::size_t index) const override;
  // See Upstreams::Send. A connect/timeout/reset or a 5xx other than 501 counts as a passive
  // failure; anything else resets the passive failure count.
  boost::asio::awaitable<Result<HttpResponse>> Send(std::size_t index, HttpRequest request,
                                                    std::chrono::milliseconds timeout) override;
  // See Upstreams::Relay: no copy of the request.
  boost::asio::awaitable<Result<HttpResponse>> Relay(std::size_t index, const HttpRequest& request,
                                                     std::string_view target,
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
  // Passive health and counters for one answered (or failed) request; `cancelled`: the caller
  // gave up, which says nothing about the instance.
  void Account(std::size_t index, const Result<HttpResponse>& result, bool cancelled);

  const Config& config_;
  std::vector<InstanceConfig> instances_;
  std::vector<std::unique_ptr<ConnectionPool>> pools_;
  std::unique_ptr<Counters[]> counters_;
  std::unique_ptr<HealthTracker> tracker_;
  std::unique_ptr<HealthChecker> checker_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_UPSTREAM_POOL_H_
