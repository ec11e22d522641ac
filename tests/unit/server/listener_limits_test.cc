// Listener over real loopback sockets: what bounds it and what survives a bug. The exception
// barriers (a handler that throws: 500 JSON, the session released, shutdown unharmed; the real
// router with failpoint `request=throw`), the
// connection cap (MAX_CONNECTIONS: 503 + Retry-After, nothing read, the count released however a
// session ends) and `Expect: 100-continue`.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "collections/collection_map.h"
#include "failpoints/failpoints.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_upstreams.h"
#include "raw_client.h"
#include "server/collection_resolver.h"
#include "server/listener.h"
#include "server/own_endpoints.h"
#include "server/router.h"

namespace chroma_ha {
namespace {

namespace asio = boost::asio;
using testing::Client;
using testing::Reply;

// Echoes the request; "/throw" throws after a suspension (as a bug deep in a handler would).
class ThrowingHandler final : public RequestHandler {
 public:
  asio::awaitable<HttpResponse> Handle(HttpRequest request) override {
    ++calls;
    if (request.target == "/throw") {
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      throw std::runtime_error("a bug in the handler");
    }
    HttpResponse r;
    r.status = 200;
    r.body = "echo " + request.method + " " + request.target + " " + request.body;
    co_return r;
  }
  std::atomic<int> calls{0};
};

bool IsJsonError(const Reply& r, const std::string& error) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.value("error", "") == error && j.contains("message") &&
         j["message"].is_string();
}

class ListenerLimitsTest : public ::testing::Test {
 protected:
  ListenerLimitsTest() {
    config_.listen_address = "127.0.0.1";
    config_.port = 0;
    config_.max_body_bytes = 1000;
    config_.header_timeout = std::chrono::seconds(5);
    config_.idle_timeout = std::chrono::seconds(30);
    config_.request_timeout = std::chrono::seconds(10);
  }
  ~ListenerLimitsTest() override {
    if (listener_ && !shut_down_) {
      std::promise<void> done;
      listener_->Shutdown(std::chrono::milliseconds(100), [&] { done.set_value(); });
      done.get_future().wait_for(std::chrono::seconds(10));
    }
    work_.reset();
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  void Start() {
    listener_ = std::make_unique<Listener>(ioc_, config_, handler_);
    ASSERT_TRUE(listener_->Start().ok());
    thread_ = std::thread([this] { ioc_.run(); });
  }

  // Polls `done` until it holds or 10 s pass.
  template <typename Pred>
  static bool Eventually(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  Reply Get(Client& c, const std::string& target) {
    c.Send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return c.Read();
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  Config config_;
  ThrowingHandler handler_;
  std::unique_ptr<Listener> listener_;
  std::thread thread_;
  bool shut_down_ = false;
};

TEST_F(ListenerLimitsTest, HandlerThrowIs500JsonAndReleasesTheSession) {
  Start();
  {
    Client c(listener_->port());
    Reply r = Get(c, "/throw");
    EXPECT_EQ(r.status, 500);
    EXPECT_TRUE(IsJsonError(r, "InternalError")) << r.body;
    EXPECT_TRUE(r.connection_close);
    EXPECT_TRUE(c.Closed());
  }
  EXPECT_EQ(listener_->stats().handler_exceptions, 1);
  // The session's registration is gone with it...
  EXPECT_TRUE(Eventually([&] { return listener_->stats().connections_open == 0; }));
  // ...the next request on a new connection works...
  Client next(listener_->port());
  EXPECT_EQ(Get(next, "/after").body, "echo GET /after ");
  next.Send("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(next.Read().status, 500);
  EXPECT_TRUE(Eventually([&] { return listener_->stats().connections_open == 0; }));
  // ...and shutdown finds no session left behind: done at once, not after the grace period.
  std::promise<void> done;
  const auto start = std::chrono::steady_clock::now();
  listener_->Shutdown(std::chrono::seconds(20), [&] { done.set_value(); });
  shut_down_ = true;
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(ListenerLimitsTest, ConnectionOverTheCapIs503WithRetryAfterAndClosedUnread) {
  config_.max_connections = 2;
  Start();
  Client a(listener_->port());
  Client b(listener_->port());
  ASSERT_EQ(Get(a, "/a").status, 200);  // both registered: they have been served
  ASSERT_EQ(Get(b, "/b").status, 200);
  const int calls = handler_.calls;
  {
    Client over(listener_->port());
    Reply r = over.Read();  // sends nothing: the answer comes without reading a request
    EXPECT_EQ(r.status, 503);
    EXPECT_TRUE(IsJsonError(r, "ServiceUnavailable")) << r.body;
    EXPECT_NE(r.head.find("\r\nretry-after: 1\r\n"), std::string::npos) << r.head;
    EXPECT_TRUE(r.connection_close);
    EXPECT_TRUE(over.Closed());
  }
  {
    // A client that sends its request (and body) at once still reads the 503: the refusal
    // lingers for the unread bytes instead of resetting the connection.
    Client eager(listener_->port());
    eager.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n" +
               std::string(900, 'b'));
    Reply r = eager.Read();
    EXPECT_EQ(r.status, 503);
    EXPECT_TRUE(IsJsonError(r, "ServiceUnavailable")) << r.body;
  }
  EXPECT_EQ(handler_.calls, calls);
  EXPECT_EQ(listener_->stats().rejected_over_capacity, 2);
  // The connections within the cap still work; once one ends, a new one is admitted.
  EXPECT_EQ(Get(a, "/a2").status, 200);
  b.Send("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(b.Read().status, 200);
  EXPECT_TRUE(b.Closed());
  EXPECT_TRUE(Eventually([&] { return listener_->stats().connections_open == 1; }));
  Client again(listener_->port());
  EXPECT_EQ(Get(again, "/again").status, 200);
}

TEST_F(ListenerLimitsTest, ASessionEndedByAThrowReleasesItsConnectionCount) {
  config_.max_connections = 1;
  Start();
  for (int i = 0; i < 3; ++i) {
    {
      Client c(listener_->port());
      EXPECT_EQ(Get(c, "/throw").status, 500) << i;
    }
    ASSERT_TRUE(Eventually([&] { return listener_->stats().connections_open == 0; })) << i;
  }
  Client c(listener_->port());
  EXPECT_EQ(Get(c, "/ok").status, 200);
  EXPECT_EQ(listener_->stats().rejected_over_capacity, 0);
}

TEST_F(ListenerLimitsTest, NoCapWhenMaxConnectionsIsZero) {
  config_.max_connections = 0;
  Start();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<Client>(listener_->port()));
    EXPECT_EQ(Get(*clients.back(), "/" + std::to_string(i)).status, 200) << i;
  }
}

TEST_F(ListenerLimitsTest, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  Start();
  Client c(listener_->port());
  // The client sends only the header, and waits for 100 Continue before the body.
  c.Send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  Reply interim = c.Read();
  ASSERT_EQ(interim.status, 100) << interim.head;
  EXPECT_EQ(handler_.calls, 0);
  c.Send("hello");
  Reply r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo POST /up hello");
  // Keep-alive: the next one on the same connection too (mixed case, chunked body).
  c.Send(
      "POST /up2 HTTP/1.1\r\nHost: x\r\nexpect: 100-Continue\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  ASSERT_EQ(c.Read().status, 100);
  c.Send("3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(c.Read().body, "echo POST /up2 abc");
}

TEST_F(ListenerLimitsTest, ExpectContinueWithABodyOverTheLimitIs413WithoutThe100) {
  Start();
  Client c(listener_->port());
  c.Send("POST /big HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
  Reply r = c.Read();
  EXPECT_EQ(r.status, 413) << r.head;
  EXPECT_TRUE(IsJsonError(r, "PayloadTooLarge")) << r.body;
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(handler_.calls, 0);
}

// The real listener in front of the real router, failpoint `request=throw@1` (what
// CHROMA_HA_FAILPOINTS=request=throw@1 arms in the binary): the router's barrier answers 500 JSON
// on a connection that stays usable, and nothing the request held is left behind.
TEST(ListenerRouterBarrierTest, FailpointThrowIs500AndEverythingIsReleased) {
  struct Disarm {
    ~Disarm() { (void)failpoints::Configure(""); }
  } disarm;
  Config config;
  config.listen_address = "127.0.0.1";
  config.port = 0;
  config.max_concurrent_requests = 1;
  config.instances.push_back({"primary", "http://p:1", "p", 1, false, true});
  config.instances.push_back({"replica", "http://r:2", "r", 2, false, false});
  FakeUpstreams ups({"primary", "replica"});
  CollectionMap map;
  CollectionResolver resolver(config, ups, map, nullptr);
  FakeClock clock;
  OwnEndpoints own(config, ups, clock);
  Router router(config, ups, resolver, own, nullptr);
  asio::io_context ioc;
  auto work = asio::make_work_guard(ioc);
  Listener listener(ioc, config, router);
  ASSERT_TRUE(listener.Start().ok());
  std::thread thread([&] { ioc.run(); });
  ASSERT_TRUE(failpoints::Configure("request=throw@1"));
  {
    Client c(listener.port());
    c.Send("GET /api/v2/heartbeat HTTP/1.1\r\nHost: x\r\n\r\n");
    Reply r = c.Read();
    EXPECT_EQ(r.status, 500);
    EXPECT_TRUE(IsJsonError(r, "InternalError")) << r.body;
    EXPECT_FALSE(r.connection_close);  // answered by the router's barrier: the session is sound
    c.Send("GET /api/v2/heartbeat HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.Read().status, 200);  // same connection, and the only slot is free again
  }
  Client fresh(listener.port());
  fresh.Send("GET /api/v2/heartbeat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(fresh.Read().status, 200);
  EXPECT_EQ(router.in_flight(), 0);
  EXPECT_EQ(router.stats().internal_errors, 1);
  EXPECT_EQ(listener.stats().handler_exceptions, 0);
  std::promise<void> done;
  listener.Shutdown(std::chrono::seconds(20), [&] { done.set_value(); });
  EXPECT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(listener.stats().connections_open, 0);
  work.reset();
  ioc.stop();
  thread.join();
}

}  // namespace
}  // namespace chroma_ha
