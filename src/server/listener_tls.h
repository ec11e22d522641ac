// TLS termination on the listener (TLS_CERT_FILE / TLS_KEY_FILE): loading the server context
// from PEM files. The Listener holds the current context and swaps it on reload (SIGHUP, see
// App::ReloadTls): each connection keeps the context it was accepted with.
#ifndef CHROMA_HA_SERVER_LISTENER_TLS_H_
#define CHROMA_HA_SERVER_LISTENER_TLS_H_

#include <memory>
#include <string>

#include "chroma_ha/status.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace chroma_ha {

// A server context (TLS 1.2 or later) with the certificate chain of `cert_file` and the private
// key of `key_file` (PEM, unencrypted), checked to belong together. Errors (kInvalidArgument)
// name the variable, the file and OpenSSL's reason; nothing is half-loaded.
Result<std::shared_ptr<boost::asio::ssl::context>> LoadServerTls(const std::string& cert_file,
                                                                 const std::string& key_file);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_LISTENER_TLS_H_
