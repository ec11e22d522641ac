// Alerts: what the proxy and `chroma-ha monitor` tell operators (Slack or a generic webhook).
//
// An Alert is one state change of one condition, named by a stable dedup `key` such as
// "instance_down/replica" or "replication_blocked/replica/default_tenant/default_database/docs".
// `resolved` false = the condition started (or is still) firing; true = it ended. Senders
// deduplicate by key (firing -> firing is not re-sent; firing -> resolved is sent once) and rate
// limit per key and globally, so producers may report every state they observe.
#ifndef CHROMA_HA_ALERT_SINK_H_
#define CHROMA_HA_ALERT_SINK_H_

#include <string>

namespace chroma_ha {

enum class AlertSeverity { kInfo, kWarning, kCritical };

// "info", "warning", "critical".
inline const char* SeverityName(AlertSeverity s) {
  switch (s) {
    case AlertSeverity::kInfo:
      return "info";
    case AlertSeverity::kWarning:
      return "warning";
    case AlertSeverity::kCritical:
      return "critical";
  }
  return "warning";
}

struct Alert {
  std::string key;    // dedup key: "<condition>/<subject>", stable across occurrences
  AlertSeverity severity = AlertSeverity::kWarning;
  std::string title;  // one line, e.g. "Instance replica is down"
  std::string text;   // details; never secrets, URLs with credentials or request bodies
  bool resolved = false;
};

// Where alerts go. Send() must not block: implementations queue (bounded) and deliver from
// their own thread, dropping and counting what does not fit. Thread-safe: any thread may call
// Send() at any time while the sink is alive.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void Send(const Alert& alert) = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERT_SINK_H_
