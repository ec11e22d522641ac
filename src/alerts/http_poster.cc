#include "alerts/http_poster.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <optional>

namespace chroma_ha {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxAnswerBytes = 64 * 1024;
constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

Status StepError(const char* step, const beast::error_code& ec) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
    return Status::Timeout(std::string("webhook ") + step + ": deadline passed");
  }
  return Status::Unavailable(std::string("webhook ") + step + ": " + ec.message());
}

}  // namespace

struct HttpPoster::Impl {
  WebhookTarget target;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds request_timeout;
  asio::io_context ioc;
  ssl::context tls{ssl::context::tls_client};

  // Resolves and connects `stream` within connect_timeout.
  asio::awaitable<Status> Connect(beast::tcp_stream& stream) {
    // Shared with the guard's handler, which may run after this frame is gone.
    auto resolver = std::make_shared<tcp::resolver>(ioc);
    asio::steady_timer guard(ioc);
    guard.expires_after(connect_timeout);
    guard.async_wait([resolver](const beast::error_code& ec) {
      if (!ec) resolver->cancel();
    });
    std::string host = target.host;
    std::string port = std::to_string(target.port);
    auto [rec, results] = co_await resolver->async_resolve(host, port, kUse);
    guard.cancel();
    if (rec) co_return StepError("resolve", rec);
    stream.expires_after(connect_timeout);
    auto [cec, ep] = co_await stream.async_connect(results, kUse);
    if (cec) co_return StepError("connect", cec);
    co_return Status::Ok();
  }

  template <typename Stream>
  asio::awaitable<Status> Exchange(Stream& stream, beast::tcp_stream& lowest,
                                   const std::string& body) {
    http::request<http::string_body> req{http::verb::post, target.target, 11};
    std::string host_header = target.host.find(':') != std::string::npos
                                  ? "[" + target.host + "]:" + std::to_string(target.port)
                                  : target.host + ":" + std::to_string(target.port);
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, "chroma-ha/" CHROMA_HA_VERSION);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::connection, "close");
    req.body() = body;
    req.prepare_payload();
    lowest.expires_after(request_timeout);
    auto [wec, written] = co_await http::async_write(stream, req, kUse);
    (void)written;
    if (wec) co_return StepError("write", wec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    auto [rec, read] = co_await http::async_read(stream, buffer, parser, kUse);
    (void)read;
    if (rec) co_return StepError("read", rec);
    unsigned status = parser.get().result_int();
    if (status < 200 || status > 299) {
      co_return Status::Unavailable("webhook answered HTTP " + std::to_string(status));
    }
    co_return Status::Ok();
  }

  asio::awaitable<Status> PlainPost(std::string body) {
    beast::tcp_stream stream(ioc);
    Status s = co_await Connect(stream);
    if (!s.ok()) co_return s;
    Status r = co_await Exchange(stream, stream, body);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return r;
  }

  asio::awaitable<Status> TlsPost(std::string body) {
    beast::ssl_stream<beast::tcp_stream> stream(ioc, tls);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str())) {
      co_return Status::Unavailable("webhook TLS: cannot set SNI");
    }
    stream.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback(ssl::host_name_verification(target.host));
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    Status s = co_await Connect(lowest);
    if (!s.ok()) co_return s;
    lowest.expires_after(connect_timeout);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, kUse);
    if (hec) co_return StepError("TLS handshake", hec);
    Status r = co_await Exchange(stream, lowest, body);
    beast::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return r;
  }
};

HttpPoster::HttpPoster(WebhookTarget target, std::chrono::milliseconds connect_timeout,
                       std::chrono::milliseconds request_timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->target = std::move(target);
  impl_->connect_timeout = connect_timeout;
  impl_->request_timeout = request_timeout;
  beast::error_code ec;
  impl_->tls.set_default_verify_paths(ec);  // on failure peers fail verification: never fatal
  impl_->tls.set_verify_mode(ssl::verify_peer);
}

HttpPoster::~HttpPoster() = default;

Status HttpPoster::Post(const std::string& json_body) {
  Impl& i = *impl_;
  std::optional<Status> result;
  std::string body = json_body;
  auto done = [&result](std::exception_ptr e, Status s) {
    result = e ? Status::Internal("webhook: unexpected exception") : std::move(s);
  };
  i.ioc.restart();
  if (i.target.tls) {
    asio::co_spawn(i.ioc, i.TlsPost(std::move(body)), done);
  } else {
    asio::co_spawn(i.ioc, i.PlainPost(std::move(body)), done);
  }
  i.ioc.run();
  return result.value_or(Status::Internal("webhook: post did not finish"));
}

}  // namespace chroma_ha
