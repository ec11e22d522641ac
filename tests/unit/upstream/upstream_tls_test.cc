// https:// instances: the pool, the health checks and the blocking client over TLS against an
// in-process TLS server with certificates made by a test CA. Trusted: served, keep-alive reused;
// untrusted CA or another host name: refused before any request byte, instance marked down with
// the certificate problem; a silent TLS front: bounded by the connect deadline.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <optional>
#include <stdexcept>

#include "chroma_ha/clock.h"
#include "fake_tls_server.h"
#include "test_certs.h"
#include "upstream/blocking_client.h"
#include "upstream/tls_client.h"
#include "upstream/upstream_pool.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::FakeTlsServer;
using testing::TestPki;
namespace net = boost::asio;

InstanceConfig HttpsInstance(std::string host, uint16_t port) {
  InstanceConfig i;
  i.name = "primary";
  i.url = "https://" + host + ":" + std::to_string(port);
  i.host = std::move(host);
  i.port = port;
  i.tls = true;
  i.is_primary = true;
  return i;
}

// Sets SSL_CERT_FILE for the test's lifetime (OpenSSL reads it when a context is made).
class TrustFile {
 public:
  explicit TrustFile(const std::string& path) { setenv("SSL_CERT_FILE", path.c_str(), 1); }
  ~TrustFile() { unsetenv("SSL_CERT_FILE"); }
};

class UpstreamTlsTest : public ::testing::Test {
 protected:
  UpstreamTlsTest() {
    pki_.Server("localhost", "DNS:localhost,IP:127.0.0.1");
    pki_.Server("other", "DNS:other.example");
    stranger_.Server("localhost", "DNS:localhost,IP:127.0.0.1");
  }

  UpstreamSet& Make(uint16_t port, std::string host = "localhost",
                    milliseconds connect_timeout = milliseconds(1000)) {
    config_.instances = {HttpsInstance(std::move(host), port)};
    config_.connect_timeout = connect_timeout;
    config_.health_timeout = milliseconds(1000);
    config_.pool_size = 4;
    config_.unhealthy_threshold = 2;
    set_ = std::make_unique<UpstreamSet>(ioc_.get_executor(), config_, clock_);
    return *set_;
  }

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
  void RunHealthRound() {
    Run([&]() -> net::awaitable<bool> {
      co_await set_->health_checker().RunOnce();
      co_return true;
    }());
  }
  Result<HttpResponse> Post(milliseconds timeout = milliseconds(5000)) {
    return Run(set_->Send(0, HttpRequest{"POST", "/api/v2/x", {}, "{\"secret\":1}"}, timeout));
  }
  std::string Crt(const TestPki& pki, const std::string& name) {
    return pki.dir() + "/" + name + ".crt";
  }
  std::string Key(const TestPki& pki, const std::string& name) {
    return pki.dir() + "/" + name + ".key";
  }

  TestPki pki_;  // the trusted CA (SSL_CERT_FILE)
  TestPki stranger_{"a CA nobody trusts"};
  net::io_context ioc_;
  SystemClock clock_;
  Config config_;
  std::unique_ptr<UpstreamSet> set_;
};

TEST_F(UpstreamTlsTest, TrustedCertificateIsServedOverOneKeepAliveConnection) {
  TrustFile trust(pki_.ca_file());
  FakeTlsServer server(Crt(pki_, "localhost"), Key(pki_, "localhost"));
  UpstreamSet& set = Make(server.port());
  for (int i = 0; i < 3; ++i) {
    auto r = Post();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
  EXPECT_EQ(server.handshakes(), 1);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(set.pool(0).connections_opened(), 1);
  RunHealthRound();
  EXPECT_TRUE(set.Healthy(0));
}

TEST_F(UpstreamTlsTest, IpLiteralIsMatchedAgainstTheCertificatesAddresses) {
  TrustFile trust(pki_.ca_file());
  FakeTlsServer server(Crt(pki_, "localhost"), Key(pki_, "localhost"));
  Make(server.port(), "127.0.0.1");
  auto r = Post();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
}

TEST_F(UpstreamTlsTest, UntrustedCertificateIsNeverSentDataAndMarksTheInstanceDown) {
  TrustFile trust(pki_.ca_file());
  FakeTlsServer server(Crt(stranger_, "localhost"), Key(stranger_, "localhost"));
  UpstreamSet& set = Make(server.port());
  auto r = Post();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);  // not processed: safe to fail over
  EXPECT_NE(r.status().message().find("certificate not trusted"), std::string::npos)
      << r.status().ToString();
  RunHealthRound();
  RunHealthRound();
  EXPECT_FALSE(set.Healthy(0));
  EXPECT_NE(set.Snapshot(0).last_error.find("certificate not trusted"), std::string::npos)
      << set.Snapshot(0).last_error;
  EXPECT_GE(server.accepted(), 3);
  EXPECT_EQ(server.handshakes(), 0);
  EXPECT_EQ(server.app_bytes(), 0);
}

TEST_F(UpstreamTlsTest, CertificateForAnotherHostIsRefused) {
  TrustFile trust(pki_.ca_file());
  FakeTlsServer server(Crt(pki_, "other"), Key(pki_, "other"));
  UpstreamSet& set = Make(server.port());
  auto r = Post();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("does not match the instance's host name"), std::string::npos)
      << r.status().ToString();
  RunHealthRound();
  RunHealthRound();
  EXPECT_FALSE(set.Healthy(0));
  EXPECT_EQ(server.handshakes(), 0);
  EXPECT_EQ(server.app_bytes(), 0);
}

TEST_F(UpstreamTlsTest, WithoutTheCaTrustedTheSystemStoreRefusesIt) {
  FakeTlsServer server(Crt(pki_, "localhost"), Key(pki_, "localhost"));
  Make(server.port());
  auto r = Post();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("certificate not trusted"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(server.app_bytes(), 0);
}

TEST_F(UpstreamTlsTest, SilentTlsFrontIsBoundedByTheConnectDeadline) {
  TrustFile trust(pki_.ca_file());
  FakeTlsServer server("", "", /*silent=*/true);
  UpstreamSet& set = Make(server.port(), "localhost", milliseconds(300));
  const auto start = steady_clock::now();
  auto r = Post(milliseconds(5000));
  const auto took = steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("TLS handshake timed out"), std::string::npos)
      << r.status().ToString();
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(2000));
  // The health check, bounded by its own (shorter) deadline.
  config_.health_timeout = milliseconds(100);
  const auto round = steady_clock::now();
  RunHealthRound();
  RunHealthRound();
  EXPECT_LT(steady_clock::now() - round, milliseconds(2000));
  EXPECT_FALSE(set.Healthy(0));
}

TEST_F(UpstreamTlsTest, BlockingClientSpeaksTlsToo) {
  TrustFile trust(pki_.ca_file());
  FakeTlsServer server(Crt(pki_, "localhost"), Key(pki_, "localhost"));
  BlockingInstanceClient client(HttpsInstance("localhost", server.port()), milliseconds(1000),
                                milliseconds(5000));
  for (int i = 0; i < 3; ++i) {
    auto r = client.Send(HttpRequest{"GET", "/api/v2/heartbeat", {}, {}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(client.connections_opened(), 1);

  FakeTlsServer stranger(Crt(stranger_, "localhost"), Key(stranger_, "localhost"));
  BlockingInstanceClient refused(HttpsInstance("localhost", stranger.port()), milliseconds(1000),
                                 milliseconds(5000));
  auto r = refused.Send(HttpRequest{"POST", "/api/v2/x", {}, "{}"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("certificate not trusted"), std::string::npos);
  EXPECT_EQ(stranger.app_bytes(), 0);
}

// --- The client context: a trust store that cannot be read is an error at start -----------

TEST(TlsClientContextTest, TrustPathErrorsNameTheVariable) {
  TestPki pki;
  EXPECT_TRUE(MakeClientTlsContext({}).ok());
  EXPECT_TRUE(MakeClientTlsContext({pki.ca_file(), ""}).ok());

  auto missing = MakeClientTlsContext({pki.dir() + "/nope.pem", ""});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      missing.status().message().rfind(
          "SSL_CERT_FILE: no certificate could be read from \"" + pki.dir() + "/nope.pem\"", 0),
      0u)
      << missing.status().message();

  const std::string garbage = pki.dir() + "/garbage.pem";
  FILE* f = std::fopen(garbage.c_str(), "w");
  std::fputs("not a certificate\n", f);
  std::fclose(f);
  auto bad = MakeClientTlsContext({garbage, ""});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("SSL_CERT_FILE: ", 0), 0u) << bad.status().message();

  auto no_dir = MakeClientTlsContext({"", pki.dir() + "/no-such-dir"});
  ASSERT_FALSE(no_dir.ok());
  EXPECT_EQ(no_dir.status().message(),
            "SSL_CERT_DIR: \"" + pki.dir() + "/no-such-dir\" is not a directory");
}

TEST(TlsClientContextTest, AnUnreadableTrustFileStopsTheStartOfAnHttpsPool) {
  TrustFile trust("/nonexistent/ca.pem");
  net::io_context ioc;
  EXPECT_THROW(
      ConnectionPool(ioc.get_executor(), HttpsInstance("localhost", 443), milliseconds(1000), 1),
      ConfigError);
  // Plain http never reads it.
  InstanceConfig plain = HttpsInstance("localhost", 80);
  plain.tls = false;
  EXPECT_NO_THROW(ConnectionPool(ioc.get_executor(), plain, milliseconds(1000), 1));
}

}  // namespace
}  // namespace chroma_ha
