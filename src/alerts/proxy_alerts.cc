#include "alerts/proxy_alerts.h"

#include "metrics/process_stats.h"

namespace chroma_ha {

ProxyAlerts::ProxyAlerts(const Config& config, const Clock& clock)
    : clock_(clock), alerting_(config, clock), rules_(Alerting::Thresholds(config), alerting_) {
  for (const auto& inst : config.instances) names_.push_back(inst.name);
}

ProxyAlerts::~ProxyAlerts() { Stop(); }

void ProxyAlerts::Start() { alerting_.Start(); }

void ProxyAlerts::Stop() { alerting_.Stop(); }

std::function<void(std::size_t, bool)> ProxyAlerts::HealthListener() {
  return [this](std::size_t index, bool healthy) {
    if (index < names_.size()) rules_.InstanceHealth(names_[index], healthy);
  };
}

Status ProxyAlerts::Tick(WalStore* store, const std::atomic<int64_t>* wal_append_failures,
                         const std::atomic<int64_t>* unknown_writes_forwarded,
                         PressureGauge* pressure,
                         std::optional<std::vector<AlertObservation::Unresolved>> unresolved) {
  AlertObservation o;
  o.unresolved = std::move(unresolved);
  Status read = Status::Ok();
  if (store != nullptr) {
    auto backlog = store->Backlog(names_);
    auto blocked = backlog.ok() ? store->ListBlocked() : Result<std::vector<BlockedCollection>>(
                                                             backlog.status());
    o.store_readable = backlog.ok() && blocked.ok();
    if (!*o.store_readable) {
      read = backlog.ok() ? blocked.status() : backlog.status();
      o.store_detail = read.message();
    } else {
      const int64_t now = clock_.UnixMillis();
      o.backlog.emplace();
      for (const auto& b : *backlog) {
        double lag = b.entries > 0 ? (now - b.oldest_created_ms) / 1000.0 : 0.0;
        o.backlog->push_back({b.instance, b.entries, lag});
      }
      o.blocked.emplace();
      for (const auto& b : *blocked) {
        o.blocked->push_back({b.instance, b.tenant, b.database, b.collection, b.error, b.seq});
      }
    }
  }
  if (wal_append_failures != nullptr) o.wal_append_failures = wal_append_failures->load();
  if (unknown_writes_forwarded != nullptr) {
    o.unknown_writes_forwarded = unknown_writes_forwarded->load();
  }
  if (pressure != nullptr) {
    pressure->UnderPressure();  // refreshes the percentages
    o.memory_percent = pressure->last_memory_percent();
    o.cpu_percent = pressure->last_cpu_percent();
  }
  rules_.Observe(o);
  return read;
}

void ProxyAlerts::ObserveDivergence(std::vector<AlertObservation::Divergent> divergent) {
  AlertObservation o;
  o.divergent = std::move(divergent);
  rules_.Observe(o);
}

}  // namespace chroma_ha
