#include "fake_upstreams.h"  // same folder: tests/ is on the include path of users only

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <utility>

// g++ 12 reports a false -Wmismatched-new-delete for Asio awaitable frames.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace chroma_ha {

FakeUpstreams::FakeUpstreams(std::vector<std::string> names) {
  for (auto& name : names) {
    Instance inst;
    inst.name = std::move(name);
    instances_.push_back(std::move(inst));
  }
}

FakeUpstreams::~FakeUpstreams() = default;

HttpResponse FakeUpstreams::Response(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.headers.push_back({"content-type", "application/json"});
  response.body = std::move(body);
  return response;
}

bool FakeUpstreams::Healthy(std::size_t index) const {
  std::lock_guard lock(mu_);
  return instances_.at(index).healthy;
}

boost::asio::awaitable<Result<HttpResponse>> FakeUpstreams::Send(
    std::size_t index, HttpRequest request, std::chrono::milliseconds timeout) {
  auto executor = co_await boost::asio::this_coro::executor;
  std::shared_ptr<boost::asio::steady_timer> parked;
  {
    std::lock_guard lock(mu_);
    Instance& inst = instances_.at(index);
    inst.requests.push_back(request);
    inst.timeouts.push_back(timeout);
    if (inst.holding) {
      parked = std::make_shared<boost::asio::steady_timer>(
          executor, boost::asio::steady_timer::time_point::max());
      inst.parked.push_back(parked);
    }
  }
  if (parked) {
    auto [ec] = co_await parked->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    (void)ec;  // cancelled by Wake: that is the release
  }
  Handler handler;
  {
    std::lock_guard lock(mu_);
    handler = instances_.at(index).handler;
  }
  if (handler) co_return handler(request);
  co_return Response(200);
}

InstanceSnapshot FakeUpstreams::Snapshot(std::size_t index) const {
  std::lock_guard lock(mu_);
  const Instance& inst = instances_.at(index);
  InstanceSnapshot s;
  s.name = inst.name;
  s.url = "http://" + inst.name + ".test:8000";
  s.is_primary = index == 0;
  s.healthy = inst.healthy;
  s.requests = static_cast<int64_t>(inst.requests.size());
  return s;
}

void FakeUpstreams::SetHealthy(std::size_t index, bool healthy) {
  std::lock_guard lock(mu_);
  instances_.at(index).healthy = healthy;
}

void FakeUpstreams::SetHandler(std::size_t index, Handler handler) {
  std::lock_guard lock(mu_);
  instances_.at(index).handler = std::move(handler);
}

void FakeUpstreams::AlwaysRespond(std::size_t index, int status, std::string body) {
  SetHandler(index, [status, body = std::move(body)](const HttpRequest&) -> Result<HttpResponse> {
    return Response(status, body);
  });
}

void FakeUpstreams::AlwaysFail(std::size_t index, Status status) {
  SetHandler(index, [status](const HttpRequest&) -> Result<HttpResponse> { return status; });
}

void FakeUpstreams::Hold(std::size_t index, bool on) {
  std::lock_guard lock(mu_);
  instances_.at(index).holding = on;
}

std::size_t FakeUpstreams::held(std::size_t index) const {
  std::lock_guard lock(mu_);
  return instances_.at(index).parked.size();
}

void FakeUpstreams::Wake(const std::shared_ptr<boost::asio::steady_timer>& timer) {
  // Cancelled on the timer's own executor: the test thread may not be the loop's thread.
  boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

bool FakeUpstreams::ReleaseOne(std::size_t index, bool newest) {
  std::shared_ptr<boost::asio::steady_timer> timer;
  {
    std::lock_guard lock(mu_);
    auto& parked = instances_.at(index).parked;
    if (parked.empty()) return false;
    if (newest) {
      timer = parked.back();
      parked.pop_back();
    } else {
      timer = parked.front();
      parked.pop_front();
    }
  }
  Wake(timer);
  return true;
}

void FakeUpstreams::ReleaseAll(std::size_t index) {
  while (ReleaseOne(index)) {
  }
}

std::vector<HttpRequest> FakeUpstreams::requests(std::size_t index) const {
  std::lock_guard lock(mu_);
  return instances_.at(index).requests;
}

std::size_t FakeUpstreams::request_count(std::size_t index) const {
  std::lock_guard lock(mu_);
  return instances_.at(index).requests.size();
}

std::vector<std::chrono::milliseconds> FakeUpstreams::timeouts(std::size_t index) const {
  std::lock_guard lock(mu_);
  return instances_.at(index).timeouts;
}

void FakeUpstreams::ClearRequests() {
  std::lock_guard lock(mu_);
  for (auto& inst : instances_) {
    inst.requests.clear();
    inst.timeouts.clear();
  }
}

}  // namespace chroma_ha
