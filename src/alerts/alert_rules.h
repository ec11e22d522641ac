// AlertRules: turns observations of the system into Alerts (state changes only). Pure logic:
// no I/O, no clock, no threads of its own; every observation is passed in, so tests drive it
// directly. Used by the proxy (Maintenance() tick + the upstream health listener) and by
// `chroma-ha monitor` (its polling loop).
//
// Conditions (dedup keys) and when they fire / resolve:
//   instance_down/<name>        the instance is unhealthy / healthy again            critical
//   proxy_down                  chroma-ha cannot be reached (monitor only)            critical
//   proxy_degraded              chroma-ha's /health is not "healthy" (monitor only)   warning
//   wal_store                   the WAL store cannot be read, or WAL appends failed since the
//                               last observation / the store reads and no new failures critical
//   replication_blocked/<instance>/<tenant>/<database>/<collection>
//                               a collection's replay is blocked / no longer listed   critical
//   wal_unresolved/<seq>        a pending WAL entry recovery cannot resolve (its collection's
//                               later writes wait) / resolved or rejected              critical
//   wal_backlog/<instance>      entries not applied there > backlog_entries / <=      warning
//   replication_lag/<instance>  age of the oldest of them > lag_seconds / <=          warning
//   unknown_write_routes        writes to unknown routes were forwarded to the primary
//                               only since the last observation (UNKNOWN_WRITE_ROUTES=
//                               primary) / none since                                  warning
//   divergence/<instance>/<tenant>/<database>/<collection>
//                               the anti-entropy checker found the collection different from
//                               the primary's (VERIFY_INTERVAL) / a later pass did not  critical
//   memory, cpu                 process use over the threshold (percent) / not        warning
// A part of the observation that is absent (std::nullopt) leaves its conditions unchanged, and
// blocks and backlog are only judged when the store could be read.
//
// Thread-safe: InstanceHealth() (health listener threads) and Observe() may run concurrently.
// `sink` must outlive the rules; it is called with the internal lock held and must not block
// (AlertSink::Send never does).
#ifndef CHROMA_HA_ALERTS_ALERT_RULES_H_
#define CHROMA_HA_ALERTS_ALERT_RULES_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chroma_ha/alert_sink.h"

namespace chroma_ha {

struct AlertThresholds {
  int64_t backlog_entries = 1000;  // ALERT_BACKLOG_ENTRIES
  double lag_seconds = 60;         // ALERT_LAG_SECONDS
  double memory_percent = 80;      // WAL_MEMORY_THRESHOLD
  double cpu_percent = 80;         // WAL_CPU_THRESHOLD
};

struct AlertObservation {
  struct Instance {
    std::string name;
    bool healthy = true;
    std::string detail;  // why it is down (e.g. the last error); never a URL with credentials
  };
  struct Blocked {
    std::string instance, tenant, database, collection, error;
    int64_t seq = 0;
  };
  struct Unresolved {
    int64_t seq = 0;
    std::string tenant, database, collection, kind, error;
  };
  struct Backlog {
    std::string instance;
    int64_t entries = 0;
    double lag_seconds = 0;
  };
  std::optional<std::vector<Instance>> instances;
  std::optional<bool> proxy_up;  // monitor: chroma-ha answered /health
  std::string proxy_detail;
  std::optional<std::string> proxy_health;  // monitor: /health "status" field
  std::optional<bool> store_readable;       // the WAL store (or /wal/status) could be read
  std::string store_detail;
  std::optional<int64_t> wal_append_failures;  // cumulative count of failed appends
  std::optional<int64_t> unknown_writes_forwarded;  // cumulative count (UNKNOWN_WRITE_ROUTES)
  std::optional<std::vector<Blocked>> blocked;  // only meaningful when store_readable
  std::optional<std::vector<Backlog>> backlog;  // likewise
  std::optional<std::vector<Unresolved>> unresolved;  // recovery's stuck entries
  struct Divergent {
    std::string instance, tenant, database, collection, detail;
    int64_t differences = 0;
    bool repaired = false;  // AUTO_REPAIR repaired it
  };
  std::optional<double> memory_percent;
  std::optional<double> cpu_percent;
  std::optional<std::vector<Divergent>> divergent;  // the anti-entropy checker's last pass
};

class AlertRules {
 public:
  AlertRules(AlertThresholds thresholds, AlertSink& sink)
      : thresholds_(thresholds), sink_(sink) {}

  // One instance changed health (from UpstreamSet's health listener).
  void InstanceHealth(const std::string& name, bool healthy, const std::string& detail = "");
  // A periodic observation.
  void Observe(const AlertObservation& observation);

  // Keys firing now, sorted.
  std::vector<std::string> Firing() const;

 private:
  // Records `firing` for `key` and sends an alert when it changed.
  void Set(const std::string& key, bool firing, AlertSeverity severity, const std::string& title,
           const std::string& text);
  void SetInstance(const std::string& name, bool healthy, const std::string& detail);
  void ObserveStore(const AlertObservation& o);
  void ObserveBlocked(const std::vector<AlertObservation::Blocked>& blocked);
  void ObserveBacklog(const std::vector<AlertObservation::Backlog>& backlog);
  void ObserveUnresolved(const std::vector<AlertObservation::Unresolved>& unresolved);
  void ObserveUnknownWrites(int64_t forwarded);
  void ObserveDivergent(const std::vector<AlertObservation::Divergent>& divergent);

  const AlertThresholds thresholds_;
  AlertSink& sink_;
  mutable std::mutex mu_;
  std::map<std::string, bool> firing_;  // key -> firing now
  std::optional<int64_t> last_append_failures_;
  std::optional<int64_t> last_unknown_writes_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERTS_ALERT_RULES_H_
