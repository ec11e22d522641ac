// A tiny in-process HTTP/1.1 server for upstream tests: Beast on loopback, port 0, its own
// io_context and thread. A handler decides, per request, to answer, close or hang; the server
// counts accepted connections and records the requests it saw. Header-only: include it from
// one test file only (it is heavy).
#ifndef CHROMA_HA_TESTS_UNIT_UPSTREAM_FAKE_HTTP_SERVER_H_
#define CHROMA_HA_TESTS_UNIT_UPSTREAM_FAKE_HTTP_SERVER_H_

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "chroma_ha/http_message.h"

namespace chroma_ha::testing {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;

struct FakeReply {
  enum class Action { kRespond, kCloseWithoutAnswer, kHang };
  Action action = Action::kRespond;
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  bool chunked = false;
  bool close_after = false;  // close after answering even though the answer says keep-alive
};

using FakeRequest = bhttp::request<bhttp::string_body>;
// `index_on_connection`: 0 for the first request on a connection, 1 for the second, ...
using FakeHandler = std::function<FakeReply(const FakeRequest&, int index_on_connection)>;

class FakeHttpServer {
 public:
  explicit FakeHttpServer(FakeHandler handler)
      : handler_(std::move(handler)), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(ioc_, Accept(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeHttpServer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }
  int closed() const { return closed_; }  // connections the server closed itself
  int requests() const { return requests_; }
  FakeRequest last_request() const {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  net::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      ++accepted_;
      net::co_spawn(ioc_, Session(std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> Session(net::ip::tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    for (int index = 0;; ++index) {
      FakeRequest req;
      auto [ec, n] =
          co_await bhttp::async_read(socket, buffer, req, net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      ++requests_;
      {
        std::lock_guard lock(mu_);
        last_ = req;
      }
      FakeReply reply = handler_(req, index);
      if (reply.action == FakeReply::Action::kCloseWithoutAnswer) break;
      if (reply.action == FakeReply::Action::kHang) {
        net::steady_timer forever(socket.get_executor(), std::chrono::hours(1));
        co_await forever.async_wait(net::as_tuple(net::use_awaitable));
        co_return;
      }
      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(reply.status), 11};
      for (const Header& h : reply.headers) res.insert(h.name, h.value);
      res.body() = reply.body;
      if (reply.chunked) {
        res.chunked(true);
      } else {
        res.prepare_payload();
      }
      res.keep_alive(req.keep_alive());
      auto [wec, wn] = co_await bhttp::async_write(socket, res, net::as_tuple(net::use_awaitable));
      if (wec || reply.close_after || !req.keep_alive()) break;
    }
    boost::system::error_code ignored;
    socket.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    ++closed_;
  }

  FakeHandler handler_;
  net::io_context ioc_;
  net::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<int> accepted_{0};
  std::atomic<int> closed_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  FakeRequest last_;
};

// A loopback port on which nothing listens (bound, then released).
inline uint16_t UnusedPort() {
  net::io_context ioc;
  net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

}  // namespace chroma_ha::testing

#endif  // CHROMA_HA_TESTS_UNIT_UPSTREAM_FAKE_HTTP_SERVER_H_
