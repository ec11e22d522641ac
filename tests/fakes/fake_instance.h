// A scripted InstanceClient for tests: answers each request from a queue of scripted answers
// (responses or failures) when one is queued, otherwise from a handler (default: 200 "{}"),
// and records every request it received, in order.
//
// Thread-safe: one mutex guards the queue, handler and record; the handler runs outside it
// (so it may call back into this object, e.g. to read requests()).
#ifndef CHROMA_HA_TESTS_FAKES_FAKE_INSTANCE_H_
#define CHROMA_HA_TESTS_FAKES_FAKE_INSTANCE_H_

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "chroma_ha/http_message.h"
#include "chroma_ha/instance_client.h"
#include "chroma_ha/status.h"

namespace chroma_ha {

class FakeInstance final : public InstanceClient {
 public:
  using Handler = std::function<Result<HttpResponse>(const HttpRequest&)>;

  explicit FakeInstance(std::string name);

  const std::string& name() const override { return name_; }
  Result<HttpResponse> Send(const HttpRequest& request) override;

  // Answers used for requests without a queued answer.
  void SetHandler(Handler handler);
  // The next request (after earlier queued ones) gets this answer.
  void QueueResponse(int status, std::string body = "{}");
  // The next request gets no answer (non-OK status, e.g. Status::Unavailable("refused")).
  void QueueFailure(Status status);
  // Every request gets this answer until cleared (overrides queue and handler); status 0 clears.
  void AlwaysRespond(int status, std::string body = "{}");

  std::vector<HttpRequest> requests() const;
  size_t request_count() const;
  void ClearRequests();

  static HttpResponse Response(int status, std::string body = "{}");

 private:
  const std::string name_;
  mutable std::mutex mu_;
  std::deque<Result<HttpResponse>> queue_;
  Handler handler_;
  int always_status_ = 0;
  std::string always_body_;
  std::vector<HttpRequest> requests_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_FAKE_INSTANCE_H_
