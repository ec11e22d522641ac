#include "alerts/alert_rules.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <set>
#include <string_view>

namespace chroma_ha {

namespace {

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v);
  return buf;
}

std::string Seconds(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f s", v);
  return buf;
}

}  // namespace

void AlertRules::Set(const std::string& key, bool firing, AlertSeverity severity,
                     const std::string& title, const std::string& text) {
  bool& now = firing_[key];
  if (now == firing) return;
  now = firing;
  if (firing) {
    spdlog::warn("alert: {}: {}{}{}", key, title, text.empty() ? "" : ": ", text);
  } else {
    spdlog::info("alert resolved: {}: {}", key, title);
  }
  sink_.Send(Alert{key, severity, title, text, !firing});
}

void AlertRules::SetInstance(const std::string& name, bool healthy, const std::string& detail) {
  if (healthy) {
    Set("instance_down/" + name, false, AlertSeverity::kCritical,
        "Instance " + name + " recovered", "It answers its heartbeat again.");
  } else {
    Set("instance_down/" + name, true, AlertSeverity::kCritical, "Instance " + name + " is down",
        detail.empty() ? "It does not answer its heartbeat." : detail);
  }
}

void AlertRules::InstanceHealth(const std::string& name, bool healthy, const std::string& detail) {
  std::lock_guard<std::mutex> lock(mu_);
  SetInstance(name, healthy, detail);
}

void AlertRules::ObserveStore(const AlertObservation& o) {
  bool new_failures = false;
  if (o.wal_append_failures) {
    new_failures = last_append_failures_ && *o.wal_append_failures > *last_append_failures_;
    last_append_failures_ = o.wal_append_failures;
  }
  if (!o.store_readable && !new_failures) return;
  const bool unreadable = o.store_readable && !*o.store_readable;
  if (unreadable || new_failures) {
    std::string text = unreadable ? "The WAL store cannot be read: " + o.store_detail
                                  : "Writes were refused with 503: the WAL could not be written.";
    Set("wal_store", true, AlertSeverity::kCritical, "WAL store unreachable", text);
  } else if (o.store_readable) {
    Set("wal_store", false, AlertSeverity::kCritical, "WAL store reachable again",
        "WAL reads and appends work.");
  }
}

void AlertRules::ObserveBlocked(const std::vector<AlertObservation::Blocked>& blocked) {
  std::set<std::string> now;
  for (const auto& b : blocked) {
    std::string key = "replication_blocked/" + b.instance + "/" + b.tenant + "/" + b.database +
                      "/" + b.collection;
    now.insert(key);
    std::string what = b.collection.empty() ? "database " + b.tenant + "/" + b.database
                                            : "collection " + b.collection;
    Set(key, true, AlertSeverity::kCritical,
        "Replication to " + b.instance + " blocked for " + what,
        "WAL entry " + std::to_string(b.seq) + " failed permanently: " + b.error +
            ". Later entries of it wait until an admin retries or skips it (/admin/wal/*).");
  }
  for (auto& [key, firing] : firing_) {
    if (firing && key.rfind("replication_blocked/", 0) == 0 && now.count(key) == 0) {
      std::string subject = key.substr(sizeof("replication_blocked/") - 1);
      Set(key, false, AlertSeverity::kCritical, "Replication unblocked: " + subject,
          "The block was cleared.");
    }
  }
}

void AlertRules::ObserveUnresolved(const std::vector<AlertObservation::Unresolved>& unresolved) {
  std::set<std::string> now;
  for (const auto& u : unresolved) {
    const std::string key = "wal_unresolved/" + std::to_string(u.seq);
    now.insert(key);
    Set(key, true, AlertSeverity::kCritical,
        "WAL entry " + std::to_string(u.seq) + " cannot be resolved",
        "The " + u.kind + " of " + u.tenant + "/" + u.database + "/" + u.collection +
            " was logged but its outcome is unknown and recovery cannot resolve it: " + u.error +
            ". Later writes of that collection wait behind it until it is resolved or an admin "
            "rejects it (POST /admin/wal/skip {\"seq\": " + std::to_string(u.seq) + "}).");
  }
  for (auto& [key, firing] : firing_) {
    if (firing && key.rfind("wal_unresolved/", 0) == 0 && now.count(key) == 0) {
      Set(key, false, AlertSeverity::kCritical,
          "WAL entry " + key.substr(sizeof("wal_unresolved/") - 1) + " resolved",
          "The entry was resolved or rejected.");
    }
  }
}

void AlertRules::ObserveBacklog(const std::vector<AlertObservation::Backlog>& backlog) {
  for (const auto& b : backlog) {
    const bool big = b.entries > thresholds_.backlog_entries;
    Set("wal_backlog/" + b.instance, big, AlertSeverity::kWarning,
        big ? "WAL backlog of " + b.instance + " is " + std::to_string(b.entries) + " entries"
            : "WAL backlog of " + b.instance + " back under " +
                  std::to_string(thresholds_.backlog_entries),
        "Threshold: " + std::to_string(thresholds_.backlog_entries) + " entries (now " +
            std::to_string(b.entries) + ").");
    const bool late = b.lag_seconds > thresholds_.lag_seconds;
    Set("replication_lag/" + b.instance, late, AlertSeverity::kWarning,
        late ? "Replication to " + b.instance + " lags " + Seconds(b.lag_seconds)
             : "Replication lag of " + b.instance + " back under " +
                   Seconds(thresholds_.lag_seconds),
        "Threshold: " + Seconds(thresholds_.lag_seconds) + " (now " + Seconds(b.lag_seconds) +
            ").");
  }
}

void AlertRules::ObserveDivergent(const std::vector<AlertObservation::Divergent>& divergent) {
  static constexpr std::string_view kPrefix = "divergence/";
  std::set<std::string> now;
  for (const auto& d : divergent) {
    const std::string where = d.tenant + "/" + d.database + "/" + d.collection;
    const std::string key = std::string(kPrefix) + d.instance + "/" + where;
    now.insert(key);
    Set(key, true, AlertSeverity::kCritical, where + " diverged on " + d.instance,
        std::to_string(d.differences) + " difference(s) from the primary with no WAL entry "
            "pending, e.g. " + d.detail + (d.repaired ? ". Repaired (AUTO_REPAIR)."
                                                      : ". Repair: chroma-ha verify --repair, "
                                                        "or AUTO_REPAIR=true."));
  }
  for (auto& [key, firing] : firing_) {
    if (firing && key.rfind(kPrefix, 0) == 0 && now.count(key) == 0) {
      Set(key, false, AlertSeverity::kCritical,
          key.substr(kPrefix.size()) + " converged again",
          "The anti-entropy checker found it equal to the primary's.");
    }
  }
}

void AlertRules::ObserveUnknownWrites(int64_t forwarded) {
  const int64_t since = last_unknown_writes_ ? forwarded - *last_unknown_writes_ : forwarded;
  last_unknown_writes_ = forwarded;
  const bool firing = since > 0;
  Set("unknown_write_routes", firing, AlertSeverity::kWarning,
      firing ? "Writes to unknown routes went to the primary only"
             : "No more writes to unknown routes",
      firing ? std::to_string(since) +
                   " mutating request(s) to routes chroma-ha does not know were forwarded to the "
                   "primary only (UNKNOWN_WRITE_ROUTES=primary): not logged, not replicated. "
                   "The instances may differ: run `chroma-ha verify`."
             : "None since the last check.");
}

void AlertRules::Observe(const AlertObservation& o) {
  std::lock_guard<std::mutex> lock(mu_);
  if (o.proxy_up) {
    Set("proxy_down", !*o.proxy_up, AlertSeverity::kCritical,
        *o.proxy_up ? "chroma-ha is reachable again" : "chroma-ha is down",
        *o.proxy_up ? "Its /health answers." : "Its /health does not answer: " + o.proxy_detail);
  }
  if (o.proxy_health && o.proxy_up.value_or(true)) {
    const bool degraded = *o.proxy_health != "healthy";
    Set("proxy_degraded", degraded, AlertSeverity::kWarning,
        degraded ? "chroma-ha reports " + *o.proxy_health : "chroma-ha reports healthy again",
        degraded ? "Not every instance can serve (see /status)." : "Every instance serves.");
  }
  if (o.instances) {
    for (const auto& i : *o.instances) SetInstance(i.name, i.healthy, i.detail);
  }
  ObserveStore(o);
  if (o.unresolved) ObserveUnresolved(*o.unresolved);
  if (o.divergent) ObserveDivergent(*o.divergent);
  if (o.unknown_writes_forwarded) ObserveUnknownWrites(*o.unknown_writes_forwarded);
  if (o.store_readable.value_or(false)) {
    if (o.blocked) ObserveBlocked(*o.blocked);
    if (o.backlog) ObserveBacklog(*o.backlog);
  }
  if (o.memory_percent) {
    const bool high = *o.memory_percent > thresholds_.memory_percent;
    Set("memory", high, AlertSeverity::kWarning,
        high ? "Memory use " + Percent(*o.memory_percent) : "Memory use back to normal",
        "Threshold " + Percent(thresholds_.memory_percent) + " (WAL_MEMORY_THRESHOLD); replay "
            "batches shrink while it is exceeded.");
  }
  if (o.cpu_percent) {
    const bool high = *o.cpu_percent > thresholds_.cpu_percent;
    Set("cpu", high, AlertSeverity::kWarning,
        high ? "CPU use " + Percent(*o.cpu_percent) : "CPU use back to normal",
        "Threshold " + Percent(thresholds_.cpu_percent) + " (WAL_CPU_THRESHOLD); replay "
            "batches shrink while it is exceeded.");
  }
}

std::vector<std::string> AlertRules::Firing() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, firing] : firing_) {
    if (firing) out.push_back(key);
  }
  return out;
}

}  // namespace chroma_ha

