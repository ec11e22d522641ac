// BlockingInstanceClient: the production InstanceClient (a synchronous HTTP client for one
// Chroma instance), for the sync worker and other code that runs off the event loop.
//
// It owns a private io_context served by one internal thread and a ConnectionPool on it, so the
// keep-alive pooling, deadlines, header filtering and error mapping are exactly those of the
// proxy's own upstream pool (see ConnectionPool in upstream/upstream_pool.h).
#ifndef CHROMA_HA_UPSTREAM_BLOCKING_CLIENT_H_
#define CHROMA_HA_UPSTREAM_BLOCKING_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "chroma_ha/config.h"
#include "chroma_ha/instance_client.h"

namespace chroma_ha {

class BlockingInstanceClient final : public InstanceClient {
 public:
  // Starts the internal I/O thread. `connect_timeout` bounds connecting, `request_timeout`
  // writing the request and reading the answer (the default for Send). At most `max_idle`
  // keep-alive connections are kept. https works as in ConnectionPool (ConfigError when its
  // trust store cannot be set up).
  BlockingInstanceClient(const InstanceConfig& instance, std::chrono::milliseconds connect_timeout,
                         std::chrono::milliseconds request_timeout, std::size_t max_idle = 4);
  // Closes the connections and joins the thread. No Send may be in flight.
  ~BlockingInstanceClient() override;
  BlockingInstanceClient(const BlockingInstanceClient&) = delete;
  BlockingInstanceClient& operator=(const BlockingInstanceClient&) = delete;

  const std::string& name() const override;
  // See InstanceClient::Send. Thread-safe; blocks the caller at most about
  // connect_timeout + request_timeout. Never call it from the client's own I/O thread.
  Result<HttpResponse> Send(const HttpRequest& request) override;
  // `body` is sent in place, not copied.
  Result<HttpResponse> SendWithBody(const HttpRequest& request, const std::string& body) override;
  // The same with a per-call `timeout` instead of `request_timeout`, and `*body` (if not null)
  // as the body.
  Result<HttpResponse> SendWithTimeout(const HttpRequest& request,
                                       std::chrono::milliseconds timeout,
                                       const std::string* body = nullptr);

  std::size_t idle_connections() const;
  int64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_BLOCKING_CLIENT_H_
