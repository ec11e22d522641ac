// Listener TLS termination over real loopback sockets: https requests served with the current
// certificate; a new certificate (the SIGHUP reload) served to new connections while an open
// one keeps working; a client that never completes its handshake closed after header_timeout;
// and the errors of loading the certificate and key files.
#include "server/listener_tls.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "server/listener.h"
#include "unit/upstream/test_certs.h"

namespace chroma_ha {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using testing::TestPki;

class EchoHandler final : public RequestHandler {
 public:
  asio::awaitable<HttpResponse> Handle(HttpRequest request) override {
    HttpResponse r;
    r.status = 200;
    r.body = "echo " + request.target;
    co_return r;
  }
};

// A blocking https client trusting `ca_file`, checking the name "localhost".
class TlsClient {
 public:
  TlsClient(uint16_t port, const std::string& ca_file) : context_(ssl::context::tls_client) {
    context_.load_verify_file(ca_file);
    context_.set_verify_mode(ssl::verify_peer);
    stream_ = std::make_unique<ssl::stream<tcp::socket>>(ioc_, context_);
    stream_->set_verify_callback(ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(stream_->native_handle(), "localhost");
    stream_->next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    stream_->handshake(ssl::stream_base::client);
  }
  // The served certificate's SHA-256 digest.
  std::string PeerDigest() {
    X509* cert = SSL_get0_peer_certificate(stream_->native_handle());
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    X509_digest(cert, EVP_sha256(), md, &n);
    return std::string(reinterpret_cast<char*>(md), n);
  }
  http::response<http::string_body> Get(const std::string& target) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "localhost");
    http::write(*stream_, req);
    http::response<http::string_body> res;
    http::read(*stream_, buffer_, res);
    return res;
  }

 private:
  asio::io_context ioc_;
  ssl::context context_;
  std::unique_ptr<ssl::stream<tcp::socket>> stream_;
  boost::beast::flat_buffer buffer_;
};

std::string FileDigest(const std::string& pem) {
  FILE* f = std::fopen(pem.c_str(), "r");
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  X509_free(cert);
  return std::string(reinterpret_cast<char*>(md), n);
}

class ListenerTlsTest : public ::testing::Test {
 protected:
  ListenerTlsTest() {
    pki_.Server("localhost", "DNS:localhost,IP:127.0.0.1");
    pki_.Server("localhost2", "DNS:localhost,IP:127.0.0.1");
    config_.listen_address = "127.0.0.1";
    config_.port = 0;
    config_.header_timeout = std::chrono::milliseconds(300);
    config_.idle_timeout = std::chrono::seconds(30);
    config_.request_timeout = std::chrono::seconds(10);
    listener_ = std::make_unique<Listener>(ioc_, config_, handler_);
    listener_->SetTls(Load("localhost"));
    EXPECT_TRUE(listener_->Start().ok());
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~ListenerTlsTest() override {
    std::promise<void> done;
    listener_->Shutdown(std::chrono::milliseconds(100), [&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(10));
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
  std::shared_ptr<ssl::context> Load(const std::string& name) {
    auto tls = LoadServerTls(Crt(name), pki_.dir() + "/" + name + ".key");
    EXPECT_TRUE(tls.ok()) << tls.status().ToString();
    return tls.ok() ? std::move(tls).value() : nullptr;
  }
  std::string Crt(const std::string& name) { return pki_.dir() + "/" + name + ".crt"; }

  TestPki pki_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  Config config_;
  EchoHandler handler_;
  std::unique_ptr<Listener> listener_;
  std::thread thread_;
};

TEST_F(ListenerTlsTest, ServesHttpsAndANewCertificateToNewConnectionsOnly) {
  TlsClient before(listener_->port(), pki_.ca_file());
  EXPECT_EQ(before.PeerDigest(), FileDigest(Crt("localhost")));
  EXPECT_EQ(before.Get("/a").body(), "echo /a");

  listener_->SetTls(Load("localhost2"));  // what App::ReloadTls does on SIGHUP
  TlsClient after(listener_->port(), pki_.ca_file());
  EXPECT_EQ(after.PeerDigest(), FileDigest(Crt("localhost2")));
  EXPECT_EQ(after.Get("/b").body(), "echo /b");
  // The connection opened before keeps its certificate and keeps working.
  EXPECT_EQ(before.Get("/c").body(), "echo /c");
  EXPECT_EQ(before.PeerDigest(), FileDigest(Crt("localhost")));
}

TEST_F(ListenerTlsTest, AClientThatNeverHandshakesIsClosedAfterTheHeaderTimeout) {
  asio::io_context client_ioc;
  tcp::socket silent(client_ioc);
  silent.connect({asio::ip::make_address("127.0.0.1"), listener_->port()});
  const auto start = std::chrono::steady_clock::now();
  char byte;
  boost::system::error_code ec;
  silent.read_some(asio::buffer(&byte, 1), ec);  // returns when the listener closes it
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(ec) << "the listener sent data to a client that never said hello";
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(3));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (listener_->stats().connections_open != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(listener_->stats().connections_open, 0);
  EXPECT_EQ(listener_->stats().tls_handshake_failures, 1);
  EXPECT_EQ(listener_->stats().requests, 0);
}

TEST(LoadServerTlsTest, ErrorsNameTheVariableAndTheFile) {
  TestPki pki;
  pki.Server("a", "DNS:localhost");
  pki.Server("b", "DNS:localhost");
  const std::string a_crt = pki.dir() + "/a.crt";
  const std::string a_key = pki.dir() + "/a.key";
  ASSERT_TRUE(LoadServerTls(a_crt, a_key).ok());

  auto missing = LoadServerTls(pki.dir() + "/nope.crt", a_key);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      missing.status().message().rfind(
          "TLS_CERT_FILE: cannot load a certificate chain from \"" + pki.dir() + "/nope.crt\": ",
          0),
      0u)
      << missing.status().message();

  auto not_a_key = LoadServerTls(a_crt, a_crt);
  ASSERT_FALSE(not_a_key.ok());
  EXPECT_EQ(not_a_key.status().message().rfind(
                "TLS_KEY_FILE: cannot load a private key from \"" + a_crt + "\": ", 0),
            0u)
      << not_a_key.status().message();

  auto other_key = LoadServerTls(a_crt, pki.dir() + "/b.key");
  ASSERT_FALSE(other_key.ok());
  EXPECT_NE(other_key.status().message().find("does not belong to the certificate"),
            std::string::npos)
      << other_key.status().message();
}

}  // namespace
}  // namespace chroma_ha
