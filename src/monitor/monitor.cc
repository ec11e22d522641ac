#include "monitor/monitor.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "alerts/alerting.h"
#include "config/url.h"
#include "upstream/blocking_client.h"

namespace chroma_ha {

using nlohmann::json;

namespace {

// Deadline for chroma-ha's /health and /wal/status (the store read may take a moment).
constexpr std::chrono::milliseconds kProxyTimeout{5000};

std::string Describe(const Result<HttpResponse>& r) {
  if (!r.ok()) return r.status().message();
  return "HTTP " + std::to_string(r->status);
}

void SetUpLogging(const Config& config) {
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (config.log_format == LogFormat::kJson) {
    spdlog::set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
}

// Waits for SIGINT/SIGTERM on its own thread; Wait() sleeps until then or a timeout.
class StopSignal {
 public:
  StopSignal() : signals_(ioc_, SIGINT, SIGTERM) {
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("monitor: signal {} received, stopping", sig);
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    });
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~StopSignal() {
    boost::asio::post(ioc_, [this] { signals_.cancel(); });
    thread_.join();
  }
  // True when a stop was requested (at once or within `timeout`).
  bool Wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return stop_; });
  }
  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::signal_set signals_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<InstanceClient> MakeProxyClient(const Config& config,
                                                std::chrono::milliseconds timeout) {
  std::string error;
  auto proxy = ParseInstanceUrl(config.monitor_proxy_url, &error);
  if (!proxy) throw ConfigError("PROXY_URL/LOAD_BALANCER_URL: " + error);
  proxy->name = "chroma-ha";
  return std::make_unique<BlockingInstanceClient>(*proxy, config.connect_timeout, timeout, 1);
}

Monitor::Monitor(const Config& config, InstanceClient& proxy,
                 std::vector<InstanceClient*> instances, AlertRules& rules,
                 std::chrono::milliseconds retry_pause)
    : config_(config),
      proxy_(proxy),
      instances_(std::move(instances)),
      rules_(rules),
      retry_pause_(retry_pause) {}

Result<HttpResponse> Monitor::Get(InstanceClient& client, const std::string& target, bool retry) {
  HttpRequest req;
  req.method = "GET";
  req.target = target;
  if (!config_.status_token.empty()) {
    req.headers.push_back({"authorization", "Bearer " + config_.status_token});
  }
  auto r = client.Send(req);
  if (retry && (!r.ok() || r->status >= 500)) {
    std::this_thread::sleep_for(retry_pause_);
    r = client.Send(req);
  }
  return r;
}

void Monitor::CheckProxy(AlertObservation* o) {
  auto health = Get(proxy_, "/health", true);
  // 503 with a JSON body is chroma-ha saying "no instance can serve": it is up.
  json body = health.ok() ? json::parse(health->body, nullptr, false) : json();
  const bool up = health.ok() && body.is_object() && body.contains("status");
  o->proxy_up = up;
  if (!up) {
    o->proxy_detail = Describe(health);
    return;
  }
  if (body["status"].is_string()) o->proxy_health = body["status"].get<std::string>();

  auto wal = Get(proxy_, "/wal/status", false);
  if (!wal.ok() || wal->status == 404) return;  // down (seen next round) or WAL disabled
  if (wal->status != 200) {
    o->store_readable = false;
    json err = json::parse(wal->body, nullptr, false);
    o->store_detail = err.is_object() && err.value("message", json()).is_string()
                          ? err["message"].get<std::string>()
                          : "/wal/status answered " + Describe(wal);
    return;
  }
  json w = json::parse(wal->body, nullptr, false);
  if (!w.is_object() || !w.value("instances", json()).is_array()) return;
  o->store_readable = true;
  o->backlog.emplace();
  for (const auto& i : w["instances"]) {
    if (!i.is_object()) continue;
    o->backlog->push_back({i.value("name", ""), i.value("pending_entries", int64_t{0}),
                           i.value("lag_seconds", 0.0)});
  }
  o->blocked.emplace();
  if (w.value("blocked", json()).is_array()) {
    for (const auto& b : w["blocked"]) {
      if (!b.is_object()) continue;
      o->blocked->push_back({b.value("instance", ""), b.value("tenant", ""),
                             b.value("database", ""), b.value("collection", ""),
                             b.value("error", ""), b.value("seq", int64_t{0})});
    }
  }
}

AlertObservation Monitor::Check() {
  AlertObservation o;
  CheckProxy(&o);
  o.instances.emplace();
  for (std::size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i] == nullptr) continue;
    auto r = Get(*instances_[i], "/api/v2/heartbeat", true);
    const bool healthy = r.ok() && r->status == 200;
    o.instances->push_back({config_.instances[i].name, healthy,
                            healthy ? "" : "Its heartbeat failed: " + Describe(r) + "."});
  }
  return o;
}

void Monitor::RunOnce() {
  AlertObservation o = Check();
  std::size_t healthy = 0;
  for (const auto& i : *o.instances) healthy += i.healthy ? 1 : 0;
  spdlog::debug("monitor: chroma-ha {}, {}/{} instance(s) answer their heartbeat",
                o.proxy_up.value_or(false) ? o.proxy_health.value_or("up") : "unreachable",
                healthy, o.instances->size());
  rules_.Observe(o);
}

std::string MonitorHelpText() {
  return "Usage: chroma-ha monitor [--help]\n\n"
         "Watches a chroma-ha deployment from outside and sends alerts. Every MONITOR_INTERVAL\n"
         "seconds it polls chroma-ha at PROXY_URL (/health, /wal/status) and the heartbeat of\n"
         "every instance of PRIMARY_URL and REPLICA_URL(S), and alerts when chroma-ha is\n"
         "unreachable or degraded, an instance is down, the WAL store cannot be read, a\n"
         "collection's replication is blocked, or the backlog or lag is over ALERT_BACKLOG_ENTRIES\n"
         "/ ALERT_LAG_SECONDS; and again when each recovers. Alerts go to SLACK_WEBHOOK_URL\n"
         "(on unless SLACK_ALERTS_ENABLED=false) and/or ALERT_WEBHOOK_URL, rate limited by\n"
         "ALERT_MIN_INTERVAL_SECONDS and ALERT_MAX_PER_MINUTE. STATUS_TOKEN is sent when set.\n"
         "LOAD_BALANCER_URL (the old monitor's name) is read when PROXY_URL is unset.\n"
         "Stops on SIGTERM or SIGINT. The variables are those of `chroma-ha --help`.\n";
}

int RunMonitor(const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(MonitorHelpText().c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "chroma-ha monitor: unknown argument '%s' (see --help)\n", a.c_str());
    return 2;
  }
  Config config;
  std::vector<std::string> warnings;
  std::unique_ptr<InstanceClient> proxy;
  std::vector<std::unique_ptr<BlockingInstanceClient>> clients;
  try {
    config = LoadConfig(env, &warnings);
    auto slack = env.find("SLACK_ALERTS_ENABLED");
    if (!config.slack_webhook_url.empty() &&
        (slack == env.end() || slack->second.find_first_not_of(" \t") == std::string::npos)) {
      config.slack_alerts_enabled = true;  // the monitor exists to alert: Slack on by default
    }
    proxy = MakeProxyClient(config, kProxyTimeout);
    for (const auto& inst : config.instances) {
      clients.push_back(std::make_unique<BlockingInstanceClient>(inst, config.connect_timeout,
                                                                 config.health_timeout, 1));
    }
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "chroma-ha monitor: configuration error: %s\n", e.what());
    return 2;
  }
  SetUpLogging(config);
  for (const auto& w : warnings) spdlog::warn("{}", w);

  SystemClock clock;
  Alerting alerting(config, clock);
  AlertRules rules(Alerting::Thresholds(config), alerting);
  std::vector<InstanceClient*> raw;
  for (auto& c : clients) raw.push_back(c.get());
  Monitor monitor(config, *proxy, raw, rules);
  StopSignal stop;
  alerting.Start();
  spdlog::info("chroma-ha monitor {}: watching {} and {} instance(s) every {} ms",
               CHROMA_HA_VERSION, RedactUrl(config.monitor_proxy_url), config.instances.size(),
               config.monitor_interval.count());
  while (!stop.stopped()) {
    monitor.RunOnce();
    if (stop.Wait(config.monitor_interval)) break;
  }
  alerting.Stop();
  spdlog::info("chroma-ha monitor stopped");
  return 0;
}

}  // namespace chroma_ha
