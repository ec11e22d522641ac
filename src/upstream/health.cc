#include "upstream/health.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

namespace chroma_ha {

namespace asio = boost::asio;

// --- HealthState ---------------------------------------------------------------------------

HealthState::HealthState(HealthThresholds thresholds) : thresholds_(thresholds) {
  thresholds_.unhealthy_threshold = std::max(1, thresholds_.unhealthy_threshold);
  thresholds_.healthy_threshold = std::max(1, thresholds_.healthy_threshold);
}

HealthState::Change HealthState::SetHealthy(bool healthy, int64_t now_ms) {
  if (healthy_ == healthy) return Change::kNone;
  healthy_ = healthy;
  last_change_ms_ = now_ms;
  active_failures_ = 0;
  active_successes_ = 0;
  passive_failures_ = 0;
  return healthy ? Change::kBecameHealthy : Change::kBecameUnhealthy;
}

HealthState::Change HealthState::OnActiveSuccess(int64_t now_ms) {
  active_failures_ = 0;
  ++active_successes_;
  if (!healthy_ && active_successes_ >= thresholds_.healthy_threshold) {
    return SetHealthy(true, now_ms);
  }
  return Change::kNone;
}

HealthState::Change HealthState::OnActiveFailure(int64_t now_ms) {
  active_successes_ = 0;
  ++active_failures_;
  if (healthy_ && active_failures_ >= thresholds_.unhealthy_threshold) {
    return SetHealthy(false, now_ms);
  }
  return Change::kNone;
}

HealthState::Change HealthState::OnPassiveSuccess(int64_t /*now_ms*/) {
  passive_failures_ = 0;
  return Change::kNone;
}

HealthState::Change HealthState::OnPassiveFailure(int64_t now_ms) {
  ++passive_failures_;
  if (healthy_ && passive_failures_ >= thresholds_.unhealthy_threshold) {
    return SetHealthy(false, now_ms);
  }
  return Change::kNone;
}

// --- HealthTracker -------------------------------------------------------------------------

HealthTracker::HealthTracker(std::vector<std::string> names, HealthThresholds thresholds,
                             const Clock& clock)
    : names_(std::move(names)),
      clock_(clock),
      healthy_(std::make_unique<std::atomic<bool>[]>(names_.size())),
      clean_(std::make_unique<std::atomic<bool>[]>(names_.size())) {
  entries_.reserve(names_.size());
  for (size_t i = 0; i < names_.size(); ++i) {
    entries_.emplace_back(thresholds);
    Publish(i);
  }
}

void HealthTracker::Publish(std::size_t index) {
  const HealthState& state = entries_[index].state;
  healthy_[index].store(state.healthy(), std::memory_order_relaxed);
  clean_[index].store(state.healthy() && state.passive_failures() == 0,
                      std::memory_order_relaxed);
}

void HealthTracker::SetListener(HealthListener listener) { listener_ = std::move(listener); }

void HealthTracker::ReportActive(std::size_t index, const Status& status, double latency_ms) {
  HealthState::Change change;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_.at(index);
    e.view.last_check_latency_ms = latency_ms;
    const int64_t now = clock_.UnixMillis();
    if (status.ok()) {
      change = e.state.OnActiveSuccess(now);
    } else {
      ++e.view.health_checks_failed;
      e.view.last_error = "health check: " + status.ToString();
      change = e.state.OnActiveFailure(now);
    }
    e.view.healthy = e.state.healthy();
    e.view.last_change_ms = e.state.last_change_ms();
    Publish(index);
  }
  Notify(index, change, status.ok() ? "heartbeat answered" : status.ToString());
}

void HealthTracker::ReportPassive(std::size_t index, bool failure, const std::string& error) {
  // The common case: a success on a clean instance changes nothing (see HealthState).
  if (!failure && index < names_.size() && clean_[index].load(std::memory_order_relaxed)) return;
  HealthState::Change change;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_.at(index);
    const int64_t now = clock_.UnixMillis();
    if (failure) {
      e.view.last_error = error;
      change = e.state.OnPassiveFailure(now);
    } else {
      change = e.state.OnPassiveSuccess(now);
    }
    e.view.healthy = e.state.healthy();
    e.view.last_change_ms = e.state.last_change_ms();
    Publish(index);
  }
  Notify(index, change, error);
}

void HealthTracker::Notify(std::size_t index, HealthState::Change change, const std::string& why) {
  if (change == HealthState::Change::kNone) return;
  const bool healthy = change == HealthState::Change::kBecameHealthy;
  if (healthy) {
    spdlog::info("instance {} is healthy again ({})", names_[index], why);
  } else {
    spdlog::info("instance {} marked unhealthy: {}", names_[index], why);
  }
  if (listener_) listener_(index, healthy);
}

bool HealthTracker::Healthy(std::size_t index) const {
  if (index >= names_.size()) throw std::out_of_range("HealthTracker::Healthy: no such instance");
  return healthy_[index].load(std::memory_order_relaxed);
}

HealthView HealthTracker::View(std::size_t index) const {
  std::lock_guard lock(mu_);
  return entries_.at(index).view;
}

// --- HealthChecker -------------------------------------------------------------------------

struct HealthChecker::Loop {
  explicit Loop(asio::any_io_executor ex) : strand(asio::make_strand(ex)), timer(strand) {}
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;  // used only on `strand`
  std::atomic<bool> stopped{false};
};

HealthChecker::HealthChecker(asio::any_io_executor executor, HealthTracker& tracker,
                             HealthProbe probe, std::chrono::milliseconds interval,
                             const Clock& clock)
    : executor_(std::move(executor)),
      tracker_(tracker),
      probe_(std::move(probe)),
      interval_(interval),
      clock_(clock) {}

HealthChecker::~HealthChecker() { Stop(); }

asio::awaitable<void> HealthChecker::ProbeOne(std::size_t index) {
  const auto start = clock_.Now();
  Status status = co_await probe_(index);
  const std::chrono::duration<double, std::milli> took = clock_.Now() - start;
  tracker_.ReportActive(index, status, took.count());
}

asio::awaitable<void> HealthChecker::RunOnce() {
  using Op = decltype(asio::co_spawn(executor_, ProbeOne(0), asio::deferred));
  std::vector<Op> ops;
  ops.reserve(tracker_.size());
  for (size_t i = 0; i < tracker_.size(); ++i) {
    ops.push_back(asio::co_spawn(executor_, ProbeOne(i), asio::deferred));
  }
  if (ops.empty()) co_return;
  auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                             .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const std::exception_ptr& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("health probe failed unexpectedly: {}", ex.what());
    }
  }
}

void HealthChecker::Start() {
  std::lock_guard lock(mu_);
  if (loop_) return;
  loop_ = std::make_shared<Loop>(executor_);
  auto loop = loop_;
  asio::co_spawn(
      loop->strand,
      [this, loop]() -> asio::awaitable<void> {
        while (!loop->stopped) {
          co_await RunOnce();
          if (loop->stopped) break;
          loop->timer.expires_after(interval_);
          co_await loop->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
      },
      asio::detached);
}

void HealthChecker::Stop() {
  std::lock_guard lock(mu_);
  if (!loop_) return;
  auto loop = std::move(loop_);
  loop->stopped = true;
  asio::post(loop->strand, [loop] { loop->timer.cancel(); });
}

}  // namespace chroma_ha
