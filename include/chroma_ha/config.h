// chroma-ha's configuration: read once at start from environment variables, validated, then
// passed by reference to whoever needs it. Implemented in src/config/config.cc.
#ifndef CHROMA_HA_CONFIG_H_
#define CHROMA_HA_CONFIG_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace chroma_ha {

enum class Strategy { kOptimizedReadReplica, kPrimaryOnly, kRoundRobin };
enum class ReadConsistency { kFresh, kEventual };
enum class UnknownWriteRoutes { kRefuse, kPrimary };
enum class LogFormat { kText, kJson };

struct InstanceConfig {
  std::string name;  // "primary", "replica", "replica2", ...
  std::string url;   // as configured, e.g. "http://127.0.0.1:8001" (no trailing slash)
  std::string host;  // "127.0.0.1"
  uint16_t port = 0;
  bool tls = false;  // https:// (verified TLS to the instance); false for http://
  bool is_primary = false;
};

struct Config {
  // Listener.
  std::string listen_address = "0.0.0.0";  // LISTEN_ADDRESS
  uint16_t port = 8000;                      // PORT
  int threads = 0;                           // THREADS; 0 = number of cores
  std::size_t max_body_bytes = 40u << 20;    // MAX_BODY_BYTES (<= 40 MiB)
  std::size_t max_header_bytes = 16u << 10;  // MAX_HEADER_BYTES
  std::chrono::milliseconds header_timeout{10000};   // HEADER_TIMEOUT_MS
  std::chrono::milliseconds idle_timeout{60000};     // IDLE_TIMEOUT_MS
  std::chrono::milliseconds shutdown_grace{10000};   // SHUTDOWN_GRACE_MS
  // MAX_CONCURRENT_REQUESTS: proxied requests served at once (more: 503 + Retry-After);
  // default 128 per core; 0 = no cap.
  int max_concurrent_requests = 0;
  // MAX_CONNECTIONS: client connections open at once (more: 503 + Retry-After, then closed);
  // default 4096; 0 = no cap.
  int max_connections = 4096;
  // TLS_CERT_FILE / TLS_KEY_FILE (PEM; both or neither): terminate TLS on the listener (https
  // only). Re-read on SIGHUP. Empty = plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;

  // Instances: instances[0] is the primary, the rest are replicas.
  std::vector<InstanceConfig> instances;  // PRIMARY_URL, REPLICA_URL | REPLICA_URLS
  Strategy strategy = Strategy::kOptimizedReadReplica;  // LOAD_BALANCE_STRATEGY
  double read_replica_ratio = 1.0;  // READ_REPLICA_RATIO: share of reads to replicas (0..1)
  ReadConsistency read_consistency = ReadConsistency::kFresh;  // READ_CONSISTENCY
  // UNKNOWN_WRITE_ROUTES: a mutating request to a route the classifier does not know is refused
  // (501) or forwarded to the primary only (unlogged, not replicated; counted and alerted).
  UnknownWriteRoutes unknown_write_routes = UnknownWriteRoutes::kRefuse;
  // CAUSAL_WAIT_MS: how long a read with X-Chroma-HA-Min-Seq waits for a replica to catch up
  // before a caught-up primary serves it.
  std::chrono::milliseconds causal_wait{100};

  // Upstream.
  std::chrono::milliseconds connect_timeout{2000};   // CONNECT_TIMEOUT_MS
  std::chrono::milliseconds request_timeout{30000};  // REQUEST_TIMEOUT (seconds, old name)
  int pool_size = 32;                                // CONNECTION_POOL_SIZE (idle per instance)
  std::chrono::milliseconds health_interval{2000};   // CHECK_INTERVAL (seconds) | HEALTH_CHECK_INTERVAL_MS
  std::chrono::milliseconds health_timeout{1000};    // HEALTH_CHECK_TIMEOUT_MS
  int unhealthy_threshold = 2;  // FAILURE_THRESHOLD: failures in a row that mark an instance down
  int healthy_threshold = 1;    // HEALTHY_THRESHOLD: successes in a row that mark it up again
  std::chrono::milliseconds circuit_breaker_timeout{5000};  // CIRCUIT_BREAKER_TIMEOUT (seconds)

  // Write-ahead log.
  bool wal_enabled = true;           // WAL_ENABLED
  std::string database_url;          // DATABASE_URL; empty = SQLite at wal_path
  std::string wal_path = "data/wal.sqlite3";  // WAL_PATH
  int wal_batch_size = 100;                   // WAL_BATCH_SIZE
  int wal_high_volume_batch_size = 1000;      // WAL_HIGH_VOLUME_BATCH_SIZE
  int wal_replay_concurrency = 4;             // WAL_REPLAY_CONCURRENCY (requests in flight)
  std::chrono::milliseconds wal_sync_interval{10000};  // WAL_SYNC_INTERVAL (seconds)
  bool wal_deletion_conversion = true;                 // WAL_DELETION_CONVERSION
  double wal_memory_threshold = 80;  // WAL_MEMORY_THRESHOLD (percent)
  double wal_cpu_threshold = 80;     // WAL_CPU_THRESHOLD (percent)
  int wal_retention_hours = 24;      // WAL_RETENTION_HOURS
  int wal_retry_attempts = 3;        // WAL_RETRY_ATTEMPTS: forward retries on no answer
  std::chrono::milliseconds wal_retry_delay{1000};  // WAL_RETRY_DELAY (seconds): backoff base
  // WAL_APPEND_TIMEOUT_MS: a write whose WAL append is not durable by then is answered 503.
  std::chrono::milliseconds wal_append_timeout{2000};
  int wal_queue_limit = 10000;  // WAL_QUEUE_LIMIT: appends waiting for the WAL writer; more: 503
  // WAL_STORE_TIMEOUT_MS: PostgreSQL statement_timeout, tcp_user_timeout and connect deadline.
  std::chrono::milliseconds wal_store_timeout{5000};
  // LEASE_TTL_MS: replay and recovery leases (several processes on one store); renewed every
  // third of it, so a dead holder is taken over within about this long.
  std::chrono::milliseconds lease_ttl{2000};
  // Resync (src/resync/): AUTO_RESYNC starts one by itself for an instance that came back empty
  // or fell behind the retention window; RESYNC_PAGE_SIZE records per copied page.
  bool auto_resync = true;   // AUTO_RESYNC
  int resync_page_size = 1000;  // RESYNC_PAGE_SIZE
  // Anti-entropy (src/verify/anti_entropy.h): VERIFY_INTERVAL seconds between background
  // comparisons of the instances, 0 = off; AUTO_REPAIR: repair a divergent collection.
  std::chrono::milliseconds verify_interval{0};
  bool auto_repair = false;

  // Security and alerts.
  std::string admin_token;   // ADMIN_TOKEN; empty = admin actions off
  std::string status_token;  // STATUS_TOKEN; empty = status endpoints open
  bool allow_reset = false;  // ALLOW_RESET
  // Client authentication, Chroma-compatible (src/auth/; off when both credentials are unset).
  std::string auth_credentials;       // CHROMA_SERVER_AUTHN_CREDENTIALS: one full-access token
  std::string auth_credentials_file;  // CHROMA_SERVER_AUTHN_CREDENTIALS_FILE: JSON, scoped users
  bool auth_x_chroma_token = false;   // CHROMA_AUTH_TOKEN_TRANSPORT_HEADER=X-Chroma-Token
  int auth_failures_per_minute = 10;  // AUTH_FAILURES_PER_MINUTE per client address; 0 = no cap
  bool auth_trust_forwarded_for = false;  // AUTH_TRUST_FORWARDED_FOR: address = last XFF entry
  std::string slack_webhook_url;  // SLACK_WEBHOOK_URL
  bool slack_alerts_enabled = false;  // SLACK_ALERTS_ENABLED
  std::string alert_webhook_url;      // ALERT_WEBHOOK_URL
  std::chrono::milliseconds alert_min_interval{60000};  // ALERT_MIN_INTERVAL_SECONDS (per key)
  int alert_max_per_minute = 20;                        // ALERT_MAX_PER_MINUTE; 0 = no cap
  int64_t alert_backlog_entries = 1000;                 // ALERT_BACKLOG_ENTRIES
  double alert_lag_seconds = 60;                        // ALERT_LAG_SECONDS

  // `chroma-ha monitor` only.
  std::string monitor_proxy_url = "http://127.0.0.1:8000";  // PROXY_URL (bare host:port: http)
  std::chrono::milliseconds monitor_interval{30000};        // MONITOR_INTERVAL (seconds)

  // Logging.
  std::string log_level = "info";  // LOG_LEVEL: trace|debug|info|warn|error
  LogFormat log_format = LogFormat::kText;  // LOG_FORMAT: text|json
};

// Thrown by LoadConfig; what() names the variable and says what is wrong with its value.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads and validates every variable. `warnings` receives one line naming the old system's
// variables that are set but have no effect here. Throws ConfigError on the first bad value.
Config LoadConfig(const std::map<std::string, std::string>& env,
                  std::vector<std::string>* warnings);

// The environment of this process as a map (for LoadConfig).
std::map<std::string, std::string> ProcessEnvironment();

// `chroma-ha --help`: every variable, its default and meaning.
std::string HelpText();

const char* StrategyName(Strategy s);  // "optimized_read_replica", ...

// The DATABASE_URL with any password replaced by "***", for logs and /status.
std::string RedactUrl(const std::string& url);

}  // namespace chroma_ha

#endif  // CHROMA_HA_CONFIG_H_
