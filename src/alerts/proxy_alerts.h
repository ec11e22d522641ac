// ProxyAlerts: alerting inside the proxy. Owns the senders (Alerting) and the rules
// (AlertRules); app.cc feeds it health changes (UpstreamSet's health listener) and calls Tick()
// from its Maintenance() loop (every WAL_SYNC_INTERVAL).
//
// Threads: the health listener may be called from any thread; Tick() blocks on the WAL store
// (run it on the WAL threads, never on the event loop), one call at a time. `config` and
// `clock` must outlive it; Stop() (also run by the destructor) joins the sender threads.
#ifndef CHROMA_HA_ALERTS_PROXY_ALERTS_H_
#define CHROMA_HA_ALERTS_PROXY_ALERTS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "alerts/alert_rules.h"
#include "alerts/alerting.h"
#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"

namespace chroma_ha {

class PressureGauge;

class ProxyAlerts {
 public:
  ProxyAlerts(const Config& config, const Clock& clock);
  ~ProxyAlerts();

  void Start();  // starts the sender threads
  void Stop();

  // For UpstreamSet::SetHealthListener: index -> config.instances[index].name.
  std::function<void(std::size_t index, bool healthy)> HealthListener();

  // Reads the WAL store (backlog, blocks) and the process's memory/CPU, and lets the rules judge
  // them with the count of failed WAL appends, the count of unknown-route writes forwarded to
  // the primary only, and the pending entries recovery cannot resolve. Null (or absent)
  // arguments are skipped. Returns the store read status (an unreadable store has already
  // raised the "wal_store" alert).
  Status Tick(WalStore* store, const std::atomic<int64_t>* wal_append_failures,
              const std::atomic<int64_t>* unknown_writes_forwarded, PressureGauge* pressure,
              std::optional<std::vector<AlertObservation::Unresolved>> unresolved = std::nullopt);

  // The anti-entropy checker's last pass (any thread; never blocks).
  void ObserveDivergence(std::vector<AlertObservation::Divergent> divergent);

  const AlertStats& stats() const { return alerting_.stats(); }
  // Where other components send their own alerts (e.g. resync/<instance>).
  AlertSink& sink() { return alerting_; }
  const AlertRules& rules() const { return rules_; }

 private:
  const Clock& clock_;
  std::vector<std::string> names_;
  Alerting alerting_;
  AlertRules rules_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERTS_PROXY_ALERTS_H_
