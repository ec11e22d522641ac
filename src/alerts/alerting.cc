#include "alerts/alerting.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "alerts/http_poster.h"
#include "alerts/webhook_format.h"

namespace chroma_ha {

namespace {

// Webhook deadlines: the instance connect timeout, and at most 10 s for the exchange.
constexpr std::chrono::milliseconds kMaxWebhookRequest{10000};

}  // namespace

Alerting::Alerting(const Config& config, const Clock& clock) {
  AlertLimits limits;
  limits.min_interval = config.alert_min_interval;
  limits.max_per_minute = config.alert_max_per_minute;
  auto add = [&](const std::string& url, WebhookFormat format, const char* name) {
    std::string error;
    auto target = ParseWebhookUrl(url, &error);
    if (!target) {  // validated by LoadConfig; never quote the URL
      spdlog::error("alerts ({}): unusable webhook URL: {}", name, error);
      return;
    }
    WebhookAlerter::Options options;
    options.format = format;
    options.name = name;
    options.limits = limits;
    auto poster = std::make_unique<HttpPoster>(
        std::move(*target), config.connect_timeout,
        std::min<std::chrono::milliseconds>(config.request_timeout, kMaxWebhookRequest));
    senders_.push_back(
        std::make_unique<WebhookAlerter>(options, std::move(poster), clock, stats_));
  };
  if (config.slack_alerts_enabled && !config.slack_webhook_url.empty()) {
    add(config.slack_webhook_url, WebhookFormat::kSlack, "slack");
  }
  if (!config.alert_webhook_url.empty()) {
    add(config.alert_webhook_url, WebhookFormat::kGeneric, "webhook");
  }
  spdlog::info("alerts: {} webhook sender(s){}", senders_.size(),
               senders_.empty() ? " (alerts are only logged)" : "");
}

Alerting::~Alerting() { Stop(); }

void Alerting::Send(const Alert& alert) {
  for (auto& s : senders_) s->Send(alert);
}

void Alerting::Start() {
  for (auto& s : senders_) s->Start();
}

void Alerting::Stop() {
  for (auto& s : senders_) s->Stop();
}

AlertThresholds Alerting::Thresholds(const Config& config) {
  AlertThresholds t;
  t.backlog_entries = config.alert_backlog_entries;
  t.lag_seconds = config.alert_lag_seconds;
  t.memory_percent = config.wal_memory_threshold;
  t.cpu_percent = config.wal_cpu_threshold;
  return t;
}

}  // namespace chroma_ha
