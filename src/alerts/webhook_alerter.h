// WebhookAlerter: an AlertSink that delivers alerts to one webhook (Slack or generic JSON) from
// its own thread, never on the caller's. Send() only appends to a bounded queue (full: the alert
// is dropped and counted). The thread feeds each queued alert through an AlertLimiter (dedup and
// rate limit, see alert_limiter.h), posts what it admits, and posts deferred alerts when they
// become due. Delivery failures are logged (without the URL: a secret) and counted, never
// retried (the next state change is sent as usual) and never fatal.
//
// Threads: Send() from any thread. Start()/Stop() from the owner. RunOnce() is for tests that
// do not Start() the thread (time from the injected clock; nothing sleeps).
// Ownership: `clock` and `stats` must outlive the alerter; the destructor calls Stop().
#ifndef CHROMA_HA_ALERTS_WEBHOOK_ALERTER_H_
#define CHROMA_HA_ALERTS_WEBHOOK_ALERTER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "alerts/alert_limiter.h"
#include "alerts/alert_stats.h"
#include "alerts/http_poster.h"
#include "alerts/webhook_format.h"
#include "chroma_ha/alert_sink.h"
#include "chroma_ha/clock.h"

namespace chroma_ha {

class WebhookAlerter final : public AlertSink {
 public:
  struct Options {
    WebhookFormat format = WebhookFormat::kGeneric;
    std::string name = "webhook";  // for logs: "slack" or "webhook" (never the URL)
    AlertLimits limits;
    std::size_t queue_capacity = 256;
  };

  WebhookAlerter(Options options, std::unique_ptr<AlertPoster> poster, const Clock& clock,
                 AlertStats& stats);
  ~WebhookAlerter() override;
  WebhookAlerter(const WebhookAlerter&) = delete;
  WebhookAlerter& operator=(const WebhookAlerter&) = delete;

  // Non-blocking: queues `alert` (or drops it when the queue is full).
  void Send(const Alert& alert) override;

  // Starts the delivery thread. No-op when running.
  void Start();
  // Delivers what is queued (deferred alerts are not waited for), then joins the thread. Each
  // remaining post is bounded by the poster's deadlines.
  void Stop();

  // Processes the queue and any due deferred alerts on the calling thread. Tests only.
  void RunOnce();

  std::size_t queued() const;

 private:
  void Loop();
  void Deliver(const Alert& alert);

  const Options options_;
  const std::unique_ptr<AlertPoster> poster_;
  const Clock& clock_;
  AlertStats& stats_;
  AlertLimiter limiter_;  // delivery thread (or RunOnce caller) only

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Alert> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERTS_WEBHOOK_ALERTER_H_
