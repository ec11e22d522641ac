// LoadConfig(): every variable of config/config_vars.h, validated. Values are trimmed of
// surrounding whitespace; an empty value counts as unset. Error messages name the variable and
// quote the value, except for secrets (never quoted) and URLs (user:password hidden).
#include "chroma_ha/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>
#include <thread>

#include "config/config_vars.h"
#include "config/url.h"

extern char** environ;

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

std::string Trim(std::string_view s) {
  const char* ws = " \t\r\n";
  std::size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(ws) - b + 1));
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads variables through the table only.
class Env {
 public:
  explicit Env(const std::map<std::string, std::string>& env) : env_(env) {}

  std::optional<std::string> Get(const char* name) const {
    if (FindConfigVariable(name) == nullptr) {
      throw ConfigError(std::string("internal error: ") + name + " is not in the variable table");
    }
    auto it = env_.find(name);
    if (it == env_.end()) return std::nullopt;
    std::string v = Trim(it->second);
    if (v.empty()) return std::nullopt;
    return v;
  }

  // `NAME: "value" <what>`, the value hidden for secrets and URL passwords.
  [[noreturn]] void Fail(const char* name, const std::string& value,
                         const std::string& what) const {
    const ConfigVariable* var = FindConfigVariable(name);
    std::string shown = var != nullptr && var->secret ? std::string("the value (hidden)")
                                                      : "\"" + RedactUrl(value) + "\"";
    throw ConfigError(std::string(name) + ": " + shown + " " + what);
  }

 private:
  const std::map<std::string, std::string>& env_;
};

void ReadInt(const Env& env, const char* name, long long min, long long max, int* out) {
  auto v = env.Get(name);
  if (!v) return;
  long long n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || n < min || n > max) {
    env.Fail(name, *v,
             "is not an integer between " + std::to_string(min) + " and " + std::to_string(max));
  }
  *out = static_cast<int>(n);
}

void ReadSize(const Env& env, const char* name, long long min, long long max, std::size_t* out) {
  int n = static_cast<int>(*out);
  ReadInt(env, name, min, max, &n);
  *out = static_cast<std::size_t>(n);
}

bool ParseDouble(const std::string& v, double* out) {
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  return ec == std::errc() && end == v.data() + v.size() && std::isfinite(*out);
}

void ReadDouble(const Env& env, const char* name, double min, double max, const char* what,
                double* out) {
  auto v = env.Get(name);
  if (!v) return;
  double d = 0;
  if (!ParseDouble(*v, &d) || d < min || d > max) env.Fail(name, *v, what);
  *out = d;
}

void ReadMillis(const Env& env, const char* name, long long min, long long max, milliseconds* out) {
  int n = static_cast<int>(out->count());
  ReadInt(env, name, min, max, &n);
  *out = milliseconds(n);
}

// Seconds, fractions allowed ("0.5"), stored as milliseconds.
void ReadSeconds(const Env& env, const char* name, double min_s, double max_s, milliseconds* out) {
  auto v = env.Get(name);
  if (!v) return;
  double d = 0;
  if (!ParseDouble(*v, &d) || d < min_s || d > max_s) {
    char range[64];
    std::snprintf(range, sizeof range, "%g and %g", min_s, max_s);
    env.Fail(name, *v, std::string("is not a number of seconds between ") + range);
  }
  *out = milliseconds(static_cast<long long>(std::llround(d * 1000)));
}

void ReadBool(const Env& env, const char* name, bool* out) {
  auto v = env.Get(name);
  if (!v) return;
  std::string s = Lower(*v);
  if (s == "true" || s == "1" || s == "yes" || s == "on") {
    *out = true;
  } else if (s == "false" || s == "0" || s == "no" || s == "off") {
    *out = false;
  } else {
    env.Fail(name, *v, "is not a boolean (true/false, 1/0, yes/no)");
  }
}

// Client authentication (src/auth/): the credentials' contents are checked when auth starts.
void ReadClientAuth(const Env& env, Config* c) {
  if (auto v = env.Get("CHROMA_SERVER_AUTHN_CREDENTIALS")) c->auth_credentials = *v;
  if (auto v = env.Get("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE")) c->auth_credentials_file = *v;
  if (!c->auth_credentials.empty() && !c->auth_credentials_file.empty()) {
    env.Fail("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", c->auth_credentials_file,
             "cannot be set with CHROMA_SERVER_AUTHN_CREDENTIALS (choose one)");
  }
  if (auto v = env.Get("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER")) {
    const std::string s = Lower(*v);
    if (s == "authorization") {
      c->auth_x_chroma_token = false;
    } else if (s == "x-chroma-token" || s == "x_chroma_token") {
      c->auth_x_chroma_token = true;
    } else {
      env.Fail("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", *v,
               "is not Authorization or X-Chroma-Token");
    }
  }
  ReadInt(env, "AUTH_FAILURES_PER_MINUTE", 0, 100000, &c->auth_failures_per_minute);
  ReadBool(env, "AUTH_TRUST_FORWARDED_FOR", &c->auth_trust_forwarded_for);
}

template <typename T>
void ReadEnum(const Env& env, const char* name,
              std::initializer_list<std::pair<const char*, T>> choices, T* out) {
  auto v = env.Get(name);
  if (!v) return;
  std::string s = Lower(*v);
  std::string names;
  for (const auto& [text, value] : choices) {
    if (s == text) {
      *out = value;
      return;
    }
    names += names.empty() ? text : std::string(", ") + text;
  }
  env.Fail(name, *v, "is not one of: " + names);
}

uint16_t ParsePort(const Env& env, const char* name, const std::string& v) {
  unsigned n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > 65535) {
    env.Fail(name, v, "is not a port number (1-65535)");
  }
  return static_cast<uint16_t>(n);
}

// A webhook URL: http(s)://host[:port] followed by any path. A secret: never quoted.
std::string ParseWebhook(const Env& env, const char* name, const std::string& v) {
  std::string error;
  std::size_t scheme = v.find("://");
  std::size_t path = scheme == std::string::npos ? scheme : v.find_first_of("/?#", scheme + 3);
  if (!ParseInstanceUrl(std::string_view(v).substr(0, path), &error)) {
    env.Fail(name, v, "is not an http:// or https:// URL with a host");
  }
  return v;
}

InstanceConfig ParseInstance(const Env& env, const char* var, const std::string& value,
                             std::string name, bool primary) {
  std::string error;
  auto inst = ParseInstanceUrl(value, &error);
  if (!inst) env.Fail(var, value, error);
  inst->name = std::move(name);
  inst->is_primary = primary;
  return *inst;
}

// TLS_CERT_FILE and TLS_KEY_FILE: both or neither (the files are read by the listener).
void ReadListenerTls(const Env& env, Config* c) {
  auto cert = env.Get("TLS_CERT_FILE");
  auto key = env.Get("TLS_KEY_FILE");
  if (cert.has_value() != key.has_value()) {
    throw ConfigError(std::string(cert ? "TLS_KEY_FILE" : "TLS_CERT_FILE") + ": not set, but " +
                      (cert ? "TLS_CERT_FILE" : "TLS_KEY_FILE") +
                      " is; set both to serve https, or neither");
  }
  if (cert) {
    c->tls_cert_file = *cert;
    c->tls_key_file = *key;
  }
}

// PRIMARY_URL and REPLICA_URL | REPLICA_URLS; all unset = the local defaults of the run script.
std::vector<InstanceConfig> ReadInstances(const Env& env, std::vector<std::string>* notes) {
  auto primary = env.Get("PRIMARY_URL");
  auto replica = env.Get("REPLICA_URL");
  auto replicas = env.Get("REPLICA_URLS");
  if (!primary && !replica && !replicas) {
    primary = "http://127.0.0.1:8001";
    replica = "http://127.0.0.1:8002";
  }
  if (!primary) {
    throw ConfigError(std::string("PRIMARY_URL: not set, but ") +
                      (replica ? "REPLICA_URL" : "REPLICA_URLS") + " is; set both");
  }
  if (replica && replicas) {
    throw ConfigError("REPLICA_URLS: set either REPLICA_URL or REPLICA_URLS, not both");
  }
  std::vector<InstanceConfig> out;
  out.push_back(ParseInstance(env, "PRIMARY_URL", *primary, "primary", true));
  const char* var = replica ? "REPLICA_URL" : "REPLICA_URLS";
  std::string list = replica ? *replica : replicas.value_or("");
  std::size_t pos = 0;
  while (pos <= list.size() && !list.empty()) {
    std::size_t comma = std::min(list.find(',', pos), list.size());
    std::string item = Trim(std::string_view(list).substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    std::string name = out.size() == 1 ? "replica" : "replica" + std::to_string(out.size());
    InstanceConfig inst = ParseInstance(env, var, item, std::move(name), false);
    for (const InstanceConfig& other : out) {
      if (Lower(other.host) == Lower(inst.host) && other.port == inst.port) {
        env.Fail(var, item,
                 "names the same server as " +
                     std::string(other.is_primary ? "PRIMARY_URL" : other.name));
      }
    }
    out.push_back(std::move(inst));
  }
  if (out.size() == 1) {
    notes->push_back("no REPLICA_URL set: running with the primary only (no high availability)");
  }
  return out;
}

}  // namespace

Config LoadConfig(const std::map<std::string, std::string>& env_map,
                  std::vector<std::string>* warnings) {
  Env env(env_map);
  Config c;
  std::vector<std::string> notes;
  if (auto v = env.Get("LISTEN_ADDRESS")) {
    if (v->find_first_of(" \t/") != std::string::npos)
      env.Fail("LISTEN_ADDRESS", *v, "is not an address");
    c.listen_address = *v;
  }
  if (auto v = env.Get("PORT")) c.port = ParsePort(env, "PORT", *v);
  ReadInt(env, "THREADS", 0, 1024, &c.threads);
  ReadSize(env, "MAX_BODY_BYTES", 1, 40ll << 20, &c.max_body_bytes);
  ReadSize(env, "MAX_HEADER_BYTES", 1024, 1 << 20, &c.max_header_bytes);
  ReadMillis(env, "HEADER_TIMEOUT_MS", 1, 3600000, &c.header_timeout);
  ReadMillis(env, "IDLE_TIMEOUT_MS", 1, 86400000, &c.idle_timeout);
  ReadMillis(env, "SHUTDOWN_GRACE_MS", 0, 3600000, &c.shutdown_grace);
  c.max_concurrent_requests =
      128 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ReadInt(env, "MAX_CONCURRENT_REQUESTS", 0, 1000000, &c.max_concurrent_requests);
  ReadInt(env, "MAX_CONNECTIONS", 0, 1000000, &c.max_connections);
  ReadListenerTls(env, &c);

  c.instances = ReadInstances(env, &notes);
  ReadEnum<Strategy>(env, "LOAD_BALANCE_STRATEGY",
                     {{"optimized_read_replica", Strategy::kOptimizedReadReplica},
                      {"primary_only", Strategy::kPrimaryOnly},
                      {"round_robin", Strategy::kRoundRobin}},
                     &c.strategy);
  ReadDouble(env, "READ_REPLICA_RATIO", 0, 1, "is not a number between 0 and 1",
             &c.read_replica_ratio);
  ReadEnum<ReadConsistency>(
      env, "READ_CONSISTENCY",
      {{"fresh", ReadConsistency::kFresh}, {"eventual", ReadConsistency::kEventual}},
      &c.read_consistency);
  ReadEnum<UnknownWriteRoutes>(
      env, "UNKNOWN_WRITE_ROUTES",
      {{"refuse", UnknownWriteRoutes::kRefuse}, {"primary", UnknownWriteRoutes::kPrimary}},
      &c.unknown_write_routes);
  ReadMillis(env, "CAUSAL_WAIT_MS", 0, 60000, &c.causal_wait);

  ReadMillis(env, "CONNECT_TIMEOUT_MS", 1, 600000, &c.connect_timeout);
  ReadSeconds(env, "REQUEST_TIMEOUT", 0.001, 3600, &c.request_timeout);
  ReadInt(env, "CONNECTION_POOL_SIZE", 1, 10000, &c.pool_size);
  ReadSeconds(env, "CHECK_INTERVAL", 0.01, 3600, &c.health_interval);
  ReadMillis(env, "HEALTH_CHECK_INTERVAL_MS", 10, 3600000, &c.health_interval);
  ReadMillis(env, "HEALTH_CHECK_TIMEOUT_MS", 1, 600000, &c.health_timeout);
  ReadInt(env, "FAILURE_THRESHOLD", 1, 1000, &c.unhealthy_threshold);
  ReadInt(env, "HEALTHY_THRESHOLD", 1, 1000, &c.healthy_threshold);
  ReadSeconds(env, "CIRCUIT_BREAKER_TIMEOUT", 0, 86400, &c.circuit_breaker_timeout);

  ReadBool(env, "WAL_ENABLED", &c.wal_enabled);
  if (auto v = env.Get("DATABASE_URL")) {
    std::string lower = Lower(*v);
    bool uri = lower.rfind("postgres://", 0) == 0 || lower.rfind("postgresql://", 0) == 0;
    if (!uri && v->find('=') == std::string::npos) {
      env.Fail("DATABASE_URL", *v,
               "is not a PostgreSQL connection string (postgres://... or key=value ...)");
    }
    c.database_url = *v;
  }
  if (auto v = env.Get("WAL_PATH")) c.wal_path = *v;
  ReadInt(env, "WAL_BATCH_SIZE", 1, 100000, &c.wal_batch_size);
  ReadInt(env, "WAL_HIGH_VOLUME_BATCH_SIZE", 1, 100000, &c.wal_high_volume_batch_size);
  ReadInt(env, "WAL_REPLAY_CONCURRENCY", 1, 64, &c.wal_replay_concurrency);
  ReadSeconds(env, "WAL_SYNC_INTERVAL", 0.01, 86400, &c.wal_sync_interval);
  ReadBool(env, "WAL_DELETION_CONVERSION", &c.wal_deletion_conversion);
  ReadDouble(env, "WAL_MEMORY_THRESHOLD", 1, 100, "is not a percentage between 1 and 100",
             &c.wal_memory_threshold);
  ReadDouble(env, "WAL_CPU_THRESHOLD", 1, 100, "is not a percentage between 1 and 100",
             &c.wal_cpu_threshold);
  ReadInt(env, "WAL_RETENTION_HOURS", 1, 87600, &c.wal_retention_hours);
  ReadInt(env, "WAL_RETRY_ATTEMPTS", 0, 100, &c.wal_retry_attempts);
  ReadSeconds(env, "WAL_RETRY_DELAY", 0, 3600, &c.wal_retry_delay);
  ReadMillis(env, "WAL_APPEND_TIMEOUT_MS", 1, 600000, &c.wal_append_timeout);
  ReadInt(env, "WAL_QUEUE_LIMIT", 1, 10000000, &c.wal_queue_limit);
  ReadMillis(env, "WAL_STORE_TIMEOUT_MS", 100, 600000, &c.wal_store_timeout);
  ReadMillis(env, "LEASE_TTL_MS", 300, 600000, &c.lease_ttl);
  ReadBool(env, "AUTO_RESYNC", &c.auto_resync);
  ReadInt(env, "RESYNC_PAGE_SIZE", 1, 10000, &c.resync_page_size);
  ReadSeconds(env, "VERIFY_INTERVAL", 0, 604800, &c.verify_interval);
  ReadBool(env, "AUTO_REPAIR", &c.auto_repair);

  if (auto v = env.Get("ADMIN_TOKEN")) c.admin_token = *v;
  if (auto v = env.Get("STATUS_TOKEN")) c.status_token = *v;
  ReadBool(env, "ALLOW_RESET", &c.allow_reset);
  ReadClientAuth(env, &c);
  if (auto v = env.Get("SLACK_WEBHOOK_URL"))
    c.slack_webhook_url = ParseWebhook(env, "SLACK_WEBHOOK_URL", *v);
  ReadBool(env, "SLACK_ALERTS_ENABLED", &c.slack_alerts_enabled);
  if (auto v = env.Get("ALERT_WEBHOOK_URL"))
    c.alert_webhook_url = ParseWebhook(env, "ALERT_WEBHOOK_URL", *v);
  ReadSeconds(env, "ALERT_MIN_INTERVAL_SECONDS", 0, 86400, &c.alert_min_interval);
  ReadInt(env, "ALERT_MAX_PER_MINUTE", 0, 100000, &c.alert_max_per_minute);
  int backlog = static_cast<int>(c.alert_backlog_entries);
  ReadInt(env, "ALERT_BACKLOG_ENTRIES", 1, 2000000000, &backlog);
  c.alert_backlog_entries = backlog;
  ReadDouble(env, "ALERT_LAG_SECONDS", 0, 31536000, "is not a number of seconds (0..31536000)",
             &c.alert_lag_seconds);
  // The monitor's target: PROXY_URL, else the old monitor's LOAD_BALANCER_URL (same meaning).
  auto proxy_url = env.Get("PROXY_URL");
  auto lb_url = env.Get("LOAD_BALANCER_URL");
  const char* proxy_var = proxy_url ? "PROXY_URL" : "LOAD_BALANCER_URL";
  if (proxy_url && lb_url && *proxy_url != *lb_url) {
    notes.push_back("LOAD_BALANCER_URL is ignored: PROXY_URL is set and wins");
  }
  if (auto v = proxy_url ? proxy_url : lb_url) {
    std::string error;
    auto proxy = ParseInstanceUrl(*v, &error);
    if (!proxy) env.Fail(proxy_var, *v, error);
    c.monitor_proxy_url = proxy->url;
  }
  ReadSeconds(env, "MONITOR_INTERVAL", 0.1, 86400, &c.monitor_interval);

  std::string level = c.log_level;
  ReadEnum<std::string>(env, "LOG_LEVEL",
                        {{"trace", "trace"},
                         {"debug", "debug"},
                         {"info", "info"},
                         {"warn", "warn"},
                         {"warning", "warn"},
                         {"error", "error"}},
                        &level);
  c.log_level = level;
  ReadEnum<LogFormat>(env, "LOG_FORMAT", {{"text", LogFormat::kText}, {"json", LogFormat::kJson}},
                      &c.log_format);

  if (c.slack_alerts_enabled && c.slack_webhook_url.empty()) {
    notes.push_back(
        "SLACK_ALERTS_ENABLED is true but SLACK_WEBHOOK_URL is not set: no Slack alerts");
  }
  std::string ignored;
  for (const ConfigVariable& var : ConfigVariables()) {
    if (var.ignored && env.Get(var.name))
      ignored += (ignored.empty() ? "" : ", ") + std::string(var.name);
  }
  if (!ignored.empty()) {
    notes.push_back("these variables of the old load balancer have no effect here: " + ignored);
  }
  if (warnings != nullptr) warnings->insert(warnings->end(), notes.begin(), notes.end());
  return c;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

const char* StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kOptimizedReadReplica:
      return "optimized_read_replica";
    case Strategy::kPrimaryOnly:
      return "primary_only";
    case Strategy::kRoundRobin:
      return "round_robin";
  }
  return "optimized_read_replica";
}

}  // namespace chroma_ha
