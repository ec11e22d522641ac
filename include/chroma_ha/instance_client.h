// A blocking HTTP client for one Chroma instance, used off the event loop (sync worker, health
// probes in tests, the `verify` command). Implementations: a Beast-based client with keep-alive
// and deadlines (src/upstream/blocking_client.*) and fakes in tests/fakes/.
#ifndef CHROMA_HA_INSTANCE_CLIENT_H_
#define CHROMA_HA_INSTANCE_CLIENT_H_

#include <string>

#include "chroma_ha/http_message.h"
#include "chroma_ha/status.h"

namespace chroma_ha {

class InstanceClient {
 public:
  virtual ~InstanceClient() = default;
  // The instance's configured name ("primary", "replica", "replica2", ...).
  virtual const std::string& name() const = 0;
  // Sends one request and waits for the whole response. Any HTTP status is an OK Result;
  // a non-OK Status means no complete answer arrived: kUnavailable (connect failed or the
  // connection was reset before a byte of the answer) or kTimeout (the outcome is unknown).
  // Thread-safe: may be called from several threads at once.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
  // As Send, with `body` as the request's body (request.body is ignored): the replay sends a
  // WAL entry's body, up to megabytes, this way instead of copying it into a request. The
  // default copies; the real client sends it in place.
  virtual Result<HttpResponse> SendWithBody(const HttpRequest& request, const std::string& body) {
    HttpRequest copy = request;
    copy.body = body;
    return Send(copy);
  }
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_INSTANCE_CLIENT_H_
