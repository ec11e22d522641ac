#include "server/listener_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>

namespace chroma_ha {

namespace {

std::string TakeOpenSslError(bool* key_mismatch = nullptr) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (key_mismatch != nullptr) *key_mismatch = ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
  if (code == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unknown error";
}

}  // namespace

Result<std::shared_ptr<boost::asio::ssl::context>> LoadServerTls(const std::string& cert_file,
                                                                 const std::string& key_file) {
  auto context = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An encrypted key must fail, never prompt for a passphrase on the terminal.
  SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return Status::InvalidArgument("TLS_CERT_FILE: cannot load a certificate chain from \"" +
                                   cert_file + "\": " + TakeOpenSslError());
  }
  bool mismatch = false;
  std::string why;
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    why = TakeOpenSslError(&mismatch);
    if (!mismatch) {
      return Status::InvalidArgument("TLS_KEY_FILE: cannot load a private key from \"" + key_file +
                                     "\": " + why);
    }
  }
  if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("TLS_KEY_FILE: the key in \"" + key_file +
                                   "\" does not belong to the certificate in \"" + cert_file +
                                   "\"");
  }
  ERR_clear_error();
  return context;
}

}  // namespace chroma_ha
