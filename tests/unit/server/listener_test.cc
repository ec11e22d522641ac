// Listener over real loopback sockets, with a trivial handler: keep-alive, strict parsing (400 /
// 431 / 413 / 408 and close), and graceful shutdown. The client is a plain POSIX socket with a
// receive timeout, so a bug fails the test instead of hanging it.
#include "server/listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "raw_client.h"

namespace chroma_ha {
namespace {

namespace asio = boost::asio;

// Echoes the request; "/slow" waits until the test releases it.
class EchoHandler final : public RequestHandler {
 public:
  asio::awaitable<HttpResponse> Handle(HttpRequest request) override {
    ++calls;
    {
      std::lock_guard lock(mu_);
      thread_of_[request.target] = std::this_thread::get_id();
      last_headers_.clear();
      for (const Header& h : request.headers) last_headers_ += h.name + ": " + h.value + "\n";
    }
    if (request.target == "/slow") {
      auto executor = co_await asio::this_coro::executor;
      auto timer =
          std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
      {
        std::lock_guard lock(mu_);
        slow_ = timer;
      }
      slow_started = true;
      auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;
    }
    HttpResponse r;
    r.status = 200;
    r.body = "echo " + request.method + " " + request.target + " " + request.body;
    co_return r;
  }
  void ReleaseSlow() {
    std::shared_ptr<asio::steady_timer> t;
    {
      std::lock_guard lock(mu_);
      t = slow_;
    }
    if (t) asio::post(t->get_executor(), [t] { t->cancel(); });
  }

  // The thread that handled the last request for `target`.
  std::thread::id ThreadOf(const std::string& target) {
    std::lock_guard lock(mu_);
    return thread_of_[target];
  }

  // The headers the last request reached the handler with, one "name: value" line each.
  std::string LastHeaders() {
    std::lock_guard lock(mu_);
    return last_headers_;
  }

  std::atomic<int> calls{0};
  std::atomic<bool> slow_started{false};

 private:
  std::string last_headers_;                          // guarded by mu_
  std::map<std::string, std::thread::id> thread_of_;  // guarded by mu_
  std::mutex mu_;
  std::shared_ptr<asio::steady_timer> slow_;
};

using testing::Client;
using testing::Reply;

class ListenerTest : public ::testing::Test {
 protected:
  ListenerTest() {
    config_.listen_address = "127.0.0.1";
    config_.port = 0;
    config_.max_header_bytes = 1024;
    config_.max_body_bytes = 1000;
    config_.header_timeout = std::chrono::milliseconds(300);
    config_.idle_timeout = std::chrono::seconds(30);
    config_.request_timeout = std::chrono::seconds(10);
  }
  ~ListenerTest() override {
    if (listener_ && !shut_down_) {
      std::promise<void> done;
      listener_->Shutdown(std::chrono::milliseconds(100), [&] { done.set_value(); });
      done.get_future().wait_for(std::chrono::seconds(10));
    }
    work_.reset();
    work2_.reset();
    ioc_.stop();
    ioc2_.stop();
    if (thread_.joinable()) thread_.join();
    if (thread2_.joinable()) thread2_.join();
  }

  // One worker (ioc_), or two (ioc_ and ioc2_), each run by its own thread.
  void Start(int workers = 1) {
    std::vector<asio::io_context*> contexts{&ioc_};
    if (workers == 2) contexts.push_back(&ioc2_);
    listener_ = std::make_unique<Listener>(contexts, config_, handler_);
    ASSERT_TRUE(listener_->Start().ok());
    ASSERT_NE(listener_->port(), 0);
    thread_ = std::thread([this] { ioc_.run(); });
    if (workers == 2) thread2_ = std::thread([this] { ioc2_.run(); });
  }

  void GracefulShutdown(int workers);

  // One raw request on a fresh connection: the reply, and whether the connection then closed.
  std::pair<Reply, bool> Exchange(const std::string& raw) {
    Client c(listener_->port());
    EXPECT_TRUE(c.connected());
    c.Send(raw);
    Reply r = c.Read();
    return {r, c.Closed()};
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  asio::io_context ioc2_;
  asio::executor_work_guard<asio::io_context::executor_type> work2_ = asio::make_work_guard(ioc2_);
  Config config_;
  EchoHandler handler_;
  std::unique_ptr<Listener> listener_;
  std::thread thread_;
  std::thread thread2_;
  bool shut_down_ = false;
};

TEST_F(ListenerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  Start();
  Client c(listener_->port());
  ASSERT_TRUE(c.connected());
  c.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  Reply one = c.Read();
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(one.body, "echo GET /a ");
  EXPECT_FALSE(one.connection_close);
  c.Send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  Reply two = c.Read();
  EXPECT_EQ(two.status, 200);
  EXPECT_EQ(two.body, "echo POST /b hello");
  EXPECT_EQ(listener_->stats().connections_accepted, 1);
  EXPECT_EQ(listener_->stats().requests, 2);
}

// The handler gets the end-to-end headers as sent (names, case, order, values, repeats), the
// method, target and body; the hop-by-hop ones (Host, Connection, Keep-Alive, TE,
// Transfer-Encoding, Content-Length, Expect, Proxy-*) are left out.
TEST_F(ListenerTest, TheHandlerGetsTheEndToEndHeadersInTheirOrder) {
  Start();
  Client c(listener_->port());
  ASSERT_TRUE(c.connected());
  c.Send(
      "PATCH /p?q=1 HTTP/1.1\r\nHost: x\r\nX-Chroma-Token: abc\r\nconnection: keep-alive\r\n"
      "Content-Type: application/json\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
      "Proxy-Authorization: p\r\nx-multi: 1\r\nTransfer-Encoding: chunked\r\n"
      "X-Multi: 2\r\nUser-Agent:  spaced value\r\n\r\n"
      "2\r\n{}\r\n0\r\n\r\n");
  Reply r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo PATCH /p?q=1 {}");
  EXPECT_EQ(handler_.LastHeaders(),
            "X-Chroma-Token: abc\nContent-Type: application/json\nx-multi: 1\nX-Multi: 2\n"
            "User-Agent: spaced value\n");
  // The next request on the connection starts with none of the first one's headers.
  c.Send("GET /next HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(c.Read().body, "echo GET /next ");
  EXPECT_EQ(handler_.LastHeaders(), "Accept: */*\n");
}

TEST_F(ListenerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  Client c(listener_->port());
  c.Send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.Read().body, "echo GET /1 ");
  EXPECT_EQ(c.Read().body, "echo GET /2 ");
}

TEST_F(ListenerTest, BufferedRequestsWithBodiesAreParsedInPlace) {
  // Everything after the first request is already buffered when its turn comes: headers and
  // bodies (by length and chunked) are parsed from the buffer, and the limits still apply.
  Start();
  Client c(listener_->port());
  c.Send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
         "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
         "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n"
         "POST /4 HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  EXPECT_EQ(c.Read().body, "echo GET /1 ");
  EXPECT_EQ(c.Read().body, "echo POST /2 hello");
  EXPECT_EQ(c.Read().body, "echo POST /3 abc");
  Reply too_big = c.Read();
  EXPECT_EQ(too_big.status, 413);
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(handler_.calls, 3);
}

// A body larger than the read buffer is read straight into the request (past the parser): it
// must arrive whole however the client splits it, and the next request on the connection must
// not lose a byte to that read.
TEST_F(ListenerTest, LargeBodyInPiecesArrivesWholeAndThePipelinedRequestAfterItToo) {
  config_.max_body_bytes = 4 << 20;
  Start();
  std::string body(1 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 23);
  Client c(listener_->port());
  ASSERT_TRUE(c.connected());
  // The header with the first 100 bytes, then the rest in three writes, the last of which also
  // carries a whole second request.
  c.Send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body.substr(0, 100));
  c.Send(body.substr(100, 300000));
  c.Send(body.substr(300100, 500000));
  c.Send(body.substr(800100) + "POST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  Reply big = c.Read();
  EXPECT_EQ(big.status, 200);
  ASSERT_EQ(big.body.size(), std::string("echo POST /big ").size() + body.size());
  EXPECT_TRUE(big.body == "echo POST /big " + body);
  Reply next = c.Read();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "echo POST /next abc");
  EXPECT_EQ(handler_.calls, 2);
}

TEST_F(ListenerTest, LargeBodyThatStopsHalfwayIs408WithinTheRequestTimeout) {
  config_.max_body_bytes = 4 << 20;
  config_.request_timeout = std::chrono::milliseconds(300);
  Start();
  Client c(listener_->port());
  ASSERT_TRUE(c.connected());
  c.Send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
         std::string(400000, 'x'));  // and nothing more
  Reply r = c.Read();
  EXPECT_EQ(r.status, 408);
  EXPECT_NE(r.body.find("request body not received in time"), std::string::npos) << r.body;
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, SmallBodyThatStopsHalfwayIs408WithinTheRequestTimeout) {
  config_.request_timeout = std::chrono::milliseconds(300);
  Start();
  Client c(listener_->port());
  ASSERT_TRUE(c.connected());
  c.Send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
  Reply r = c.Read();
  EXPECT_EQ(r.status, 408);
  EXPECT_NE(r.body.find("request body not received in time"), std::string::npos) << r.body;
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, ChunkedBodyWithinTheLimitIsAccepted) {
  Start();
  auto [r, closed] = Exchange(
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo POST /c abcde");
}

TEST_F(ListenerTest, ContentLengthWithTransferEncodingIs400AndClose) {
  Start();
  auto [r, closed] = Exchange(
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, DuplicateContentLengthIs400) {
  Start();
  auto [r, closed] = Exchange(
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, TransferEncodingOtherThanChunkedIs400) {
  Start();
  auto [r, closed] =
      Exchange("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, HeaderOverTheCapIs431) {
  Start();
  auto [r, closed] = Exchange("GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') +
                              "\r\n\r\n");
  EXPECT_EQ(r.status, 431);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, ManySmallHeadersOverTheCapAre431EvenInLargeReads) {
  // A cap above the listener's read size: ~15 KB of short fields. The first read parses
  // (and drops) about 8 KB of them, leaving less than the cap unparsed, which Beast's own
  // header_limit alone lets through.
  config_.max_header_bytes = 10000;
  std::string many;
  for (int i = 0; i < 1250; ++i) {
    char line[32];
    std::snprintf(line, sizeof(line), "X-H%04d: v\r\n", i);
    many += line;
  }
  Start();
  auto [r, closed] = Exchange("GET /many HTTP/1.1\r\nHost: x\r\n" + many + "\r\n");
  EXPECT_EQ(r.status, 431);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, BodyOverTheCapByContentLengthIs413WithoutReadingIt) {
  Start();
  Client c(listener_->port());
  // Only the header is sent: the answer must come without the body.
  c.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  Reply r = c.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(handler_.calls, 0);
  EXPECT_GE(listener_->stats().rejected_bad_request, 1);
}

TEST_F(ListenerTest, ChunkedBodyOverTheCapIs413) {
  Start();
  std::string chunk(600, 'z');
  auto [r, closed] = Exchange(
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + chunk +
      "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, BareLfIs400) {
  Start();
  auto [r, closed] = Exchange("GET /x HTTP/1.1\nHost: x\n\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, NulInAHeaderValueIs400) {
  Start();
  auto [r, closed] = Exchange(std::string("GET /x HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 38));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, IncompleteHeaderTimesOutWith408AndClose) {
  Start();
  Client c(listener_->port());
  c.Send("GET /x HTTP/1.1\r\nHost: x\r\n");  // no blank line: never complete
  Reply r = c.Read();
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(r.connection_close);
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(handler_.calls, 0);
}

TEST_F(ListenerTest, SilentNewConnectionTimesOutWith408) {
  Start();
  Client c(listener_->port());
  Reply r = c.Read();
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(c.Closed());
}

TEST_F(ListenerTest, ConnectionsAreSpreadOverTheWorkersAndEachStaysOnItsThread) {
  Start(2);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<Client>(listener_->port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  std::set<std::thread::id> threads;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 4; ++i) {
      const std::string target = "/c" + std::to_string(i) + "/" + std::to_string(round);
      clients[i]->Send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
      Reply r = clients[i]->Read();
      ASSERT_EQ(r.status, 200) << target;
      EXPECT_EQ(r.body, "echo GET " + target + " ");
      threads.insert(handler_.ThreadOf(target));
    }
  }
  for (int i = 0; i < 4; ++i) {
    const std::string c = "/c" + std::to_string(i);
    EXPECT_EQ(handler_.ThreadOf(c + "/0"), handler_.ThreadOf(c + "/1")) << "connection " << i;
  }
  EXPECT_EQ(threads.size(), 2u) << "every worker serves connections";
  EXPECT_EQ(listener_->stats().connections_accepted, 4);
  EXPECT_EQ(listener_->stats().connections_open, 4);
  EXPECT_EQ(listener_->stats().requests, 8);
}

// Shutdown with one idle and one busy connection, on `workers` workers (with two, they are on
// different workers: connections are handed out round robin).
void ListenerTest::GracefulShutdown(int workers) {
  Start(workers);
  Client idle(listener_->port());
  idle.Send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(idle.Read().status, 200);  // now an idle keep-alive connection
  Client busy(listener_->port());
  busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!handler_.slow_started && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(handler_.slow_started);

  std::promise<void> done;
  auto done_future = done.get_future();
  std::atomic<int> done_calls{0};
  listener_->Shutdown(std::chrono::seconds(20), [&] {
    if (done_calls++ == 0) done.set_value();
  });
  shut_down_ = true;
  EXPECT_TRUE(idle.Closed()) << "an idle connection stays open after Shutdown";
  EXPECT_NE(done_future.wait_for(std::chrono::milliseconds(0)), std::future_status::ready)
      << "done ran while a request was still in flight";

  handler_.ReleaseSlow();
  Reply r = busy.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo GET /slow ");
  EXPECT_TRUE(r.connection_close);
  EXPECT_TRUE(busy.Closed());
  EXPECT_EQ(done_future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(done_calls, 1);
  // No new connections are accepted.
  Client late(listener_->port());
  EXPECT_TRUE(!late.connected() || late.Closed());
  EXPECT_EQ(listener_->stats().connections_open, 0);
}

TEST_F(ListenerTest, GracefulShutdownFinishesInFlightRequestsAndClosesIdleConnections) {
  GracefulShutdown(1);
}

TEST_F(ListenerTest, GracefulShutdownDrainsEveryWorker) { GracefulShutdown(2); }

TEST_F(ListenerTest, ShutdownWithNoConnectionsCallsDoneAtOnce) {
  Start();
  std::promise<void> done;
  listener_->Shutdown(std::chrono::seconds(20), [&] { done.set_value(); });
  shut_down_ = true;
  EXPECT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

}  // namespace
}  // namespace chroma_ha
