// Delivery of one webhook message: an HTTP/1.1 POST of a JSON body over plain TCP (http://) or
// TLS (https://, OpenSSL through Beast: SNI, peer verification against the system's trust store
// and host-name verification). One connection per message (alerts are rare), closed after the
// answer.
#ifndef CHROMA_HA_ALERTS_HTTP_POSTER_H_
#define CHROMA_HA_ALERTS_HTTP_POSTER_H_

#include <chrono>
#include <memory>
#include <string>

#include "alerts/webhook_format.h"
#include "chroma_ha/status.h"

namespace chroma_ha {

// Posts bodies somewhere. Called from one thread at a time (the alerter's).
class AlertPoster {
 public:
  virtual ~AlertPoster() = default;
  // OK when the receiver answered 2xx. Errors: kUnavailable (resolve, connect, TLS, a non-2xx
  // answer), kTimeout (a deadline passed). Messages never contain the URL (it is a secret).
  virtual Status Post(const std::string& json_body) = 0;
};

class HttpPoster final : public AlertPoster {
 public:
  // Resolving and connecting (and the TLS handshake) take at most `connect_timeout`; writing the
  // request and reading the answer at most `request_timeout`. The TLS context (system trust
  // store) is built here; a context that cannot load it still verifies (and then fails) peers.
  HttpPoster(WebhookTarget target, std::chrono::milliseconds connect_timeout,
             std::chrono::milliseconds request_timeout);
  ~HttpPoster() override;
  HttpPoster(const HttpPoster&) = delete;
  HttpPoster& operator=(const HttpPoster&) = delete;

  // Blocks the caller for at most about connect_timeout + request_timeout.
  Status Post(const std::string& json_body) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERTS_HTTP_POSTER_H_
