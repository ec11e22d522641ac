#include "server/listener.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <string_view>
#include <type_traits>

#include "server/http_wire.h"
#include "upstream/watchdog.h"

namespace chroma_ha {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Read buffer reserved per connection: Beast reads at most max(512, free capacity) bytes per
// call, so a small buffer costs one recv per 512 bytes of request.
constexpr std::size_t kReadBufferBytes = 8192;

namespace {

// The stream the body and the next request are read from, with no deadline of its own (the
// caller's timer cancels the read): the socket itself for plain HTTP (no timer bookkeeping of
// Beast's stream), the TLS stream otherwise.
template <typename Stream>
auto& WithoutDeadline(Stream& stream) {
  if constexpr (std::is_same_v<Stream, beast::basic_stream<tcp, asio::io_context::executor_type,
                                                           beast::unlimited_rate_policy>>) {
    return stream.socket();
  } else {
    return stream;
  }
}

// Reads what has arrived.
template <typename Stream>
auto ReadSome(Stream& stream, asio::mutable_buffer into) {
  return WithoutDeadline(stream).async_read_some(into, kTuple);
}

// Reads exactly `into`'s size.
template <typename Stream>
auto ReadExactly(Stream& stream, asio::mutable_buffer into) {
  return asio::async_read(WithoutDeadline(stream), into, kTuple);
}

}  // namespace

// One client connection. Lives inside Listener::Serve's coroutine frame. Concrete executor
// types: Beast's composed operations then copy no type-erased executor.
class Listener::Session {
 public:
  using Executor = asio::io_context::executor_type;
  using TcpStream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
  explicit Session(Socket socket)
      : stream(std::move(socket)),
        header_timer(stream.get_executor()),
        watchdog(stream.get_executor(), [this] {
          beast::error_code ignored;
          stream.socket().cancel(ignored);
        }) {}
  TcpStream stream;
  // The header deadline is kept apart from the stream's own (which closes the socket when it
  // passes) so that a late client can still be told 408.
  asio::basic_waitable_timer<std::chrono::steady_clock,
                             asio::wait_traits<std::chrono::steady_clock>, Executor>
      header_timer;
  bool header_timed_out = false;
  std::atomic<bool> busy{false};  // a request is being handled
  // The deadlines of every request's two common steps, waiting for the next request on a
  // keep-alive connection (idle_timeout) and writing the answer (request_timeout): one lazily
  // re-armed timer (upstream/watchdog.h), where the header timer and Beast's stream deadline
  // cost a timer arm, a cancel and a cancelled handler each per request. Its expiry cancels the
  // socket's operations; both steps then close the connection quietly, as before. The rarer
  // steps keep their own: the rest of a header and a body the header timer, which says why they
  // ended (408); 100 Continue the stream's deadline.
  Watchdog watchdog;
  bool stream_deadline_set = false;  // the stream's own deadline is armed (rare steps)
};

// A session's registration with its listener, and its socket. Constructed first thing in
// Serve; its destructor (Serve's end, however it ends: a return, an exception, a destroyed
// coroutine frame) closes the socket and unregisters, so sessions_ never holds a Session that no
// longer exists and the connection count always comes back down.
class Listener::Registration {
 public:
  Registration(Listener& listener, std::shared_ptr<Session> session)
      : liveness_(listener.liveness_),
        session_(std::move(session)),
        admitted_(listener.Register(session_.get())) {}
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() {
    beast::error_code ignored;
    session_->header_timer.cancel();
    session_->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    session_->stream.close();
    std::function<void()> drained;
    {
      std::lock_guard lock(liveness_->mu);
      if (liveness_->listener != nullptr) drained = liveness_->listener->Unregister(session_.get());
    }
    if (drained) drained();  // outside the lock: it may end in the Listener's destruction
  }
  // False when the connection is over MAX_CONNECTIONS.
  bool admitted() const { return admitted_; }

 private:
  std::shared_ptr<Liveness> liveness_;
  std::shared_ptr<Session> session_;
  bool admitted_;
};

Listener::Listener(std::vector<asio::io_context*> workers, const Config& config,
                   RequestHandler& handler)
    : workers_(std::move(workers)),
      config_(config),
      handler_(handler),
      acceptor_(workers_.at(0)->get_executor()) {
  liveness_->listener = this;
}

Listener::~Listener() {
  std::lock_guard lock(liveness_->mu);
  liveness_->listener = nullptr;
}

Status Listener::Start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(config_.listen_address, ec);
  if (ec) return Status::InvalidArgument("LISTEN_ADDRESS: " + ec.message());
  tcp::endpoint endpoint(address, config_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + config_.listen_address + ":" +
                               std::to_string(config_.port) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(acceptor_.get_executor(), Accept(), asio::detached);
  return Status::Ok();
}

asio::awaitable<void> Listener::Accept() {
  while (!stopping_) {
    asio::io_context& worker = *workers_[next_worker_];
    auto [ec, socket] = co_await acceptor_.async_accept(worker.get_executor(), kTuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      spdlog::warn("accept failed: {}", ec.message());
      // Out of descriptors and the like: pause briefly instead of spinning.
      asio::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    ++stats_.connections_accepted;
    next_worker_ = (next_worker_ + 1) % workers_.size();
    asio::co_spawn(worker, Serve(std::move(socket)), [](std::exception_ptr e) {
      // Serve's own code does not throw (the handler is behind Answer's barrier); should
      // anything still escape, it is logged, never lost silently (the Registration has
      // already closed the connection and unregistered the session).
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error("connection ended by an exception: {}", x.what());
      } catch (...) {
        spdlog::error("connection ended by an unknown exception");
      }
    });
  }
}

bool Listener::Register(Session* s) {
  std::lock_guard lock(mu_);
  const bool admitted = config_.max_connections <= 0 ||
                        sessions_.size() < static_cast<std::size_t>(config_.max_connections);
  sessions_.insert(s);
  ++stats_.connections_open;
  return admitted;
}

std::function<void()> Listener::Unregister(Session* s) {
  std::lock_guard lock(mu_);
  sessions_.erase(s);
  --stats_.connections_open;
  if (stopping_ && sessions_.empty()) return std::move(on_drained_);
  return nullptr;
}

void Listener::ArmTimer(const std::shared_ptr<Session>& session,
                        std::chrono::milliseconds timeout) {
  session->header_timed_out = false;
  session->header_timer.expires_after(timeout);
  session->header_timer.async_wait([s = session](beast::error_code ec) {
    if (ec) return;  // cancelled: what we waited for came in time
    s->header_timed_out = true;
    beast::error_code ignored;
    s->stream.socket().cancel(ignored);
  });
}

asio::awaitable<void> Listener::Serve(Socket socket) {
  // Shared with the header timer's handler, which may run after this coroutine ends.
  auto shared = std::make_shared<Session>(std::move(socket));
  Session& session = *shared;
  const Registration registration(*this, shared);
  std::shared_ptr<ssl::context> tls = CurrentTls();  // kept for the connection's life
  if (!registration.admitted()) {
    if (!tls) co_await RefuseOverCapacity(session);
    co_return;
  }
  if (!tls) {
    co_await ServeRequests(shared, session.stream);
    co_return;
  }
  // Destroyed before the Registration closes the TCP stream it wraps.
  beast::ssl_stream<Session::TcpStream&> secure(session.stream, *tls);
  ArmTimer(shared, config_.header_timeout);
  auto [ec] = co_await secure.async_handshake(ssl::stream_base::server, kTuple);
  session.header_timer.cancel();
  if (ec) {
    ++stats_.tls_handshake_failures;
    spdlog::debug("TLS handshake with a client failed: {}",
                  session.header_timed_out ? "timed out" : ec.message());
    co_return;
  }
  co_await ServeRequests(shared, secure);
}

template <typename Stream>
asio::awaitable<void> Listener::ServeRequests(std::shared_ptr<Session> shared, Stream& stream) {
  Session& session = *shared;
  beast::flat_buffer buffer;
  buffer.reserve(kReadBufferBytes);
  boost::system::error_code peer_ec;
  const auto peer_endpoint = session.stream.socket().remote_endpoint(peer_ec);
  const std::string peer = peer_ec ? std::string() : peer_endpoint.address().to_string();
  bool first = true;
  for (;;) {
    if (stopping_) break;
    RequestParser parser;
    parser.header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
    parser.body_limit(config_.max_body_bytes);
    std::optional<HttpResponse> reject;  // answered here, then the connection closes

    if (session.stream_deadline_set) {
      session.stream.expires_never();
      session.stream_deadline_set = false;
    }
    if (!first && buffer.size() == 0) {
      // Idle keep-alive connection: wait up to idle_timeout for the next request to start,
      // then give its header the (shorter) header_timeout like any other.
      // Reading the first bytes here (rather than waiting for readability) saves a reactor
      // round and a system call per request; the header parser starts from them.
      session.watchdog.Set(config_.idle_timeout);
      auto [wec, got] = co_await ReadSome(
          stream, buffer.prepare(std::max(kReadBufferBytes, buffer.capacity() - buffer.size())));
      session.watchdog.Clear();
      if (wec) break;  // idle too long, or closed: close quietly
      buffer.commit(got);
    }
    // A header already buffered (the usual case on a keep-alive connection) is parsed at once;
    // only a missing part is waited for, within header_timeout.
    beast::error_code ec;
    std::size_t header_bytes = 0;
    if (buffer.size() != 0) {
      header_bytes = parser.put(buffer.data(), ec);
      buffer.consume(header_bytes);
      if (ec == http::error::need_more) ec = {};
    }
    if (!ec && !parser.is_header_done()) {
      ArmTimer(shared, config_.header_timeout);
      auto [rec, n] = co_await http::async_read_header(stream, buffer, parser, kTuple);
      session.header_timer.cancel();
      ec = rec;
      header_bytes += n;
    }
    if (ec == asio::error::operation_aborted && session.header_timed_out) {
      reject = JsonError(408, "RequestTimeout", "no complete request header in time");
    } else if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
               ec == asio::error::connection_reset || ec == asio::error::eof ||
               ec == ssl::error::stream_truncated) {
      break;
    } else if (ec == http::error::header_limit ||
               (!ec && header_bytes > config_.max_header_bytes)) {
      // Beast enforces header_limit only on what it has not parsed yet, so a header that
      // arrives in large reads can pass it: the total is checked here too.
      reject = JsonError(
          431, "RequestHeaderFieldsTooLarge",
          "request header is larger than " + std::to_string(config_.max_header_bytes) + " bytes");
    } else if (ec == http::error::body_limit) {
      reject = JsonError(
          413, "PayloadTooLarge",
          "request body is larger than " + std::to_string(config_.max_body_bytes) + " bytes");
    } else if (ec) {
      reject = JsonError(400, "InvalidHTTPRequest", "malformed HTTP request: " + ec.message());
    } else if (auto why = CheckHeader(parser); !why.empty()) {
      reject = JsonError(400, "InvalidHTTPRequest", "malformed HTTP request: " + why);
    }
    first = false;
    session.busy = true;

    if (!reject) {
      // The body usually came with the header: parse what is buffered at once (no
      // asynchronous round, none at all for a bodiless request), then read the rest, if any,
      // within the request deadline.
      beast::error_code bec;
      if (!parser.is_done() && buffer.size() != 0) {
        parser.eager(true);
        buffer.consume(parser.put(buffer.data(), bec));
        if (bec == http::error::need_more) bec = {};
      }
      if (!bec && !parser.is_done() && ExpectsContinue(parser)) {
        // The client waits for this before it sends the body (the header passed every check,
        // the announced size included).
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        session.stream.expires_after(config_.request_timeout);
        session.stream_deadline_set = true;
        auto [cec, cn] = co_await asio::async_write(
            stream, asio::buffer(kContinue.data(), kContinue.size()), kTuple);
        (void)cn;
        if (cec) break;
      }
      if (!bec && !parser.is_done()) {
        // The body's deadline is the session's timer, which cancels the read: the stream's own
        // would close the socket, and the client would never see its 408.
        if (session.stream_deadline_set) {
          session.stream.expires_never();
          session.stream_deadline_set = false;
        }
        ArmTimer(shared, config_.request_timeout);
        if (const auto rest = buffer.size() == 0 ? DirectBodyRest(parser, kReadBufferBytes) : 0;
            rest != 0) {
          // A large body of announced length goes straight from the socket into the message's
          // body, up to 64 KB per read, instead of through the 8 KB buffer and a copy (its
          // bytes are all the parser has left to see: none are checked there).
          std::string& body = parser.get().body;
          const std::size_t have = body.size();
          body.resize(have + rest);
          auto [rec, rn] = co_await ReadExactly(stream, asio::buffer(body.data() + have, rest));
          (void)rn;
          bec = rec;
        } else {
          auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kTuple);
          (void)rn;
          bec = rec;
        }
        session.header_timer.cancel();
        if (bec == asio::error::operation_aborted && session.header_timed_out) {
          bec = beast::error::timeout;
        }
      }
      if (bec == http::error::body_limit) {
        reject = JsonError(
            413, "PayloadTooLarge",
            "request body is larger than " + std::to_string(config_.max_body_bytes) + " bytes");
      } else if (bec == beast::error::timeout) {
        reject = JsonError(408, "RequestTimeout", "request body not received in time");
      } else if (bec) {
        if (bec == http::error::end_of_stream || bec == asio::error::connection_reset ||
            bec == asio::error::eof || bec == http::error::partial_message ||
            bec == ssl::error::stream_truncated) {
          break;
        }
        reject = JsonError(400, "InvalidHTTPRequest", "malformed HTTP body: " + bec.message());
      }
    }

    const unsigned version = parser.version();
    bool keep_alive = false;
    HttpResponse plain;
    if (reject) {
      ++stats_.rejected_bad_request;
      plain = std::move(*reject);
    } else {
      ++stats_.requests;
      keep_alive = parser.keep_alive();
      HttpRequest request = parser.release();  // a named local: see router.cc
      request.peer = peer;
      // The handler's own barrier answers what it throws; should anything still escape, it is
      // answered 500 here and the connection closed, as its state (e.g. a half-sent upstream
      // exchange) is not known. Inline, not a coroutine of its own: one frame less per request.
      bool threw = true;
      try {
        plain = co_await handler_.Handle(std::move(request));
        threw = false;
      } catch (const std::exception& e) {
        spdlog::error("request handler threw: {}", e.what());
      } catch (...) {
        spdlog::error("request handler threw an unknown exception");
      }
      if (threw) {
        ++stats_.handler_exceptions;
        plain = JsonError(500, "InternalError",
                          "chroma-ha failed while handling this request (logged at error level)");
      }
      if (stopping_ || threw) keep_alive = false;
    }
    const std::string head = ResponseHead(plain, version, keep_alive);
    const std::array<asio::const_buffer, 2> out{asio::buffer(head), BodilessStatus(plain.status)
                                                                        ? asio::const_buffer()
                                                                        : asio::buffer(plain.body)};
    if (session.stream_deadline_set) {  // the watchdog keeps this step's deadline
      session.stream.expires_never();
      session.stream_deadline_set = false;
    }
    session.watchdog.Set(config_.request_timeout);
    auto [wec, wn] = co_await asio::async_write(stream, out, kTuple);
    (void)wn;
    session.watchdog.Clear();
    session.busy = false;
    if (wec || !keep_alive) break;
  }
  // The Registration closes the connection and unregisters the session.
}

asio::awaitable<void> Listener::RefuseOverCapacity(Session& session) {
  ++stats_.rejected_over_capacity;
  spdlog::debug("connection refused: more than {} open (MAX_CONNECTIONS)", config_.max_connections);
  HttpResponse plain = JsonError(
      503, "ServiceUnavailable",
      "too many connections (MAX_CONNECTIONS=" + std::to_string(config_.max_connections) + ")");
  plain.headers.push_back({"retry-after", "1"});
  // Nothing of the request is read: the version is unknown, and 1.1 is what clients speak.
  const std::string head = ResponseHead(plain, 11, /*keep_alive=*/false);
  const std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(plain.body)};
  session.stream.expires_after(std::min(config_.header_timeout, config_.request_timeout));
  auto [ec, n] = co_await asio::async_write(session.stream, out, kTuple);
  (void)ec;
  (void)n;
  // The Registration then closes the connection. Whatever the client sent is left unread: on
  // Linux the answer, already sent, stays readable for it even if the close resets the
  // connection (tested), and lingering to drain it would hold a place under the cap.
}

void Listener::SetTls(std::shared_ptr<ssl::context> tls) {
  std::lock_guard lock(tls_mu_);
  tls_ = std::move(tls);
}

std::shared_ptr<ssl::context> Listener::CurrentTls() {
  std::lock_guard lock(tls_mu_);
  return tls_;
}

void Listener::Shutdown(std::chrono::milliseconds grace, std::function<void()> done) {
  stopping_ = true;
  auto once = std::make_shared<std::once_flag>();
  // The grace timer; cancelled once everything closed, so it does not keep the loop busy.
  asio::io_context& home = *workers_.front();
  auto timer = std::make_shared<asio::steady_timer>(home, grace);
  // An Asio timer is not thread-safe: every use of this one runs on `home`. It is armed there
  // first (posted below before any session can call `finish`), then cancelled there by `finish`,
  // whichever worker the last session ends on (TSan found the arm and the cancel racing).
  auto finish = [once, timer, done = std::move(done)] {
    std::call_once(*once, done);
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  };
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  std::lock_guard lock(mu_);
  if (sessions_.empty()) {
    asio::post(home, finish);
    return;
  }
  asio::post(home,
             [timer, finish] { timer->async_wait([finish](beast::error_code) { finish(); }); });
  on_drained_ = finish;
  for (Session* s : sessions_) {
    if (s->busy) continue;  // finishes its request, then closes (stopping_ is set)
    // Runs on the session's worker, where Unregister also runs: check it is still alive.
    asio::post(s->stream.get_executor(), [this, s] {
      std::lock_guard inner(mu_);
      if (sessions_.count(s) != 0 && !s->busy) s->stream.socket().cancel();
    });
  }
}

}  // namespace chroma_ha
