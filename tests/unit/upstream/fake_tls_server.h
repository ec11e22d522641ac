// A tiny in-process HTTPS/1.1 server for the upstream TLS tests: TLS with a given certificate
// and key on 127.0.0.1 (port 0), its own io_context and thread, answering every request
// `200 ok` on a keep-alive connection. It counts accepted connections, completed handshakes and
// the application bytes it received after a handshake (what a client sent "through" TLS).
// `silent`: accept and never answer (no handshake), to test deadlines. Header-only: include it
// from one test file only.
#ifndef CHROMA_HA_TESTS_UNIT_UPSTREAM_FAKE_TLS_SERVER_H_
#define CHROMA_HA_TESTS_UNIT_UPSTREAM_FAKE_TLS_SERVER_H_

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace chroma_ha::testing {

class FakeTlsServer {
 public:
  // Serves TLS with `cert_file`/`key_file`; empty files with `silent` = never answer.
  FakeTlsServer(const std::string& cert_file, const std::string& key_file, bool silent = false)
      : tls_(boost::asio::ssl::context::tls_server),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}),
        silent_(silent) {
    if (!silent) {
      tls_.use_certificate_chain_file(cert_file);
      tls_.use_private_key_file(key_file, boost::asio::ssl::context::pem);
    }
    port_ = acceptor_.local_endpoint().port();
    boost::asio::co_spawn(ioc_, Accept(), boost::asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeTlsServer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }
  int handshakes() const { return handshakes_; }
  int requests() const { return requests_; }
  int64_t app_bytes() const { return app_bytes_; }

 private:
  using Tcp = boost::asio::ip::tcp;
  static constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

  boost::asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      ++accepted_;
      if (silent_) {
        held_.push_back(std::make_unique<Tcp::socket>(std::move(socket)));
        continue;
      }
      boost::asio::co_spawn(ioc_, Serve(std::move(socket)), boost::asio::detached);
    }
  }

  boost::asio::awaitable<void> Serve(Tcp::socket socket) {
    namespace http = boost::beast::http;
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream(std::move(socket), tls_);
    auto [hec] = co_await stream.async_handshake(boost::asio::ssl::stream_base::server, kTuple);
    if (hec) co_return;
    ++handshakes_;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [rec, n] = co_await http::async_read(stream, buffer, req, kTuple);
      app_bytes_ += static_cast<int64_t>(n);
      if (rec) co_return;
      ++requests_;
      http::response<http::string_body> res{http::status::ok, 11};
      res.body() = "ok";
      res.keep_alive(true);
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      (void)wn;
      if (wec) co_return;
    }
  }

  boost::asio::io_context ioc_;
  boost::asio::ssl::context tls_;
  Tcp::acceptor acceptor_;
  bool silent_;
  uint16_t port_ = 0;
  std::vector<std::unique_ptr<Tcp::socket>> held_;  // silent mode: open, never read
  std::thread thread_;
  std::atomic<int> accepted_{0};
  std::atomic<int> handshakes_{0};
  std::atomic<int> requests_{0};
  std::atomic<int64_t> app_bytes_{0};
};

}  // namespace chroma_ha::testing

#endif  // CHROMA_HA_TESTS_UNIT_UPSTREAM_FAKE_TLS_SERVER_H_
