#include "config/config_vars.h"

#include <cstdio>
#include <string>

#include "chroma_ha/config.h"

#ifndef CHROMA_HA_VERSION
#define CHROMA_HA_VERSION "dev"
#endif

namespace chroma_ha {
namespace {

constexpr const char* kListener = "Listener";
constexpr const char* kInstances = "Instances and routing";
constexpr const char* kUpstream = "Upstream connections and health";
constexpr const char* kWal = "Write-ahead log";
constexpr const char* kSecurity = "Security and alerts";
constexpr const char* kMonitor = "Monitor (read by `chroma-ha monitor` only)";
constexpr const char* kLogging = "Logging";
constexpr const char* kIgnored = "Accepted from the old load balancer, no effect here";

const std::vector<ConfigVariable> kVariables = {
    {kListener, "LISTEN_ADDRESS", "0.0.0.0", "Address to listen on."},
    {kListener, "PORT", "8000", "Port to listen on (1-65535)."},
    {kListener, "THREADS", "0", "Event-loop threads; 0 = number of cores."},
    {kListener, "MAX_BODY_BYTES", "41943040",
     "Largest request body (<= 40 MiB); larger: 413, before the body is read (no 100 Continue)."},
    {kListener, "MAX_HEADER_BYTES", "16384", "Largest request header block; larger: 431."},
    {kListener, "HEADER_TIMEOUT_MS", "10000", "Time to receive a request's headers; then 408."},
    {kListener, "IDLE_TIMEOUT_MS", "60000", "Idle keep-alive connections are closed after this."},
    {kListener, "SHUTDOWN_GRACE_MS", "10000", "On SIGTERM, time for requests in flight to end."},
    {kListener, "MAX_CONCURRENT_REQUESTS", "128 x cores",
     "Proxied requests served at once; more get 503 with Retry-After. 0 = no cap. Own "
     "endpoints (/health, /status, ...) and invalid requests (400) are not counted."},
    {kListener, "MAX_CONNECTIONS", "4096",
     "Client connections open at once; more get 503 with Retry-After and are closed without "
     "their request being read. 0 = no cap."},
    {kListener, "TLS_CERT_FILE", "",
     "PEM certificate chain: serve https instead of http (with TLS_KEY_FILE; both or neither). "
     "Re-read on SIGHUP: new connections get the new certificate, open ones keep theirs; a "
     "file that cannot be loaded is an error at start and, on SIGHUP, keeps the old one."},
    {kListener, "TLS_KEY_FILE", "", "PEM private key of TLS_CERT_FILE (unencrypted)."},

    {kInstances, "PRIMARY_URL", "http://127.0.0.1:8001",
     "Primary Chroma server, http(s)://host[:port] (https: verified TLS, default port 443, "
     "trusting the system's CAs, or OpenSSL's SSL_CERT_FILE / SSL_CERT_DIR when set). "
     "Required when a replica is set; when PRIMARY_URL and REPLICA_URL(S) are all unset, the "
     "local defaults shown here are used."},
    {kInstances, "REPLICA_URL", "http://127.0.0.1:8002",
     "Replica Chroma server (named \"replica\"), http(s)://host[:port]."},
    {kInstances, "REPLICA_URLS", "",
     "Comma-separated replicas (\"replica\", \"replica2\", ...); instead of REPLICA_URL."},
    {kInstances, "LOAD_BALANCE_STRATEGY", "optimized_read_replica",
     "Reads: optimized_read_replica (replica first), primary_only or round_robin."},
    {kInstances, "READ_REPLICA_RATIO", "1.0", "Share of reads sent to replicas (0..1)."},
    {kInstances, "READ_CONSISTENCY", "fresh",
     "fresh: reads of a collection with unreplayed writes go to the primary; eventual: never."},
    {kInstances, "UNKNOWN_WRITE_ROUTES", "refuse",
     "A POST/PUT/PATCH/DELETE to a route chroma-ha does not know (e.g. one added by a newer "
     "Chroma): refuse answers 501 JSON naming the route; primary forwards it to the primary "
     "only, unlogged and never replicated (counted, warning alert)."},
    {kInstances, "CAUSAL_WAIT_MS", "100",
     "A read with X-Chroma-HA-Min-Seq waits this long for a replica that has applied the "
     "client's writes up to that sequence, then goes to a caught-up primary."},

    {kUpstream, "CONNECT_TIMEOUT_MS", "2000",
     "Deadline to connect to an instance (TLS handshake included for https)."},

    {kUpstream, "REQUEST_TIMEOUT", "30", "Deadline for a forwarded request, in seconds."},
    {kUpstream, "CONNECTION_POOL_SIZE", "32",
     "Idle keep-alive connections kept per instance (split over the threads); more are kept "
     "after a burst and closed once idle 5 s."},
    {kUpstream, "CHECK_INTERVAL", "2", "Health-check period, in seconds."},
    {kUpstream, "HEALTH_CHECK_INTERVAL_MS", "",
     "Health-check period in ms; overrides CHECK_INTERVAL."},
    {kUpstream, "HEALTH_CHECK_TIMEOUT_MS", "1000", "Deadline for one health check."},
    {kUpstream, "FAILURE_THRESHOLD", "2", "Failed checks in a row that mark an instance down."},
    {kUpstream, "HEALTHY_THRESHOLD", "1", "Good checks in a row that mark it up again."},
    {kUpstream, "CIRCUIT_BREAKER_TIMEOUT", "5",
     "Seconds a failing instance is avoided by client traffic before it is tried again."},

    {kWal, "WAL_ENABLED", "true",
     "Log writes before forwarding them (booleans: true/false, "
     "1/0, yes/no)."},
    {kWal, "DATABASE_URL", "", "PostgreSQL WAL (postgres://... or key=value form); unset = SQLite.",
     true},
    {kWal, "WAL_PATH", "data/wal.sqlite3", "SQLite WAL file when DATABASE_URL is unset."},
    {kWal, "WAL_BATCH_SIZE", "100", "Entries replayed per batch."},
    {kWal, "WAL_APPEND_TIMEOUT_MS", "2000",
     "A write whose WAL append is not durable within this is answered 503 (not applied)."},
    {kWal, "WAL_QUEUE_LIMIT", "10000",
     "Writes waiting for the WAL writer at once; more get 503 with Retry-After."},
    {kWal, "WAL_STORE_TIMEOUT_MS", "5000",
     "PostgreSQL WAL: statement_timeout, tcp_user_timeout and connect deadline; a silent "
     "database fails a call after about this long (then reconnects)."},
    {kWal, "LEASE_TTL_MS", "2000",
     "Replay and recovery leases in the WAL store (several proxies on one database): renewed "
     "every third of it; a dead holder is taken over within about this long."},
    {kWal, "AUTO_RESYNC", "true",
     "Resync an instance by itself when it comes back empty while the identity map says it held "
     "collections, or its backlog is older than WAL_RETENTION_HOURS (and alert)."},
    {kWal, "RESYNC_PAGE_SIZE", "1000", "Records per page copied by a resync."},
    {kWal, "WAL_HIGH_VOLUME_BATCH_SIZE", "1000",
     "Batch size when the backlog is large (replay pages per collection, group commits)."},
    {kWal, "WAL_REPLAY_CONCURRENCY", "4",
     "Replay requests in flight to one instance, each of a different collection."},
    {kWal, "WAL_SYNC_INTERVAL", "10", "Replay timer (also retries failures), in seconds."},
    {kWal, "WAL_DELETION_CONVERSION", "true",
     "Store document_ids of deletes by id; replay missing ids as deletes by document_id."},
    {kWal, "WAL_MEMORY_THRESHOLD", "80", "Memory use (%) above which batches shrink and alert."},
    {kWal, "WAL_CPU_THRESHOLD", "80", "CPU use (%) above which batches shrink and alert."},
    {kWal, "WAL_RETENTION_HOURS", "24", "Applied entries are pruned after this many hours."},
    {kWal, "WAL_RETRY_ATTEMPTS", "3", "Forward retries when an instance gives no answer."},
    {kWal, "WAL_RETRY_DELAY", "1", "Base of the exponential retry backoff, in seconds."},
    {kWal, "VERIFY_INTERVAL", "0",
     "Seconds between background comparisons of every collection on every instance (digest "
     "first, full comparison where they differ); a divergence is a metric, a /wal/status entry "
     "and an alert. 0 = off."},
    {kWal, "AUTO_REPAIR", "false",
     "Make a divergent collection equal to the primary's when the checker finds one."},

    {kSecurity, "ADMIN_TOKEN", "",
     "Bearer token (or X-Admin-Token) for chroma-ha's /admin/*, and for reset when ALLOW_RESET "
     "is false; unset = those are refused.",
     true},
    {kSecurity, "STATUS_TOKEN", "", "Bearer token for the status endpoints; unset = open.", true},
    {kSecurity, "ALLOW_RESET", "false",
     "Allow POST /api/v2/reset without ADMIN_TOKEN (Chroma's allow_reset)."},
    {kSecurity, "CHROMA_SERVER_AUTHN_CREDENTIALS", "",
     "Client token with full access, as on a Chroma server; unset (and no file) = no client "
     "auth.",
     true},
    {kSecurity, "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", "",
     "JSON file of users with scoped tokens (README \"Client authentication\"); reloaded on "
     "SIGHUP. Not with CHROMA_SERVER_AUTHN_CREDENTIALS."},
    {kSecurity, "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", "Authorization",
     "Where clients send the token: Authorization (Bearer) or X-Chroma-Token."},
    {kSecurity, "AUTH_FAILURES_PER_MINUTE", "10",
     "Failed client authentications allowed per client address per minute; then 429 with "
     "Retry-After. 0 = no limit."},
    {kSecurity, "AUTH_TRUST_FORWARDED_FOR", "false",
     "Count failed attempts per the last X-Forwarded-For entry (set behind a proxy that "
     "appends it, such as Render's), not per connection address."},
    {kSecurity, "SLACK_WEBHOOK_URL", "", "Slack incoming-webhook URL for alerts.", true},
    {kSecurity, "SLACK_ALERTS_ENABLED", "false", "Send alerts to SLACK_WEBHOOK_URL."},
    {kSecurity, "ALERT_WEBHOOK_URL", "", "Generic webhook (JSON POST) for alerts.", true},
    {kSecurity, "ALERT_MIN_INTERVAL_SECONDS", "60",
     "At most one alert message per condition (e.g. instance_down/replica) per this many "
     "seconds; a state change inside it is sent when it ends, if still current."},
    {kSecurity, "ALERT_MAX_PER_MINUTE", "20",
     "At most this many alert messages per minute in all (per webhook); 0 = no cap."},
    {kSecurity, "ALERT_BACKLOG_ENTRIES", "1000",
     "Alert when an instance has more entries than this left to replay."},
    {kSecurity, "ALERT_LAG_SECONDS", "60",
     "Alert when an instance's oldest unreplayed entry is older than this."},

    {kMonitor, "PROXY_URL", "http://127.0.0.1:8000",
     "chroma-ha's URL, polled by the monitor (/health, /wal/status); http(s)://; host:port "
     "means http://."},
    {kMonitor, "LOAD_BALANCER_URL", "",
     "The old monitor's name for PROXY_URL, read when PROXY_URL is unset (PROXY_URL wins)."},
    {kMonitor, "MONITOR_INTERVAL", "30",
     "Seconds between the monitor's checks of chroma-ha and of every instance's heartbeat."},

    {kLogging, "LOG_LEVEL", "info", "trace, debug, info, warn or error."},
    {kLogging, "LOG_FORMAT", "text", "text or json (one object per line)."},

    {kIgnored, "ENABLE_GRANULAR_LOCKING", "", "No effect (locking is always fine-grained).", false,
     true},
    {kIgnored, "ENABLE_CONNECTION_POOLING", "", "No effect (connections are always pooled).", false,
     true},
    {kIgnored, "MAX_WORKERS", "", "No effect (see THREADS).", false, true},
    {kIgnored, "MAX_MEMORY_MB", "", "No effect (see WAL_MEMORY_THRESHOLD).", false, true},
    {kIgnored, "DEFAULT_BATCH_SIZE", "", "No effect (see WAL_BATCH_SIZE).", false, true},
    {kIgnored, "MAX_BATCH_SIZE", "", "No effect (see WAL_HIGH_VOLUME_BATCH_SIZE).", false, true},
    {kIgnored, "REQUEST_QUEUE_SIZE", "", "No effect (see MAX_CONCURRENT_REQUESTS).", false, true},
    {kIgnored, "WAL_PERSISTENCE_SCHEMA", "", "No effect (the WAL is always persistent).", false,
     true},
    {kIgnored, "SLACK_UPGRADE_ALERTS", "", "No effect.", false, true},
};

// `text` as lines of at most `width` columns, the first continuing a line already at `indent`,
// the others indented by `indent`.
std::string Wrap(const std::string& text, std::size_t indent, std::size_t width) {
  std::string out;
  std::size_t col = indent;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    std::size_t len = end - pos;
    if (col > indent && col + 1 + len > width) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
    }
    out += ' ';
    out.append(text, pos, len);
    col += 1 + len;
    pos = end + 1;
  }
  return out + "\n";
}

}  // namespace

const std::vector<ConfigVariable>& ConfigVariables() { return kVariables; }

const ConfigVariable* FindConfigVariable(std::string_view name) {
  for (const ConfigVariable& v : kVariables) {
    if (name == v.name) return &v;
  }
  return nullptr;
}

std::string HelpText() {
  std::string out = "chroma-ha " CHROMA_HA_VERSION
                    ": a high-availability proxy in front of ChromaDB 1.x servers.\n\n"
                    "Usage: chroma-ha [--help | --version]\n"
                    "       chroma-ha verify [URL URL ...] [--tenant NAME]... [--wait SECONDS]\n"
                    "                        [--page-size N] [--repair]\n"
                    "       chroma-ha resync INSTANCE [--source NAME] [--interval SECONDS]\n\n"
                    "Commands:\n"
                    "  (none)   run the proxy.\n"
                    "  monitor  watch chroma-ha (PROXY_URL) and the instances, send alerts\n"
                    "           (every MONITOR_INTERVAL s; see `chroma-ha monitor --help`).\n"
                    "  resync   start (or follow) a resync of INSTANCE through chroma-ha\n"
                    "           (PROXY_URL, ADMIN_TOKEN) and show its progress until it ends\n"
                    "           (see `chroma-ha resync --help`).\n"
                    "  verify   compare the instances (the URLs given, else PRIMARY_URL and\n"
                    "           REPLICA_URL(S)) record by record: databases, collections, ids,\n"
                    "           embeddings (float32), documents, metadatas, uris of\n"
                    "           default_tenant and each --tenant. Prints \"converged\" (exit 0)\n"
                    "           or the differences (exit 1); exit 2 if an instance cannot be\n"
                    "           read. --wait SECONDS retries until converged or the deadline.\n"
                    "           --repair first makes the others equal to the first instance\n"
                    "           (adds, deletes and replaces records, creates and deletes\n"
                    "           collections and databases) and prints what it changed.\n\n"
                    "Configuration comes from environment variables (empty = unset):\n";
  const char* group = "";
  for (const ConfigVariable& v : kVariables) {
    if (std::string(group) != v.group) {
      group = v.group;
      out += "\n";
      out += group;
      out += ":\n";
    }
    char line[128];
    const char* shown = v.ignored ? "-" : v.default_value[0] != '\0' ? v.default_value : "(unset)";
    std::snprintf(line, sizeof line, "  %-27s %-22s", v.name, shown);
    out += line;
    std::string meaning = v.meaning;
    if (v.secret) meaning += " Secret: never logged.";
    out += Wrap(meaning, 52, 100);
  }
  return out;
}

}  // namespace chroma_ha
