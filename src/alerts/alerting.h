// Alerting: the process's alert senders, built from the configuration, behind one AlertSink.
//   - Slack (SLACK_WEBHOOK_URL, when SLACK_ALERTS_ENABLED): Slack's {"text", "blocks"} body;
//   - generic (ALERT_WEBHOOK_URL): {"key","severity","title","text","resolved","time"}.
// Each is a WebhookAlerter with its own thread, queue and rate limiter (ALERT_MIN_INTERVAL_SECONDS
// per key, ALERT_MAX_PER_MINUTE overall). With neither configured, Send() does nothing (AlertRules
// still logs every state change). Counters of all senders are summed in stats().
//
// Threads: Send() from any thread; Start()/Stop() by the owner. `config` and `clock` must outlive
// it; the destructor stops the senders.
#ifndef CHROMA_HA_ALERTS_ALERTING_H_
#define CHROMA_HA_ALERTS_ALERTING_H_

#include <memory>
#include <vector>

#include "alerts/alert_rules.h"
#include "alerts/alert_stats.h"
#include "alerts/webhook_alerter.h"
#include "chroma_ha/alert_sink.h"
#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"

namespace chroma_ha {

class Alerting final : public AlertSink {
 public:
  Alerting(const Config& config, const Clock& clock);
  ~Alerting() override;

  void Send(const Alert& alert) override;
  void Start();
  void Stop();  // delivers what is queued (bounded by the webhook deadlines), joins the threads

  const AlertStats& stats() const { return stats_; }
  std::size_t senders() const { return senders_.size(); }

  // The rule thresholds of `config` (ALERT_BACKLOG_ENTRIES, ALERT_LAG_SECONDS, WAL_*_THRESHOLD).
  static AlertThresholds Thresholds(const Config& config);

 private:
  AlertStats stats_;
  std::vector<std::unique_ptr<WebhookAlerter>> senders_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERTS_ALERTING_H_
