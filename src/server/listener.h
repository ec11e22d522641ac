// Downstream HTTP/1.1: accepts client connections and runs one session coroutine per connection
// (keep-alive, strict parsing, a deadline on every read and write, size limits on every parser),
// handing each complete request to a RequestHandler. Graceful shutdown: stop accepting, close
// idle connections, let in-flight requests finish up to a deadline.
//
// Bad input is answered here, before the handler sees it (DESIGN.md §7):
//   malformed HTTP (Content-Length with Transfer-Encoding, duplicate Content-Length, a
//   Transfer-Encoding other than chunked, bare LF, NUL or control bytes in headers) -> 400, close
//   header block over max_header_bytes -> 431, close
//   body over max_body_bytes -> 413, close (decided from Content-Length before the body is read)
//   no complete header within header_timeout -> 408, close
//   more than max_connections connections open -> 503 + Retry-After: 1, close (nothing read)
// `Expect: 100-continue` is answered `100 Continue` once the header is accepted (never for a
// body over the limit: that is 413 at once), before the body is read.
//
// TLS (SetTls, from TLS_CERT_FILE/TLS_KEY_FILE): the same session runs over an ssl_stream on
// the connection's TCP stream after a handshake bounded by header_timeout; every deadline above
// applies unchanged (they are on the TCP stream). See server/listener_tls.h.
//
// Exception barrier: a throw out of the handler is answered 500 JSON, logged at error level, and
// the connection closed; a session's registration (sessions_, the connection count) is held by a
// guard, so it ends with the session whichever way the session ends.
//
// Threads: the listener serves a set of worker io_contexts, each run by exactly one thread (the
// HAProxy/nginx model). The first worker accepts; each accepted connection is handed, round
// robin, to one worker and its session runs there for its whole life, without strands, so that
// the session, its upstream exchanges (per-worker pools, see upstream_pool.h) and their
// completions all stay on one thread.
#ifndef CHROMA_HA_SERVER_LISTENER_H_
#define CHROMA_HA_SERVER_LISTENER_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "chroma_ha/config.h"
#include "chroma_ha/status.h"
#include "server/request_handler.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace chroma_ha {

// Counters the listener keeps (for /status and metrics).
struct ListenerStats {
  std::atomic<int64_t> connections_accepted{0};
  std::atomic<int64_t> connections_open{0};
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> rejected_bad_request{0};    // 400 / 431 / 413 / 408 from the listener itself
  std::atomic<int64_t> rejected_over_capacity{0};  // 503: more than max_connections open
  std::atomic<int64_t> handler_exceptions{0};      // 500: the handler threw
  std::atomic<int64_t> tls_handshake_failures{0};  // https: handshakes failed or timed out
};

class Listener {
 public:
  // `workers` (at least one), `config` and `handler` must outlive the Listener. Each worker must
  // be run by exactly one thread (its sessions use no strand).
  Listener(std::vector<boost::asio::io_context*> workers, const Config& config,
           RequestHandler& handler);
  // One worker.
  Listener(boost::asio::io_context& ioc, const Config& config, RequestHandler& handler)
      : Listener(std::vector<boost::asio::io_context*>{&ioc}, config, handler) {}
  ~Listener();

  // Binds and starts accepting on config.listen_address:config.port (port 0 picks a free one).
  Status Start();
  // The bound port (after Start).
  uint16_t port() const { return port_; }

  // Stops accepting and closes idle connections; requests in flight finish, then their
  // connections close. `done` is called (on an io_context thread) once no session is left or
  // `grace` has passed, whichever comes first.
  void Shutdown(std::chrono::milliseconds grace, std::function<void()> done);

  const ListenerStats& stats() const { return stats_; }

  // TLS termination: connections accepted from now on are served over TLS with `tls` (null:
  // plain HTTP); open connections keep the context they were accepted with. Safe from any
  // thread (SIGHUP reload). The handshake must complete within header_timeout, else the
  // connection is closed; over MAX_CONNECTIONS a TLS connection is closed without a handshake
  // (a plain-text 503 would be unreadable to the client).
  void SetTls(std::shared_ptr<boost::asio::ssl::context> tls);

  class Session;  // one per connection; defined in listener.cc

 private:
  class Registration;  // a session's registration, released by its destructor
  // Shared by the Listener and every Registration: a session's coroutine frame destroyed after
  // the Listener (an io_context torn down with sessions still in it) finds it gone here.
  struct Liveness {
    std::mutex mu;
    Listener* listener = nullptr;  // guarded by mu; null once the Listener is destroyed
  };
  using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                                  boost::asio::io_context::executor_type>;
  boost::asio::awaitable<void> Accept();
  boost::asio::awaitable<void> Serve(Socket socket);
  // The request loop of one session over `stream` (its TCP stream, or TLS over it).
  template <typename Stream>
  boost::asio::awaitable<void> ServeRequests(std::shared_ptr<Session> shared, Stream& stream);
  std::shared_ptr<boost::asio::ssl::context> CurrentTls();
  // Starts the session's header/idle timer: when it fires, the pending read is cancelled and
  // header_timed_out is set.
  static void ArmTimer(const std::shared_ptr<Session>& session, std::chrono::milliseconds timeout);
  // Adds `s` to sessions_; false when it is over config_.max_connections (it is registered all
  // the same, so that Shutdown waits for its refusal to be written).
  bool Register(Session* s);
  // Removes `s`; returns the drain callback to call (outside any lock) when it was the last
  // session of a shutdown.
  std::function<void()> Unregister(Session* s);
  // Answers 503 (too many connections) on a session over the cap, reading nothing.
  boost::asio::awaitable<void> RefuseOverCapacity(Session& session);

  std::vector<boost::asio::io_context*> workers_;
  std::size_t next_worker_ = 0;  // round robin; used by Accept() only
  const Config& config_;
  RequestHandler& handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  ListenerStats stats_;
  std::mutex mu_;
  std::unordered_set<Session*> sessions_;  // guarded by mu_
  std::function<void()> on_drained_;       // guarded by mu_
  std::shared_ptr<Liveness> liveness_ = std::make_shared<Liveness>();
  std::mutex tls_mu_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // guarded by tls_mu_; null = plain HTTP
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_LISTENER_H_
