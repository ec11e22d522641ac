// TLS to the instances (https:// instance URLs): the OpenSSL client context and what each new
// connection needs before its handshake. Used by ConnectionPool (upstream_pool.cc) only.
//
// Trust: OpenSSL's default verify paths (SSL_CTX_set_default_verify_paths), so SSL_CERT_FILE
// and SSL_CERT_DIR replace the system trust store exactly as they do for the openssl CLI.
// Every connection verifies the peer's chain and its name: the URL's host name (RFC 6125 rules,
// no partial wildcards) or, for an IP literal, the certificate's IP addresses; SNI carries the
// host name (never an IP literal, RFC 6066). A connection that fails verification never
// carries a request.
#ifndef CHROMA_HA_UPSTREAM_TLS_CLIENT_H_
#define CHROMA_HA_UPSTREAM_TLS_CLIENT_H_

#include <memory>
#include <string>

#include "chroma_ha/status.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

typedef struct ssl_st SSL;

namespace chroma_ha {

// Where the trusted certificates come from. Empty = OpenSSL's defaults (which read the
// SSL_CERT_FILE / SSL_CERT_DIR environment variables, else the system store).
struct TrustPaths {
  std::string cert_file;  // a PEM bundle; must hold at least one certificate
  std::string cert_dir;   // a hashed directory (c_rehash); must exist

  // SSL_CERT_FILE and SSL_CERT_DIR of this process (empty when unset).
  static TrustPaths FromEnvironment();
};

// A client context for https instances: TLS 1.2 or later, peer verification on, the default
// verify paths loaded, and `trust` checked so that a mistyped SSL_CERT_FILE is an error at start
// rather than "certificate verify failed" on every request. Errors (kInvalidArgument) name the
// variable and the file. Thread-safe to use for any number of connections once built.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientTlsContext(const TrustPaths& trust);

// Prepares one connection's SSL object for `host` (the URL's host; an IP literal is matched
// against the certificate's IP addresses): SNI for names, peer verification, host check.
Status PrepareClientTls(SSL* ssl, const std::string& host);

// Why a handshake failed, for logs and /status: the certificate verdict when there is one
// ("certificate not trusted: unable to get local issuer certificate", "certificate does not
// match host x"), else OpenSSL's or the socket's error text.
std::string DescribeHandshakeFailure(SSL* ssl, const std::string& error_text);

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_TLS_CLIENT_H_
