// A scripted `Upstreams` for router and write-path tests: per instance a healthy flag, a handler
// that answers each request (default: 200 "{}"), and a record of every request the instance
// received, in arrival order. Instance 0 is the primary.
//
// Holding: while Hold(i, true) is on, each request to instance i is recorded on arrival and then
// parked (the awaiting coroutine stays suspended) until the test releases it with ReleaseOne /
// ReleaseAll; only then does the handler answer it. Tests use this to look at what is in flight
// and to complete requests in any order they like, without sleeping.
//
// Parked requests are never woken by the destructor: destroy the io_context that runs them
// first, or release them and let them finish.
//
// Thread-safety: every method may be called from any thread; one mutex guards the state, and the
// handler runs outside it (it may call back into this object, e.g. requests()). A released
// request resumes on the executor of the coroutine that sent it.
#ifndef CHROMA_HA_TESTS_FAKES_FAKE_UPSTREAMS_H_
#define CHROMA_HA_TESTS_FAKES_FAKE_UPSTREAMS_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "chroma_ha/http_message.h"
#include "chroma_ha/status.h"
#include "upstream/upstream.h"

namespace chroma_ha {

class FakeUpstreams final : public Upstreams {
 public:
  using Handler = std::function<Result<HttpResponse>(const HttpRequest&)>;

  // One instance per name; names[0] is the primary. All start healthy.
  explicit FakeUpstreams(std::vector<std::string> names);
  ~FakeUpstreams() override;

  // --- Upstreams -----------------------------------------------------------------------------
  std::size_t size() const override { return instances_.size(); }
  bool Healthy(std::size_t index) const override;
  boost::asio::awaitable<Result<HttpResponse>> Send(std::size_t index, HttpRequest request,
                                                    std::chrono::milliseconds timeout) override;
  InstanceSnapshot Snapshot(std::size_t index) const override;

  // --- Script --------------------------------------------------------------------------------
  void SetHealthy(std::size_t index, bool healthy);
  void SetHandler(std::size_t index, Handler handler);
  // Every request to `index` gets this status and body (replaces the handler).
  void AlwaysRespond(std::size_t index, int status, std::string body = "{}");
  // Every request to `index` gets no answer with `status` (e.g. Status::Unavailable("down")).
  void AlwaysFail(std::size_t index, Status status);

  // --- Holding -------------------------------------------------------------------------------
  void Hold(std::size_t index, bool on);
  std::size_t held(std::size_t index) const;
  // Releases the oldest (or, with `newest`, the most recent) parked request; false if none.
  bool ReleaseOne(std::size_t index, bool newest = false);
  void ReleaseAll(std::size_t index);

  // --- Record --------------------------------------------------------------------------------
  std::vector<HttpRequest> requests(std::size_t index) const;
  std::size_t request_count(std::size_t index) const;
  // Timeouts passed to Send, index-aligned with requests(index).
  std::vector<std::chrono::milliseconds> timeouts(std::size_t index) const;
  void ClearRequests();

  static HttpResponse Response(int status, std::string body = "{}");

 private:
  struct Instance {
    std::string name;
    bool healthy = true;
    Handler handler;
    bool holding = false;
    std::deque<std::shared_ptr<boost::asio::steady_timer>> parked;
    std::vector<HttpRequest> requests;
    std::vector<std::chrono::milliseconds> timeouts;
  };
  static void Wake(const std::shared_ptr<boost::asio::steady_timer>& timer);

  mutable std::mutex mu_;
  std::vector<Instance> instances_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_FAKE_UPSTREAMS_H_
