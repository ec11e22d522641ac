// HttpPoster and WebhookAlerter against a real HTTP receiver on loopback (Beast, port 0):
// Slack and generic bodies, a receiver answering 500 or closing the connection, nobody
// listening, and a receiver that never answers (deadline).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "alerts/http_poster.h"
#include "alerts/webhook_alerter.h"
#include "alerts/webhook_format.h"
#include "chroma_ha/clock.h"

namespace chroma_ha {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;
using std::chrono::milliseconds;

// A one-thread blocking HTTP receiver. mode: "ok" (204), "500", "close" (reads the request,
// closes without answering), "hang" (never answers).
class Receiver {
 public:
  explicit Receiver(std::string mode) : mode_(std::move(mode)), acceptor_(ioc_) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Serve(); });
  }
  ~Receiver() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    beast::error_code ec;
    // Wake the blocking accept with a connection of our own.
    tcp::socket poke(ioc_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  struct Request {
    std::string target, content_type, body;
  };
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (;;) {
      tcp::socket socket(ioc_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
      }
      if (ec) continue;
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back({std::string(req.target()),
                             std::string(req[http::field::content_type]), req.body()});
      }
      if (mode_ == "close") {
        socket.close(ec);
        continue;
      }
      if (mode_ == "hang") {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_; });
        return;
      }
      http::response<http::string_body> res{
          mode_ == "500" ? http::status::internal_server_error : http::status::no_content, 11};
      res.set(http::field::connection, "close");
      res.prepare_payload();
      http::write(socket, res, ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  std::string mode_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Request> requests_;
};

HttpPoster PosterFor(const std::string& url, milliseconds request_timeout = milliseconds(2000)) {
  std::string error;
  auto target = ParseWebhookUrl(url, &error);
  EXPECT_TRUE(target) << error;
  return HttpPoster(*target, milliseconds(1000), request_timeout);
}

Alert Down() {
  return {"instance_down/replica", AlertSeverity::kCritical, "Instance replica is down",
          "It does not answer its heartbeat.", false};
}

TEST(HttpPosterTest, PostsGenericJsonToThePath) {
  Receiver rx("ok");
  std::string error;
  auto target = ParseWebhookUrl(rx.url("/hook?x=1"), &error);
  ASSERT_TRUE(target);
  HttpPoster poster(*target, milliseconds(1000), milliseconds(2000));
  ASSERT_TRUE(poster.Post(GenericBody(Down(), 1704067200000)).ok());
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/hook?x=1");
  EXPECT_EQ(reqs[0].content_type, "application/json");
  json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["key"], "instance_down/replica");
  EXPECT_EQ(body["severity"], "critical");
  EXPECT_EQ(body["title"], "Instance replica is down");
  EXPECT_EQ(body["text"], "It does not answer its heartbeat.");
  EXPECT_EQ(body["resolved"], false);
  EXPECT_EQ(body["time"], "2024-01-01T00:00:00.000Z");
}

TEST(HttpPosterTest, FailuresAreStatusesNeverMentioningTheUrl) {
  {
    Receiver rx("500");
    HttpPoster poster = PosterFor(rx.url("/secret-path"));
    Status s = poster.Post("{}");
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    EXPECT_NE(s.message().find("500"), std::string::npos);
    EXPECT_EQ(s.message().find("secret-path"), std::string::npos);
  }
  {
    Receiver rx("close");
    HttpPoster poster = PosterFor(rx.url());
    EXPECT_FALSE(poster.Post("{}").ok());
    EXPECT_EQ(rx.requests().size(), 1u);
  }
  {
    uint16_t port = 0;
    {
      Receiver gone("ok");
      port = gone.port();
    }
    HttpPoster poster = PosterFor("http://127.0.0.1:" + std::to_string(port) + "/hook");
    EXPECT_EQ(poster.Post("{}").code(), StatusCode::kUnavailable);
  }
  {
    Receiver rx("hang");
    HttpPoster poster = PosterFor(rx.url(), milliseconds(200));
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(poster.Post("{}").code(), StatusCode::kTimeout);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  }
}

// The alerter on its own thread: Slack body delivered; a failing receiver is counted.
TEST(WebhookAlerterTest, SlackBodyFromItsOwnThread) {
  Receiver rx("ok");
  SystemClock clock;
  AlertStats stats;
  WebhookAlerter::Options options;
  options.format = WebhookFormat::kSlack;
  std::string error;
  auto target = ParseWebhookUrl(rx.url("/services/T/B/X"), &error);
  ASSERT_TRUE(target);
  WebhookAlerter alerter(
      options, std::make_unique<HttpPoster>(*target, milliseconds(1000), milliseconds(2000)),
      clock, stats);
  alerter.Start();
  alerter.Send(Down());
  alerter.Send(Down());  // duplicate: suppressed
  Alert up = Down();
  up.resolved = true;
  up.title = "Instance replica recovered";
  alerter.Send(up);  // within the interval: deferred, not sent before Stop()
  alerter.Stop();
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/services/T/B/X");
  json body = json::parse(reqs[0].body);
  ASSERT_TRUE(body["text"].is_string());
  EXPECT_NE(body["text"].get<std::string>().find("Instance replica is down"), std::string::npos);
  ASSERT_TRUE(body["blocks"].is_array());
  EXPECT_EQ(body["blocks"][0]["type"], "section");
  EXPECT_EQ(stats.sent.load(), 1);
  EXPECT_EQ(stats.suppressed.load(), 2);
}

TEST(WebhookAlerterTest, FailingReceiverIsCountedAndNotFatal) {
  Receiver rx("500");
  SystemClock clock;
  AlertStats stats;
  std::string error;
  auto target = ParseWebhookUrl(rx.url(), &error);
  ASSERT_TRUE(target);
  WebhookAlerter alerter({}, std::make_unique<HttpPoster>(*target, milliseconds(1000),
                                                          milliseconds(2000)),
                         clock, stats);
  alerter.Start();
  alerter.Send(Down());
  Alert other = Down();
  other.key = "instance_down/primary";
  alerter.Send(other);
  alerter.Stop();
  EXPECT_EQ(stats.failed.load(), 2);
  EXPECT_EQ(stats.sent.load(), 0);
  EXPECT_EQ(rx.requests().size(), 2u);
}

TEST(WebhookFormatTest, ParsesUrls) {
  std::string error;
  auto t = ParseWebhookUrl("https://hooks.slack.com/services/A/B/C", &error);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->host, "hooks.slack.com");
  EXPECT_EQ(t->port, 443);
  EXPECT_EQ(t->target, "/services/A/B/C");
  t = ParseWebhookUrl("http://[::1]:9000", &error);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->target, "/");
  t = ParseWebhookUrl("127.0.0.1:9000/x#frag", &error);
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->tls);
  EXPECT_EQ(t->target, "/x");
  EXPECT_FALSE(ParseWebhookUrl("ftp://x/y", &error));
}

TEST(WebhookFormatTest, SlackResolvedSaysSo) {
  Alert a = Down();
  a.resolved = true;
  json body = json::parse(SlackBody(a, 0));
  EXPECT_NE(body["text"].get<std::string>().find("Resolved"), std::string::npos);
  EXPECT_EQ(IsoTime(1704067200123), "2024-01-01T00:00:00.123Z");
}

}  // namespace
}  // namespace chroma_ha
