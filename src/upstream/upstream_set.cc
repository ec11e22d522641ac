// UpstreamSet (upstream_pool.h): one ConnectionPool per instance, health from heartbeats and
// from the answers to proxied requests.
#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <string>
#include <utility>

#include "sync/chroma_api.h"  // Utf8Prefix
#include "upstream/upstream_pool.h"

namespace chroma_ha {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using Executor = asio::io_context::executor_type;

UpstreamSet::UpstreamSet(Executor executor, const Config& config, const Clock& clock,
                         std::vector<asio::io_context*> workers)
    : config_(config), instances_(config.instances) {
  // CONNECTION_POOL_SIZE is per instance: split over the workers, at least one each.
  const std::size_t pool_size = static_cast<std::size_t>(std::max(0, config.pool_size));
  const std::size_t slots = std::max<std::size_t>(1, workers.size());
  const std::size_t per_slot = pool_size == 0 ? 0 : (pool_size + slots - 1) / slots;
  std::vector<std::string> names;
  for (const InstanceConfig& instance : instances_) {
    names.push_back(instance.name);
    pools_.push_back(std::make_unique<ConnectionPool>(executor, instance, config.connect_timeout,
                                                      per_slot, workers, &clock));
  }
  counters_ = std::make_unique<Counters[]>(instances_.size());
  tracker_ = std::make_unique<HealthTracker>(
      std::move(names), HealthThresholds{config.unhealthy_threshold, config.healthy_threshold},
      clock);
  checker_ = std::make_unique<HealthChecker>(
      executor, *tracker_, [this](std::size_t index) { return Probe(index); },
      config.health_interval, clock);
}

UpstreamSet::~UpstreamSet() { checker_->Stop(); }

bool UpstreamSet::Healthy(std::size_t index) const { return tracker_->Healthy(index); }

asio::awaitable<Result<HttpResponse>> UpstreamSet::Send(std::size_t index, HttpRequest request,
                                                        milliseconds timeout) {
  // The request lives in this frame while it is relayed (an empty target: its own).
  co_return co_await Relay(index, request, {}, timeout);
}

asio::awaitable<Result<HttpResponse>> UpstreamSet::Relay(std::size_t index,
                                                         const HttpRequest& request,
                                                         std::string_view target,
                                                         milliseconds timeout) {
  if (index >= pools_.size()) {
    co_return Status::InvalidArgument("no instance with index " + std::to_string(index));
  }
  ++counters_[index].requests;
  Result<HttpResponse> result = co_await pools_[index]->Exchange(request, timeout, target);
  asio::cancellation_state cancel = co_await asio::this_coro::cancellation_state;
  Account(index, result, cancel.cancelled() != asio::cancellation_type::none);
  co_return result;
}

void UpstreamSet::Account(std::size_t index, const Result<HttpResponse>& result, bool cancelled) {
  if (cancelled) return;  // our caller gave up: says nothing about the instance's health
  std::string error;
  if (!result.ok()) {
    error = result.status().ToString();
  } else if (result->status >= 500 && result->status != 501) {
    error = "HTTP " + std::to_string(result->status) + ": " + Utf8Prefix(result->body, 200);
  }
  if (!error.empty()) ++counters_[index].failures;
  tracker_->ReportPassive(index, !error.empty(), error);
}

asio::awaitable<Status> UpstreamSet::Probe(std::size_t index) {
  // Every health round also retires the surplus connections left idle by a burst.
  pools_[index]->CloseExpired();
  const HttpRequest request{"GET", "/api/v2/heartbeat", {}, {}};
  auto result = co_await pools_[index]->Exchange(request, config_.health_timeout);
  if (!result.ok()) co_return result.status();
  if (result->status / 100 != 2) {
    co_return Status::Unavailable("heartbeat answered HTTP " + std::to_string(result->status));
  }
  co_return Status::Ok();
}

InstanceSnapshot UpstreamSet::Snapshot(std::size_t index) const {
  const InstanceConfig& instance = instances_.at(index);
  const HealthView view = tracker_->View(index);
  InstanceSnapshot s;
  s.name = instance.name;
  s.url = instance.url;
  s.is_primary = instance.is_primary;
  s.healthy = view.healthy;
  s.last_check_latency_ms = view.last_check_latency_ms;
  s.requests = counters_[index].requests.load();
  s.failures = counters_[index].failures.load();
  s.health_checks_failed = view.health_checks_failed;
  s.last_error = view.last_error;
  s.last_change_ms = view.last_change_ms;
  return s;
}

void UpstreamSet::SetHealthListener(HealthListener listener) {
  tracker_->SetListener(std::move(listener));
}

void UpstreamSet::Start() { checker_->Start(); }

void UpstreamSet::Stop() {
  checker_->Stop();
  for (auto& pool : pools_) pool->CloseIdle();
}

}  // namespace chroma_ha
