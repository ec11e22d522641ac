#include "server/listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "upstream/upstream_pool.h"

namespace chroma_ha {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Checks Beast leaves to us: request smuggling vectors and control bytes (DESIGN.md §7).
// Returns an empty string when the header is acceptable, else why it is not.
std::string CheckHeader(const http::request_parser<http::string_body>& parser) {
  const auto& req = parser.get();
  int content_lengths = 0;
  int transfer_encodings = 0;
  for (const auto& f : req) {
    if (f.name() == http::field::content_length) ++content_lengths;
    if (f.name() == http::field::transfer_encoding) ++transfer_encodings;
    for (unsigned char c : f.value()) {
      if (c == 0 || c == '\r' || c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) {
        return "control character in a header value";
      }
    }
  }
  if (content_lengths > 1) return "more than one Content-Length header";
  if (auto cl = req.find(http::field::content_length);
      cl != req.end() && cl->value().find(',') != beast::string_view::npos) {
    return "a list in Content-Length";  // "n, n" is a duplicate Content-Length too
  }
  if (content_lengths > 0 && transfer_encodings > 0) {
    return "both Content-Length and Transfer-Encoding";
  }
  if (transfer_encodings > 1) return "more than one Transfer-Encoding header";
  if (transfer_encodings == 1 && !parser.chunked()) {
    return "Transfer-Encoding other than chunked";
  }
  for (unsigned char c : req.target()) {
    if (c <= 0x20 || c == 0x7f) return "control character in the request target";
  }
  return "";
}

HttpRequest ToPlain(http::request<http::string_body>&& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& f : req) {
    if (IsHopByHopHeader(f.name_string())) continue;
    out.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  }
  out.body = std::move(req.body());
  return out;
}

http::response<http::string_body> FromPlain(HttpResponse&& plain, unsigned version,
                                            bool keep_alive) {
  http::response<http::string_body> res;
  res.version(version);
  res.result(static_cast<unsigned>(plain.status));
  for (auto& h : plain.headers) res.insert(h.name, h.value);
  res.set(http::field::server, "chroma-ha");
  res.body() = std::move(plain.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace

// One client connection. Lives inside Listener::Serve's coroutine frame.
class Listener::Session {
 public:
  explicit Session(tcp::socket socket)
      : stream(std::move(socket)), header_timer(stream.get_executor()) {}
  beast::tcp_stream stream;
  // The header deadline is kept apart from the stream's own (which closes the socket when it
  // passes) so that a late client can still be told 408.
  asio::steady_timer header_timer;
  bool header_timed_out = false;
  std::atomic<bool> busy{false};  // a request is being handled
};

Listener::Listener(asio::io_context& ioc, const Config& config, RequestHandler& handler)
    : ioc_(ioc), config_(config), handler_(handler), acceptor_(asio::make_strand(ioc)) {}

Listener::~Listener() = default;

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
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), kTuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      spdlog::warn("accept failed: {}", ec.message());
      // Out of descriptors and the like: pause briefly instead of spinning.
      asio::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    ++stats_.connections_accepted;
    auto ex = socket.get_executor();
    asio::co_spawn(ex, Serve(std::move(socket)), asio::detached);
  }
}

void Listener::Register(Session* s) {
  std::lock_guard lock(mu_);
  sessions_.insert(s);
  ++stats_.connections_open;
}

void Listener::Unregister(Session* s) {
  std::function<void()> done;
  {
    std::lock_guard lock(mu_);
    sessions_.erase(s);
    --stats_.connections_open;
    if (stopping_ && sessions_.empty()) done = std::move(on_drained_);
  }
  if (done) done();
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

asio::awaitable<void> Listener::Serve(tcp::socket socket) {
  // Shared with the header timer's handler, which may run after this coroutine ends.
  auto shared = std::make_shared<Session>(std::move(socket));
  Session& session = *shared;
  Register(&session);
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    if (stopping_) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
    parser.body_limit(config_.max_body_bytes);
    std::optional<HttpResponse> reject;  // answered here, then the connection closes

    session.stream.expires_never();
    if (!first && buffer.size() == 0) {
      // Idle keep-alive connection: wait up to idle_timeout for the next request to start,
      // then give its header the (shorter) header_timeout like any other.
      ArmTimer(shared, config_.idle_timeout);
      auto [wec] = co_await session.stream.socket().async_wait(tcp::socket::wait_read, kTuple);
      session.header_timer.cancel();
      if (wec) break;  // idle too long, or closed: close quietly
    }
    ArmTimer(shared, config_.header_timeout);
    auto [ec, n] = co_await http::async_read_header(session.stream, buffer, parser, kTuple);
    (void)n;
    session.header_timer.cancel();
    if (ec == asio::error::operation_aborted && session.header_timed_out) {
      reject = JsonError(408, "RequestTimeout", "no complete request header in time");
    } else if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
               ec == asio::error::connection_reset || ec == asio::error::eof) {
      break;
    } else if (ec == http::error::header_limit) {
      reject = JsonError(431, "RequestHeaderFieldsTooLarge",
                         "request header is larger than " +
                             std::to_string(config_.max_header_bytes) + " bytes");
    } else if (ec == http::error::body_limit) {
      reject = JsonError(413, "PayloadTooLarge",
                         "request body is larger than " +
                             std::to_string(config_.max_body_bytes) + " bytes");
    } else if (ec) {
      reject = JsonError(400, "InvalidHTTPRequest", "malformed HTTP request: " + ec.message());
    } else if (auto why = CheckHeader(parser); !why.empty()) {
      reject = JsonError(400, "InvalidHTTPRequest", "malformed HTTP request: " + why);
    }
    first = false;
    session.busy = true;

    if (!reject) {
      session.stream.expires_after(config_.request_timeout);
      auto [bec, bn] = co_await http::async_read(session.stream, buffer, parser, kTuple);
      (void)bn;
      if (bec == http::error::body_limit) {
        reject = JsonError(413, "PayloadTooLarge",
                           "request body is larger than " +
                               std::to_string(config_.max_body_bytes) + " bytes");
      } else if (bec == beast::error::timeout) {
        reject = JsonError(408, "RequestTimeout", "request body not received in time");
      } else if (bec) {
        if (bec == http::error::end_of_stream || bec == asio::error::connection_reset ||
            bec == asio::error::eof || bec == http::error::partial_message) {
          break;
        }
        reject = JsonError(400, "InvalidHTTPRequest", "malformed HTTP body: " + bec.message());
      }
    }

    unsigned version = parser.is_header_done() ? parser.get().version() : 11;
    bool keep_alive = false;
    HttpResponse plain;
    if (reject) {
      ++stats_.rejected_bad_request;
      plain = std::move(*reject);
    } else {
      ++stats_.requests;
      auto req = parser.release();
      keep_alive = req.keep_alive();
      HttpRequest request = ToPlain(std::move(req));  // a named local: see router.cc
      plain = co_await handler_.Handle(std::move(request));
      if (stopping_) keep_alive = false;
    }
    auto res = FromPlain(std::move(plain), version, keep_alive);
    session.stream.expires_after(config_.request_timeout);
    auto [wec, wn] = co_await http::async_write(session.stream, res, kTuple);
    (void)wn;
    session.busy = false;
    if (wec || !keep_alive) break;
  }
  beast::error_code ignored;
  session.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  session.stream.close();
  Unregister(&session);
}

void Listener::Shutdown(std::chrono::milliseconds grace, std::function<void()> done) {
  stopping_ = true;
  auto once = std::make_shared<std::once_flag>();
  // The grace timer; cancelled once everything closed, so it does not keep the loop busy.
  auto timer = std::make_shared<asio::steady_timer>(ioc_, grace);
  auto finish = [once, timer, done = std::move(done)] {
    std::call_once(*once, done);
    timer->cancel();
  };
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  {
    std::lock_guard lock(mu_);
    if (sessions_.empty()) {
      asio::post(ioc_, finish);
      return;
    }
    on_drained_ = finish;
    for (Session* s : sessions_) {
      if (s->busy) continue;  // finishes its request, then closes (stopping_ is set)
      // Runs on the session's strand, where Unregister also runs: check it is still alive.
      asio::post(s->stream.get_executor(), [this, s] {
        std::lock_guard inner(mu_);
        if (sessions_.count(s) != 0 && !s->busy) s->stream.socket().cancel();
      });
    }
  }
  timer->async_wait([finish](beast::error_code) { finish(); });
}

}  // namespace chroma_ha
