// `chroma-ha monitor`: the same binary as a worker (Render's chroma-monitor) that watches a
// deployment from outside and alerts through the same rules and senders as the proxy.
//
// Every MONITOR_INTERVAL seconds it polls chroma-ha at PROXY_URL (or, when that is unset, the old
// Python monitor's LOAD_BALANCER_URL) (GET /health, GET /wal/status)
// and every instance of PRIMARY_URL / REPLICA_URL(S) (GET /api/v2/heartbeat), and feeds what it
// saw to AlertRules: chroma-ha unreachable (proxy_down), chroma-ha not "healthy"
// (proxy_degraded), an instance not answering (instance_down/<name>), the WAL store unreadable
// (/wal/status 503), blocked collections, backlog and lag over ALERT_BACKLOG_ENTRIES /
// ALERT_LAG_SECONDS; and the matching "recovered" messages. A probe that fails is retried once
// after a short pause before it counts. Alerts go to SLACK_WEBHOOK_URL (Slack is on by default
// here when the URL is set and SLACK_ALERTS_ENABLED is unset) and/or ALERT_WEBHOOK_URL.
// STATUS_TOKEN, when set, is sent as a bearer token. Exits 0 on SIGTERM/SIGINT, 2 on a bad
// configuration.
#ifndef CHROMA_HA_MONITOR_MONITOR_H_
#define CHROMA_HA_MONITOR_MONITOR_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alerts/alert_rules.h"
#include "chroma_ha/config.h"
#include "chroma_ha/instance_client.h"

namespace chroma_ha {

// One polling round, blocking (HTTP with deadlines). Clients are not owned and must outlive it;
// `instances` is index-aligned with config.instances.
class Monitor {
 public:
  Monitor(const Config& config, InstanceClient& proxy, std::vector<InstanceClient*> instances,
          AlertRules& rules, std::chrono::milliseconds retry_pause = std::chrono::milliseconds(500));

  // Polls everything once and returns what it saw.
  AlertObservation Check();
  // Check() and hand the result to the rules.
  void RunOnce();

 private:
  Result<HttpResponse> Get(InstanceClient& client, const std::string& target, bool retry);
  void CheckProxy(AlertObservation* o);

  const Config& config_;
  InstanceClient& proxy_;
  std::vector<InstanceClient*> instances_;
  AlertRules& rules_;
  std::chrono::milliseconds retry_pause_;
};

// A blocking client for chroma-ha itself at config.monitor_proxy_url (PROXY_URL, else
// LOAD_BALANCER_URL), with `timeout` per request. Shared by `monitor` and `resync`.
// Throws ConfigError when the URL cannot be used.
std::unique_ptr<InstanceClient> MakeProxyClient(const Config& config,
                                                std::chrono::milliseconds timeout);

// `args` are the arguments after "monitor" (only --help); `env` the process environment.
int RunMonitor(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

// `chroma-ha monitor --help`.
std::string MonitorHelpText();

}  // namespace chroma_ha

#endif  // CHROMA_HA_MONITOR_MONITOR_H_
