// UpstreamSet, its health checker and BlockingInstanceClient against a real loopback server.
// Nothing sleeps: the client io_context is driven until the awaited operation completes, and
// server-side effects are polled with a deadline.
#include "upstream/upstream_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "chroma_ha/clock.h"
#include "fake_http_server.h"
#include "fakes/fake_clock.h"
#include "upstream/blocking_client.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::FakeHttpServer;
using testing::FakeReply;
using testing::FakeRequest;
namespace net = boost::asio;

FakeReply Ok(std::string body = "ok") {
  FakeReply r;
  r.body = std::move(body);
  return r;
}
FakeReply Reply(int status, std::string body = "") {
  FakeReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}
FakeReply Act(FakeReply::Action action) {
  FakeReply r;
  r.action = action;
  return r;
}

InstanceConfig Instance(std::string host, uint16_t port) {
  InstanceConfig i;
  i.name = "primary";
  i.url = "http://" + host + ":" + std::to_string(port);
  i.host = std::move(host);
  i.port = port;
  i.is_primary = true;
  return i;
}

// Polls `condition` until it holds or 10 s pass.
template <typename F>
bool Eventually(F condition) {
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class UpstreamSetTest : public ::testing::Test {
 protected:
  // Builds the set for one instance at `host:port` (the config must outlive the set).
  UpstreamSet& Make(uint16_t port, std::string host = "127.0.0.1") {
    config_.instances = {Instance(std::move(host), port)};
    config_.connect_timeout = milliseconds(1000);
    config_.health_timeout = milliseconds(500);
    config_.health_interval = milliseconds(10);
    config_.pool_size = 4;
    set_ = std::make_unique<UpstreamSet>(ioc_.get_executor(), config_, clock_);
    return *set_;
  }

  // Drives the client io_context until `op` completes (at most 20 s).
  template <typename T>
  T Run(net::awaitable<T> op) {
    std::optional<T> out;
    net::co_spawn(
        ioc_, [&]() -> net::awaitable<void> { out.emplace(co_await std::move(op)); },
        net::detached);
    const auto deadline = steady_clock::now() + std::chrono::seconds(20);
    while (!out && steady_clock::now() < deadline) {
      ioc_.restart();
      ioc_.run_for(milliseconds(10));
    }
    if (!out) throw std::runtime_error("operation did not complete");
    return std::move(*out);
  }
  void RunVoid(net::awaitable<void> op) {
    Run([&]() -> net::awaitable<bool> {
      co_await std::move(op);
      co_return true;
    }());
  }

  Result<HttpResponse> Get(const std::string& target = "/api/v2/version",
                           milliseconds timeout = milliseconds(5000)) {
    return Run(set_->Send(0, HttpRequest{"GET", target, {}, {}}, timeout));
  }

  net::io_context ioc_;
  SystemClock clock_;
  Config config_;
  std::unique_ptr<UpstreamSet> set_;
};

TEST_F(UpstreamSetTest, KeepAliveReusesOneConnection) {
  FakeHttpServer server([](const FakeRequest&, int) { return Ok("\"1.0.0\""); });
  UpstreamSet& set = Make(server.port());
  for (int i = 0; i < 5; ++i) {
    auto r = Get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "\"1.0.0\"");
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(set.pool(0).idle(), 1u);
  EXPECT_EQ(set.Snapshot(0).requests, 5);
  EXPECT_EQ(set.Snapshot(0).failures, 0);
}

TEST_F(UpstreamSetTest, ServerClosingIdleConnectionIsTransparent) {
  FakeHttpServer server([](const FakeRequest&, int) {
    FakeReply r = Ok();
    r.close_after = true;  // says keep-alive, then closes
    return r;
  });
  Make(server.port());
  ASSERT_TRUE(Get().ok());
  ASSERT_TRUE(Eventually([&] { return server.closed() == 1; }));
  auto r = Get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Back to back, racing the server's close: still every request succeeds.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Get().ok());
  EXPECT_EQ(server.accepted(), 7);
}

TEST_F(UpstreamSetTest, StalePooledConnectionIsRetriedOnceOnAFreshOne) {
  // The second request on any connection is read and dropped, as a server closing an idle
  // connection at the moment the request arrives would.
  FakeHttpServer server([](const FakeRequest&, int index) {
    return index == 0 ? Ok() : Act(FakeReply::Action::kCloseWithoutAnswer);
  });
  UpstreamSet& set = Make(server.port());
  ASSERT_TRUE(Get().ok());
  auto r = Get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(set.Snapshot(0).failures, 0);
}

TEST_F(UpstreamSetTest, FreshConnectionClosedWithoutAnswerIsUnknownAndNotRetried) {
  // The request was sent; the instance may have applied it before closing: outcome unknown.
  FakeHttpServer server(
      [](const FakeRequest&, int) { return Act(FakeReply::Action::kCloseWithoutAnswer); });
  UpstreamSet& set = Make(server.port());
  auto r = Get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(set.Snapshot(0).failures, 1);
}

TEST_F(UpstreamSetTest, ConnectRefusedIsUnavailableQuickly) {
  UpstreamSet& set = Make(testing::UnusedPort());
  const auto start = steady_clock::now();
  auto r = Get();
  EXPECT_LT(steady_clock::now() - start, milliseconds(900));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  InstanceSnapshot s = set.Snapshot(0);
  EXPECT_EQ(s.failures, 1);
  EXPECT_NE(s.last_error.find("connect"), std::string::npos) << s.last_error;
}

TEST_F(UpstreamSetTest, SilentServerTimesOutWithinTheDeadline) {
  FakeHttpServer server([](const FakeRequest&, int) { return Act(FakeReply::Action::kHang); });
  Make(server.port());
  const auto start = steady_clock::now();
  auto r = Get("/api/v2/version", milliseconds(300));
  const auto took = steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(UpstreamSetTest, TimeoutOnAReusedConnectionIsNotRetried) {
  FakeHttpServer server([](const FakeRequest&, int index) {
    return index == 0 ? Ok() : Act(FakeReply::Action::kHang);
  });
  Make(server.port());
  ASSERT_TRUE(Get().ok());
  auto r = Get("/api/v2/version", milliseconds(200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(UpstreamSetTest, CancelledSendIsNotRetriedAndNotAPassiveFailure) {
  FakeHttpServer server([](const FakeRequest&, int index) {
    return index == 0 ? Ok() : Act(FakeReply::Action::kHang);
  });
  UpstreamSet& set = Make(server.port());
  ASSERT_TRUE(Get().ok());
  const auto start = steady_clock::now();
  const bool send_won = Run([&]() -> net::awaitable<bool> {
    using namespace boost::asio::experimental::awaitable_operators;
    net::steady_timer timer(co_await net::this_coro::executor, milliseconds(100));
    // A named request: g++ 12 mis-destroys brace-initialised temporaries in co_await
    // expressions inside coroutines.
    HttpRequest request{"GET", "/", {}, {}};
    auto send = set.Send(0, std::move(request), milliseconds(5000));
    auto winner = co_await (std::move(send) || timer.async_wait(net::use_awaitable));
    co_return winner.index() == 0;
  }());
  EXPECT_FALSE(send_won);
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(set.Snapshot(0).failures, 0);
  EXPECT_TRUE(set.Healthy(0));
}

TEST_F(UpstreamSetTest, ServerErrorPassesThroughAndCountsAsPassiveFailure) {
  std::atomic<int> status{503};
  FakeHttpServer server([&](const FakeRequest&, int) {
    return Reply(status, R"({"error":"InternalError","message":"boom"})");
  });
  UpstreamSet& set = Make(server.port());  // unhealthy_threshold defaults to 2
  std::vector<bool> changes;
  set.SetHealthListener([&](size_t, bool healthy) { changes.push_back(healthy); });
  auto r = Get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, R"({"error":"InternalError","message":"boom"})");
  EXPECT_TRUE(set.Healthy(0));
  ASSERT_TRUE(Get().ok());
  EXPECT_FALSE(set.Healthy(0));
  EXPECT_EQ(set.Snapshot(0).failures, 2);
  EXPECT_NE(set.Snapshot(0).last_error.find("503"), std::string::npos);
  status = 501;  // Not Implemented (fork on a local server) is an answer, not ill health
  ASSERT_TRUE(Get().ok());
  EXPECT_EQ(set.Snapshot(0).failures, 2);
  EXPECT_EQ(changes, std::vector<bool>{false});
}

TEST_F(UpstreamSetTest, HopByHopHeadersAreStrippedBothWays) {
  FakeHttpServer server([](const FakeRequest&, int) {
    FakeReply r = Ok("chunked body");
    r.chunked = true;
    r.headers = {{"Content-Type", "application/json"},
                 {"X-Resp", "1"},
                 {"Keep-Alive", "timeout=5"},
                 {"Proxy-Thing", "x"},
                 {"Upgrade", "h2c"},
                 {"X-Early-Private", "listed below"},  // before the Connection header naming it
                 {"Connection", "keep-alive, X-Private,x-early-private"},
                 {"X-Private", "secret"}};
    return r;
  });
  Make(server.port());
  HttpRequest req{"POST",
                  "/api/v2/tenants/t/databases/d/collections/c/get?x=1",
                  {{"Authorization", "Bearer t"},
                   {"X-Chroma-Token", "k"},
                   {"Connection", "X-Hop"},
                   {"X-Hop", "h"},
                   {"Keep-Alive", "1"},
                   {"Proxy-Authorization", "p"},
                   {"TE", "trailers"},
                   {"Upgrade", "ws"},
                   {"Host", "evil.example"},
                   {"Content-Length", "999"},
                   {"Transfer-Encoding", "chunked"},
                   {"Content-Type", "application/json"}},
                  R"({"ids":["a\u0000b"]})"};
  req.body.push_back('\0');  // bodies are byte-exact, NUL included
  req.body += "tail";
  const std::string body = req.body;
  auto r = Run(set_->Send(0, req, milliseconds(5000)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  FakeRequest seen = server.last_request();
  EXPECT_EQ(seen.method_string(), "POST");
  EXPECT_EQ(seen.target(), "/api/v2/tenants/t/databases/d/collections/c/get?x=1");
  EXPECT_EQ(seen[boost::beast::http::field::host], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen["Authorization"], "Bearer t");
  EXPECT_EQ(seen["X-Chroma-Token"], "k");
  EXPECT_EQ(seen["Content-Type"], "application/json");
  EXPECT_EQ(seen["Content-Length"], std::to_string(body.size()));
  EXPECT_EQ(seen.body(), body);
  for (const char* name :
       {"X-Hop", "Keep-Alive", "Proxy-Authorization", "TE", "Upgrade", "Transfer-Encoding"}) {
    EXPECT_EQ(seen.count(name), 0u) << name;
  }

  EXPECT_EQ(r->body, "chunked body");
  EXPECT_EQ(FindHeader(r->headers, "Content-Type").value_or(""), "application/json");
  EXPECT_EQ(FindHeader(r->headers, "X-Resp").value_or(""), "1");
  for (const char* name : {"Keep-Alive", "Proxy-Thing", "Upgrade", "Connection", "X-Private",
                           "X-Early-Private", "Transfer-Encoding", "Content-Length"}) {
    EXPECT_FALSE(FindHeader(r->headers, name)) << name;
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(UpstreamSetTest, ResolvesHostNames) {
  FakeHttpServer server([](const FakeRequest&, int) { return Ok(); });
  Make(server.port(), "localhost");
  auto r = Get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.last_request()[boost::beast::http::field::host],
            "localhost:" + std::to_string(server.port()));
}

TEST_F(UpstreamSetTest, HealthCheckerMarksDownAfterNFailuresAndUpAfterMSuccesses) {
  std::atomic<int> heartbeat{500};
  FakeHttpServer server([&](const FakeRequest& req, int) {
    EXPECT_EQ(req.target(), "/api/v2/heartbeat");
    return Reply(heartbeat, R"({"nanosecond heartbeat":1})");
  });
  config_.unhealthy_threshold = 3;
  config_.healthy_threshold = 2;
  UpstreamSet& set = Make(server.port());
  std::vector<bool> changes;
  set.SetHealthListener([&](size_t, bool healthy) { changes.push_back(healthy); });

  RunVoid(set.health_checker().RunOnce());
  RunVoid(set.health_checker().RunOnce());
  EXPECT_TRUE(set.Healthy(0));
  RunVoid(set.health_checker().RunOnce());
  EXPECT_FALSE(set.Healthy(0));
  heartbeat = 200;
  RunVoid(set.health_checker().RunOnce());
  EXPECT_FALSE(set.Healthy(0));
  RunVoid(set.health_checker().RunOnce());
  EXPECT_TRUE(set.Healthy(0));

  EXPECT_EQ(changes, (std::vector<bool>{false, true}));
  InstanceSnapshot s = set.Snapshot(0);
  EXPECT_EQ(s.health_checks_failed, 3);
  EXPECT_EQ(s.requests, 0);  // heartbeats are not client traffic
  EXPECT_GT(s.last_check_latency_ms, 0);
  EXPECT_GT(s.last_change_ms, 0);
  EXPECT_EQ(server.accepted(), 1);  // heartbeats reuse the pool too
}

TEST_F(UpstreamSetTest, HealthCheckerMarksASilentInstanceDown) {
  FakeHttpServer server([](const FakeRequest&, int) { return Act(FakeReply::Action::kHang); });
  UpstreamSet& set = Make(server.port());
  config_.health_timeout = milliseconds(100);
  RunVoid(set.health_checker().RunOnce());
  RunVoid(set.health_checker().RunOnce());
  EXPECT_FALSE(set.Healthy(0));
  EXPECT_NE(set.Snapshot(0).last_error.find("Timeout"), std::string::npos);
}

TEST_F(UpstreamSetTest, HealthLoopRunsPeriodicallyAndStops) {
  FakeHttpServer server([](const FakeRequest&, int) { return Ok(); });
  UpstreamSet& set = Make(server.port());  // interval 10 ms
  set.Start();
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  while (server.requests() < 3 && steady_clock::now() < deadline) {
    ioc_.restart();
    ioc_.run_for(milliseconds(10));
  }
  EXPECT_GE(server.requests(), 3);
  set.Stop();
  ioc_.restart();
  const auto start = steady_clock::now();
  ioc_.run_for(std::chrono::seconds(5));  // returns as soon as no work is left
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(2));
}

// --- ConnectionPool: per-worker slots and surplus idle connections ------------------------

// Drives `ioc` (on this thread) until `op`, spawned there, completes (at most 20 s).
template <typename T>
T RunOn(net::io_context& ioc, net::awaitable<T> op) {
  std::optional<T> out;
  net::co_spawn(
      ioc, [&]() -> net::awaitable<void> { out.emplace(co_await std::move(op)); }, net::detached);
  const auto deadline = steady_clock::now() + std::chrono::seconds(20);
  while (!out && steady_clock::now() < deadline) {
    ioc.restart();
    ioc.run_for(milliseconds(10));
  }
  if (!out) throw std::runtime_error("operation did not complete");
  return std::move(*out);
}

const HttpRequest kGet{"GET", "/api/v2/heartbeat", {}, {}};

TEST(ConnectionPoolTest, SurplusConnectionsStayIdleUntilTheirTimeout) {
  FakeHttpServer server([](const FakeRequest&, int) { return Ok(); });
  net::io_context ioc;
  FakeClock clock;
  ConnectionPool pool(ioc.get_executor(), Instance("127.0.0.1", server.port()), milliseconds(1000),
                      /*max_idle=*/1, {}, &clock, /*surplus_idle_timeout=*/milliseconds(5000));
  // Three exchanges in flight at once need three connections.
  std::vector<std::optional<Result<HttpResponse>>> results(3);
  for (auto& slot : results) {
    net::co_spawn(
        ioc,
        [&pool, &slot]() -> net::awaitable<void> {
          slot.emplace(co_await pool.Exchange(kGet, milliseconds(5000)));
        },
        net::detached);
  }
  const auto deadline = steady_clock::now() + std::chrono::seconds(20);
  auto all_done = [&] {
    for (const auto& r : results) {
      if (!r) return false;
    }
    return true;
  };
  while (!all_done() && steady_clock::now() < deadline) {
    ioc.restart();
    ioc.run_for(milliseconds(10));
  }
  ASSERT_TRUE(all_done());
  for (const auto& r : results) ASSERT_TRUE(r->ok()) << r->status().ToString();
  EXPECT_EQ(pool.connections_opened(), 3);
  // None was closed on its way back although only one is kept for good.
  EXPECT_EQ(pool.idle(), 3u);
  clock.Advance(milliseconds(4999));
  pool.CloseExpired();
  EXPECT_EQ(pool.idle(), 3u);
  clock.Advance(milliseconds(1));
  pool.CloseExpired();
  EXPECT_EQ(pool.idle(), 1u);
  EXPECT_TRUE(Eventually([&] { return server.closed() == 0 && server.requests() == 3; }));
  // The one kept is reused.
  ASSERT_TRUE(RunOn(ioc, pool.Exchange(kGet, milliseconds(5000))).ok());
  EXPECT_EQ(pool.connections_opened(), 3);
}

// A connection idle for less than kPeekAfterIdle is reused without asking the kernel whether
// the server closed it (one system call less per request); a close is then found by the
// exchange itself and retried once on a fresh connection. One idle longer is checked first.
TEST(ConnectionPoolTest, OnlyConnectionsIdleLongerThanThePeekWindowAreCheckedFirst) {
  FakeHttpServer server([](const FakeRequest&, int) {
    FakeReply r = Ok();
    r.close_after = true;  // says keep-alive, then closes
    return r;
  });
  net::io_context ioc;
  FakeClock clock;
  ConnectionPool pool(ioc.get_executor(), Instance("127.0.0.1", server.port()), milliseconds(1000),
                      /*max_idle=*/4, {}, &clock);
  ASSERT_TRUE(RunOn(ioc, pool.Exchange(kGet, milliseconds(5000))).ok());
  ASSERT_TRUE(Eventually([&] { return server.closed() == 1; }));
  // Idle for less than the window: sent as it is, found closed, retried on a fresh one.
  clock.Advance(kPeekAfterIdle - milliseconds(1));
  auto r = RunOn(ioc, pool.Exchange(kGet, milliseconds(5000)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(pool.stale_retries(), 1);
  EXPECT_EQ(pool.connections_opened(), 2);
  // Idle for the window: the kernel is asked first, the closed connection is never used.
  ASSERT_TRUE(Eventually([&] { return server.closed() == 2; }));
  clock.Advance(kPeekAfterIdle);
  r = RunOn(ioc, pool.Exchange(kGet, milliseconds(5000)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(pool.stale_retries(), 1);
  EXPECT_EQ(pool.connections_opened(), 3);
  EXPECT_EQ(server.requests(), 3);
}

TEST(ConnectionPoolTest, EachWorkerUsesItsOwnConnectionsOnItsOwnIoContext) {
  FakeHttpServer server([](const FakeRequest&, int) { return Ok(); });
  net::io_context home, w1, w2;
  ConnectionPool pool(home.get_executor(), Instance("127.0.0.1", server.port()), milliseconds(1000),
                      4, {&w1, &w2});
  // Driving only w1 (then only w2) completes the exchange: its connection lives on that
  // worker's io_context, not on `home` or the other worker.
  ASSERT_TRUE(RunOn(w1, pool.Exchange(kGet, milliseconds(5000))).ok());
  EXPECT_EQ(pool.idle_on(&w1), 1u);
  EXPECT_EQ(pool.idle_on(&w2), 0u);
  ASSERT_TRUE(RunOn(w2, pool.Exchange(kGet, milliseconds(5000))).ok());
  EXPECT_EQ(pool.connections_opened(), 2);  // w1's idle connection was not handed to w2
  EXPECT_EQ(pool.idle_on(&w2), 1u);
  ASSERT_TRUE(RunOn(w1, pool.Exchange(kGet, milliseconds(5000))).ok());
  ASSERT_TRUE(RunOn(w2, pool.Exchange(kGet, milliseconds(5000))).ok());
  EXPECT_EQ(pool.connections_opened(), 2);
  EXPECT_EQ(server.accepted(), 2);
  // Any other executor uses the shared slot, on `home`.
  ASSERT_TRUE(RunOn(home, pool.Exchange(kGet, milliseconds(5000))).ok());
  EXPECT_EQ(pool.connections_opened(), 3);
  EXPECT_EQ(pool.idle_on(nullptr), 1u);
  EXPECT_EQ(pool.idle(), 3u);
  pool.CloseIdle();
  EXPECT_EQ(pool.idle(), 0u);
}

TEST(ConnectionPoolTest, SendsToTheGivenTargetWithoutTouchingTheRequest) {
  FakeHttpServer server([](const FakeRequest&, int) { return Ok(); });
  net::io_context ioc;
  ConnectionPool pool(ioc.get_executor(), Instance("127.0.0.1", server.port()), milliseconds(1000),
                      4);
  const HttpRequest request{"POST", "/original", {{"X-A", "1"}}, "body"};
  ASSERT_TRUE(RunOn(ioc, pool.Exchange(request, milliseconds(5000), "/rewritten?q=1")).ok());
  FakeRequest seen = server.last_request();
  EXPECT_EQ(seen.target(), "/rewritten?q=1");
  EXPECT_EQ(seen["X-A"], "1");
  EXPECT_EQ(seen.body(), "body");
  EXPECT_EQ(request.target, "/original");
  EXPECT_EQ(request.body, "body");
  // A bodiless GET carries no Content-Length; an empty POST says 0 (as Beast would).
  ASSERT_TRUE(RunOn(ioc, pool.Exchange(kGet, milliseconds(5000))).ok());
  EXPECT_EQ(server.last_request().count("Content-Length"), 0u);
  const HttpRequest empty_post{"POST", "/p", {}, {}};
  ASSERT_TRUE(RunOn(ioc, pool.Exchange(empty_post, milliseconds(5000))).ok());
  EXPECT_EQ(server.last_request()["Content-Length"], "0");
}

TEST_F(UpstreamSetTest, RelayCountsLikeSend) {
  FakeHttpServer server([](const FakeRequest& req, int) {
    return req.target() == "/boom" ? Reply(500, "no") : Ok();
  });
  UpstreamSet& set = Make(server.port());
  const HttpRequest request{"GET", "/ignored", {}, {}};
  auto ok = Run(set.Relay(0, request, "/fine", milliseconds(5000)));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(server.last_request().target(), "/fine");
  auto bad = Run(set.Relay(0, request, "/boom", milliseconds(5000)));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 500);
  EXPECT_EQ(set.Snapshot(0).requests, 2);
  EXPECT_EQ(set.Snapshot(0).failures, 1);
}

// --- BlockingInstanceClient ----------------------------------------------------------------

TEST(BlockingInstanceClientTest, SendsAndReusesTheConnection) {
  FakeHttpServer server([](const FakeRequest& req, int) { return Ok(req.body() + "!"); });
  BlockingInstanceClient client(Instance("127.0.0.1", server.port()), milliseconds(1000),
                                milliseconds(5000));
  EXPECT_EQ(client.name(), "primary");
  for (int i = 0; i < 5; ++i) {
    auto r = client.Send(HttpRequest{"POST", "/x", {{"Keep-Alive", "1"}}, "hi"});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hi!");
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(server.last_request().count("Keep-Alive"), 0u);
  EXPECT_EQ(client.idle_connections(), 1u);
}

TEST(BlockingInstanceClientTest, SendWithBodySendsThatBodyAndIgnoresTheRequests) {
  FakeHttpServer server([](const FakeRequest& req, int) {
    return Ok(std::string(req[boost::beast::http::field::content_length]) + ":" + req.body());
  });
  BlockingInstanceClient client(Instance("127.0.0.1", server.port()), milliseconds(1000),
                                milliseconds(5000));
  const std::string body(300000, 'b');
  auto r = client.SendWithBody(HttpRequest{"POST", "/x", {}, "ignored"}, body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == "300000:" + body) << r->body.substr(0, 40);
  // An empty body is sent as one (Content-Length: 0 on a POST), not replaced by request.body.
  auto empty = client.SendWithBody(HttpRequest{"POST", "/x", {}, "ignored"}, "");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->body, "0:");
}

TEST(BlockingInstanceClientTest, IsThreadSafe) {
  FakeHttpServer server([](const FakeRequest&, int) { return Ok(); });
  BlockingInstanceClient client(Instance("127.0.0.1", server.port()), milliseconds(1000),
                                milliseconds(5000), 4);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) ok += client.Send(HttpRequest{"GET", "/", {}, {}}).ok();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 40);
  EXPECT_LE(server.accepted(), 4);
}

TEST(BlockingInstanceClientTest, MapsRefusedAndSilentServers) {
  BlockingInstanceClient refused(Instance("127.0.0.1", testing::UnusedPort()), milliseconds(1000),
                                 milliseconds(5000));
  auto r = refused.Send(HttpRequest{"GET", "/", {}, {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);

  FakeHttpServer server([](const FakeRequest&, int) { return Act(FakeReply::Action::kHang); });
  BlockingInstanceClient silent(Instance("127.0.0.1", server.port()), milliseconds(1000),
                                milliseconds(200));
  const auto start = steady_clock::now();
  r = silent.Send(HttpRequest{"GET", "/", {}, {}});
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
}

}  // namespace
}  // namespace chroma_ha
