#include "upstream/tls_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdlib>

namespace chroma_ha {

namespace ssl = boost::asio::ssl;

namespace {

// The first error on OpenSSL's queue as text (and the queue cleared), or `fallback`.
std::string TakeOpenSslError(const std::string& fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

TrustPaths TrustPaths::FromEnvironment() {
  TrustPaths out;
  if (const char* f = std::getenv("SSL_CERT_FILE"); f != nullptr) out.cert_file = f;
  if (const char* d = std::getenv("SSL_CERT_DIR"); d != nullptr) out.cert_dir = d;
  return out;
}

Result<std::shared_ptr<ssl::context>> MakeClientTlsContext(const TrustPaths& trust) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Status::Internal("TLS: cannot require TLS 1.2: " + TakeOpenSslError("unknown error"));
  }
  // The default paths read SSL_CERT_FILE / SSL_CERT_DIR themselves; a file or directory that
  // is missing there is silently skipped by OpenSSL, hence the explicit checks below.
  if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return Status::Internal("TLS: cannot load the default trust store: " +
                            TakeOpenSslError("unknown error"));
  }
  if (!trust.cert_file.empty() &&
      SSL_CTX_load_verify_locations(ctx, trust.cert_file.c_str(), nullptr) != 1) {
    return Status::InvalidArgument("SSL_CERT_FILE: no certificate could be read from \"" +
                                   trust.cert_file + "\" (" +
                                   TakeOpenSslError("not a PEM certificate bundle") + ")");
  }
  if (!trust.cert_dir.empty()) {
    struct stat st {};
    if (::stat(trust.cert_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("SSL_CERT_DIR: \"" + trust.cert_dir + "\" is not a directory");
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  ERR_clear_error();
  return context;
}

Status PrepareClientTls(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (IsIpLiteral(host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      return Status::Internal("TLS: cannot check the certificate against " + host);
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1) {
      return Status::Internal("TLS: cannot check the certificate against " + host);
    }
    if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
      return Status::Internal("TLS: cannot set the server name (SNI) " + host);
    }
  }
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  return Status::Ok();
}

std::string DescribeHandshakeFailure(SSL* ssl, const std::string& error_text) {
  // X509_V_OK unless the peer's certificate was checked and failed (SSL_new starts with OK).
  const long verdict = SSL_get_verify_result(ssl);
  if (verdict != X509_V_OK) {
    const std::string why = X509_verify_cert_error_string(verdict);
    if (verdict == X509_V_ERR_HOSTNAME_MISMATCH || verdict == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      return "certificate does not match the instance's host name: " + why;
    }
    return "certificate not trusted: " + why;
  }
  return error_text;
}

}  // namespace chroma_ha
