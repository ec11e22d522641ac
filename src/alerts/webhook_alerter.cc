#include "alerts/webhook_alerter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace chroma_ha {

namespace {
// Upper bound of one wait of the delivery thread (so a deferred alert is never forgotten even
// if the clock and the condition variable disagree).
constexpr std::chrono::seconds kMaxWait{5};
}  // namespace

WebhookAlerter::WebhookAlerter(Options options, std::unique_ptr<AlertPoster> poster,
                               const Clock& clock, AlertStats& stats)
    : options_(std::move(options)),
      poster_(std::move(poster)),
      clock_(clock),
      stats_(stats),
      limiter_(options_.limits, clock) {}

WebhookAlerter::~WebhookAlerter() { Stop(); }

void WebhookAlerter::Send(const Alert& alert) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= options_.queue_capacity) {
      ++stats_.dropped;
      spdlog::warn("alerts ({}): queue full, dropped alert {}", options_.name, alert.key);
      return;
    }
    queue_.push_back(alert);
  }
  wake_.notify_one();
}

void WebhookAlerter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void WebhookAlerter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::size_t WebhookAlerter::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void WebhookAlerter::Deliver(const Alert& alert) {
  std::string body = FormatBody(options_.format, alert, clock_.UnixMillis());
  Status s = poster_->Post(body);
  if (s.ok()) {
    ++stats_.sent;
    spdlog::info("alerts ({}): sent {}{}", options_.name, alert.key,
                 alert.resolved ? " (resolved)" : "");
  } else {
    ++stats_.failed;
    spdlog::warn("alerts ({}): could not deliver {}: {}", options_.name, alert.key,
                 s.ToString());
  }
}

void WebhookAlerter::RunOnce() {
  std::deque<Alert> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(queue_);
  }
  for (const Alert& a : batch) {
    int64_t before = limiter_.suppressed();
    if (auto admitted = limiter_.Offer(a)) Deliver(*admitted);
    stats_.suppressed += limiter_.suppressed() - before;
  }
  for (const Alert& a : limiter_.Due()) Deliver(a);
}

void WebhookAlerter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (queue_.empty() && !stopping_) {
      auto wait = std::chrono::steady_clock::duration(kMaxWait);
      if (auto next = limiter_.NextDue()) {
        wait = std::clamp<std::chrono::steady_clock::duration>(*next - clock_.Now(),
                                                               std::chrono::milliseconds(1),
                                                               kMaxWait);
      }
      wake_.wait_for(lock, wait, [this] { return !queue_.empty() || stopping_; });
    }
    const bool stop = stopping_;
    lock.unlock();
    RunOnce();
    lock.lock();
    if (stop && queue_.empty()) return;
  }
}

}  // namespace chroma_ha
