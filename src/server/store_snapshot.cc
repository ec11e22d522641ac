#include "server/store_snapshot.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

namespace chroma_ha {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

int64_t Millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

}  // namespace

StoreSnapshotCache::StoreSnapshotCache(WalStore& store, std::vector<std::string> instances,
                                       const Clock& clock, Options options)
    : store_(store), instances_(std::move(instances)), clock_(clock), options_(options) {}

StoreSnapshotCache::~StoreSnapshotCache() { Stop(); }

void StoreSnapshotCache::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void StoreSnapshotCache::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    thread.swap(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

void StoreSnapshotCache::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    requested_ = false;
    lock.unlock();
    (void)RefreshOnce();  // failures are kept in the snapshot (and logged there)
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return requested_ || stopping_; });
  }
}

void StoreSnapshotCache::RequestRefresh() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    requested_ = true;
  }
  wake_.notify_all();
}

Status StoreSnapshotCache::RefreshOnce() {
  uint64_t covering = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_) return Status::Unavailable("a refresh of the WAL store is already in flight");
    in_flight_ = true;
    started_ = clock_.Now();
    covering = demand_;
  }
  auto backlog = store_.Backlog(instances_);
  Result<std::vector<BlockedCollection>> blocked = backlog.status();
  if (backlog.ok()) blocked = store_.ListBlocked();
  Result<std::map<EntryState, int64_t>> states = blocked.status();
  if (blocked.ok()) states = store_.CountByState();
  const Status status = states.status();

  std::vector<Waiter> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = false;
    const auto now = clock_.Now();
    const bool late = now - started_ > options_.deadline;
    if (status.ok()) {
      data_.has_data = true;
      data_.backlog = std::move(backlog).value();
      data_.blocked = std::move(blocked).value();
      data_.states = std::move(states).value();
      data_.as_of_ms = clock_.UnixMillis();
      data_at_ = now;
      if (!last_error_.empty()) spdlog::info("WAL store readable again (status snapshot)");
      last_error_.clear();
    } else {
      if (last_error_.empty()) {
        spdlog::warn("WAL store: status snapshot refresh failed: {}", status.ToString());
      }
      last_error_ = status.ToString();
    }
    if (!status.ok() || late) ++failures_;
    covered_ = std::max(covered_, covering);
    auto split = std::partition(waiters_.begin(), waiters_.end(),
                                [&](const Waiter& w) { return w.demand > covered_; });
    done.assign(std::make_move_iterator(split), std::make_move_iterator(waiters_.end()));
    waiters_.erase(split, waiters_.end());
  }
  for (Waiter& w : done) w.wake();
  return status;
}

StoreSnapshot StoreSnapshotCache::MarkLocked() const {
  StoreSnapshot s = data_;
  const auto now = clock_.Now();
  s.age_ms = s.has_data ? Millis(now - data_at_) : -1;
  s.refreshing_for_ms = in_flight_ ? std::max<int64_t>(Millis(now - started_), 0) : 0;
  s.refresh_failures = failures_;
  if (in_flight_ && now - started_ > options_.deadline) {
    s.error = "the WAL store has not answered for " + std::to_string(s.refreshing_for_ms) + " ms";
  } else {
    s.error = last_error_;
  }
  s.stale = !s.has_data || !s.error.empty() || now - data_at_ > options_.stale_after;
  return s;
}

StoreSnapshot StoreSnapshotCache::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return MarkLocked();
}

uint64_t StoreSnapshotCache::Demand(std::function<void()> wake) {
  uint64_t demand = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    demand = ++demand_;
    waiters_.push_back({demand, std::move(wake)});
    requested_ = true;
  }
  wake_.notify_all();
  return demand;
}

void StoreSnapshotCache::Forget(uint64_t demand) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(waiters_, [&](const Waiter& w) { return w.demand == demand; });
}

bool StoreSnapshotCache::Covered(uint64_t demand) const {
  std::lock_guard<std::mutex> lock(mu_);
  return covered_ >= demand;
}

asio::awaitable<StoreSnapshot> StoreSnapshotCache::Fresh(milliseconds budget) {
  bool wait = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_ && clock_.Now() - started_ > budget) wait = false;  // looks hung: answer now
  }
  bool covered = false;
  if (wait) {
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor, budget);
    // The wake runs on the refresh thread: cancel the timer on its own executor. (Posted
    // before the wait below starts on a one-thread executor, it still runs after it; on a pool
    // it may come too early, and the wait then lasts the budget: late, never longer.)
    const uint64_t demand =
        Demand([timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); });
    if (!Covered(demand)) {
      (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    }
    Forget(demand);
    covered = Covered(demand);
  }
  StoreSnapshot snapshot = Get();
  if (!covered) {  // older than the request: a poller must not take it for current
    snapshot.stale = true;
    if (snapshot.error.empty()) {
      snapshot.error = "no WAL store read finished within " + std::to_string(budget.count()) +
                       " ms of this request";
    }
  }
  co_return snapshot;
}

}  // namespace chroma_ha
