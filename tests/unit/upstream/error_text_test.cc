// Text from outside never breaks an endpoint (issue 10 item 3): an instance's error body is cut
// for its last_error on a character boundary, and /status answers valid JSON even when that
// body holds bytes that are not UTF-8 at all. Also Utf8Prefix and ErrorSummary themselves.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "chroma_ha/clock.h"
#include "fake_http_server.h"
#include "server/own_endpoints.h"
#include "sync/chroma_api.h"
#include "upstream/upstream_pool.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using testing::FakeHttpServer;
using testing::FakeReply;
using testing::FakeRequest;
namespace net = boost::asio;

// True when nlohmann's strict dump() (the one that threw in /status) accepts `s`.
bool StrictDumpAccepts(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

TEST(Utf8PrefixTest, NeverEndsInsideACharacter) {
  const std::string e_acute = "\xC3\xA9";        // é: 2 bytes
  const std::string euro = "\xE2\x82\xAC";       // €: 3 bytes
  const std::string emoji = "\xF0\x9F\x98\x80";  // 😀: 4 bytes
  struct Case {
    std::string in;
    size_t max;
    std::string want;
  };
  const Case kCases[] = {
      {"abc", 10, "abc"},
      {"abc", 3, "abc"},
      {"abc", 2, "ab"},
      {"a" + e_acute, 2, "a"},
      {"a" + e_acute, 3, "a" + e_acute},
      {"a" + euro, 2, "a"},
      {"a" + euro, 3, "a"},
      {"a" + emoji, 4, "a"},
      {"a" + emoji + "b", 5, "a" + emoji},
      {std::string(199, 'x') + e_acute + "tail", 200, std::string(199, 'x')},
      {"\x80\x80\x80\x80\x80", 2, "\x80\x80"},  // not UTF-8 to begin with: cut where asked
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(Utf8Prefix(c.in, c.max), c.want) << c.in << " / " << c.max;
  }
}

TEST(ErrorSummaryTest, ALongMessageIsCutOnACharacterBoundary) {
  HttpResponse r;
  r.status = 400;
  // 299 ASCII bytes, then a 2-byte character straddling the 300-byte cut.
  r.body = json{{"error", "InvalidArgumentError"},
                {"message", std::string(299, 'm') + "\xC3\xA9" + std::string(50, 'z')}}
               .dump();
  const std::string summary = ErrorSummary(r);
  EXPECT_TRUE(StrictDumpAccepts(summary)) << summary;
  EXPECT_EQ(summary, "HTTP 400 InvalidArgumentError: " + std::string(299, 'm') + "...");
}

class ErrorTextTest : public ::testing::Test {
 protected:
  void Make(uint16_t port) {
    InstanceConfig i;
    i.name = "primary";
    i.url = "http://127.0.0.1:" + std::to_string(port);
    i.host = "127.0.0.1";
    i.port = port;
    i.is_primary = true;
    config_.instances = {i};
    config_.connect_timeout = milliseconds(1000);
    config_.health_interval = milliseconds(60000);
    set_ = std::make_unique<UpstreamSet>(ioc_.get_executor(), config_, clock_);
  }

  template <typename T>
  T Run(net::awaitable<T> op) {
    std::optional<T> out;
    net::co_spawn(
        ioc_, [&]() -> net::awaitable<void> { out.emplace(co_await std::move(op)); },
        net::detached);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!out && std::chrono::steady_clock::now() < deadline) {
      ioc_.restart();
      ioc_.run_for(milliseconds(10));
    }
    if (!out) throw std::runtime_error("operation did not complete");
    return std::move(*out);
  }

  // GET /status through OwnEndpoints over the real UpstreamSet.
  HttpResponse Status() {
    OwnEndpoints own(config_, *set_, clock_);
    return Run(own.Handle(HttpRequest{"GET", "/status", {}, {}}));
  }

  net::io_context ioc_;
  SystemClock clock_;
  Config config_;
  std::unique_ptr<UpstreamSet> set_;
};

TEST_F(ErrorTextTest, AnErrorBodyCutInsideACharacterLeavesStatusValid) {
  // A 500 whose body has a 2-byte character at bytes 199-200: last_error keeps 200 bytes.
  const std::string body = std::string(199, 'x') + "\xC3\xA9" + " and more";
  FakeHttpServer server([&](const FakeRequest&, int) {
    FakeReply r;
    r.status = 500;
    r.body = body;
    return r;
  });
  Make(server.port());
  auto r = Run(set_->Send(0, HttpRequest{"GET", "/api/v2/version", {}, {}}, milliseconds(5000)));
  ASSERT_TRUE(r.ok());
  const std::string last_error = set_->Snapshot(0).last_error;
  EXPECT_EQ(last_error, "HTTP 500: " + std::string(199, 'x'));
  EXPECT_TRUE(StrictDumpAccepts(last_error));
  HttpResponse status = Status();
  ASSERT_EQ(status.status, 200);
  json j = json::parse(status.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << status.body;
  EXPECT_EQ(j["instances"][0]["last_error"], last_error);
}

TEST_F(ErrorTextTest, AnErrorBodyThatIsNotUtf8LeavesStatusValid) {
  FakeHttpServer server([&](const FakeRequest&, int) {
    FakeReply r;
    r.status = 502;
    r.body = "bad gateway \xFF\xFE\x80 from a proxy";
    return r;
  });
  Make(server.port());
  auto r = Run(set_->Send(0, HttpRequest{"GET", "/api/v2/version", {}, {}}, milliseconds(5000)));
  ASSERT_TRUE(r.ok());
  HttpResponse status = Status();
  ASSERT_EQ(status.status, 200);
  json j = json::parse(status.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << status.body;
  const std::string shown = j["instances"][0]["last_error"];
  EXPECT_EQ(shown.rfind("HTTP 502: bad gateway ", 0), 0u) << shown;
  EXPECT_NE(shown.find("\xEF\xBF\xBD"), std::string::npos) << shown;  // U+FFFD
}

}  // namespace
}  // namespace chroma_ha
