#include "chroma_ha/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <set>
#include <string>

#include "config/config_vars.h"

namespace chroma_ha {
namespace {

using Env = std::map<std::string, std::string>;
using std::chrono::milliseconds;

Config Load(const Env& env, std::vector<std::string>* warnings = nullptr) {
  return LoadConfig(env, warnings);
}

// The ConfigError message for `env`, or "" when it loads.
std::string ErrorOf(const Env& env) {
  try {
    Load(env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigTest, Defaults) {
  std::vector<std::string> warnings;
  Config c = Load({}, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.listen_address, "0.0.0.0");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.max_body_bytes, 40u << 20);
  ASSERT_EQ(c.instances.size(), 2u);
  EXPECT_EQ(c.instances[0].name, "primary");
  EXPECT_EQ(c.instances[0].url, "http://127.0.0.1:8001");
  EXPECT_EQ(c.instances[0].host, "127.0.0.1");
  EXPECT_EQ(c.instances[0].port, 8001);
  EXPECT_TRUE(c.instances[0].is_primary);
  EXPECT_EQ(c.instances[1].name, "replica");
  EXPECT_EQ(c.instances[1].url, "http://127.0.0.1:8002");
  EXPECT_FALSE(c.instances[1].is_primary);
  EXPECT_EQ(c.strategy, Strategy::kOptimizedReadReplica);
  EXPECT_EQ(c.read_consistency, ReadConsistency::kFresh);
  EXPECT_TRUE(c.wal_enabled);
  EXPECT_TRUE(c.database_url.empty());
  EXPECT_EQ(c.wal_sync_interval, milliseconds(10000));
  EXPECT_TRUE(c.admin_token.empty());
  EXPECT_EQ(c.log_level, "info");
  // Bounded by default (issue 10): every wait and queue has a limit unless turned off.
  EXPECT_GT(c.max_concurrent_requests, 0);
  EXPECT_EQ(c.max_connections, 4096);
  EXPECT_EQ(c.wal_append_timeout, milliseconds(2000));
  EXPECT_EQ(c.wal_queue_limit, 10000);
  EXPECT_EQ(c.wal_store_timeout, milliseconds(5000));
  EXPECT_EQ(c.lease_ttl, milliseconds(2000));
  // Empty values count as unset.
  EXPECT_EQ(Load({{"PORT", ""}, {"PRIMARY_URL", "  "}}).port, 8000);
}

struct VarCase {
  const char* name;
  const char* value;
  std::function<bool(const Config&)> check;
};

const std::vector<VarCase>& VarCases() {
  static const std::vector<VarCase> kCases = {
      {"LISTEN_ADDRESS", "127.0.0.1", [](auto& c) { return c.listen_address == "127.0.0.1"; }},
      {"PORT", "9000", [](auto& c) { return c.port == 9000; }},
      {"THREADS", "4", [](auto& c) { return c.threads == 4; }},
      {"MAX_BODY_BYTES", "1024", [](auto& c) { return c.max_body_bytes == 1024; }},
      {"MAX_HEADER_BYTES", "8192", [](auto& c) { return c.max_header_bytes == 8192; }},
      {"HEADER_TIMEOUT_MS", "500", [](auto& c) { return c.header_timeout == milliseconds(500); }},
      {"IDLE_TIMEOUT_MS", "700", [](auto& c) { return c.idle_timeout == milliseconds(700); }},
      {"SHUTDOWN_GRACE_MS", "0", [](auto& c) { return c.shutdown_grace == milliseconds(0); }},
      {"MAX_CONCURRENT_REQUESTS", "30", [](auto& c) { return c.max_concurrent_requests == 30; }},
      {"MAX_CONNECTIONS", "0", [](auto& c) { return c.max_connections == 0; }},
      {"WAL_APPEND_TIMEOUT_MS", "250",
       [](auto& c) { return c.wal_append_timeout == milliseconds(250); }},
      {"WAL_QUEUE_LIMIT", "7", [](auto& c) { return c.wal_queue_limit == 7; }},
      {"TLS_CERT_FILE", "/tls/cert.pem",  // TLS_KEY_FILE is added by the test
       [](auto& c) { return c.tls_cert_file == "/tls/cert.pem"; }},
      {"TLS_KEY_FILE", "/tls/key.pem", [](auto& c) { return c.tls_key_file == "/tls/key.pem"; }},
      {"WAL_STORE_TIMEOUT_MS", "1500",
       [](auto& c) { return c.wal_store_timeout == milliseconds(1500); }},
      {"LEASE_TTL_MS", "1200", [](auto& c) { return c.lease_ttl == milliseconds(1200); }},
      {"AUTO_RESYNC", "false", [](auto& c) { return !c.auto_resync; }},
      {"RESYNC_PAGE_SIZE", "250", [](auto& c) { return c.resync_page_size == 250; }},
      {"WAL_REPLAY_CONCURRENCY", "8", [](auto& c) { return c.wal_replay_concurrency == 8; }},
      {"VERIFY_INTERVAL", "2.5", [](auto& c) { return c.verify_interval == milliseconds(2500); }},
      {"AUTO_REPAIR", "true", [](auto& c) { return c.auto_repair; }},
      {"PRIMARY_URL", "HTTP://Primary.example.com/",
       [](auto& c) {
         return c.instances.size() == 1 && c.instances[0].url == "http://Primary.example.com" &&
                c.instances[0].host == "Primary.example.com" && c.instances[0].port == 80 &&
                !c.instances[0].tls;
       }},
      {"REPLICA_URL", "http://r:1",  // PRIMARY_URL is added by the test
       [](auto& c) { return c.instances.size() == 2 && c.instances[1].port == 1; }},
      {"REPLICA_URLS", "http://r1:8000, http://[::1]:8003,",
       [](auto& c) {
         return c.instances.size() == 3 && c.instances[1].name == "replica" &&
                c.instances[2].name == "replica2" && c.instances[2].host == "::1" &&
                c.instances[2].port == 8003 && c.instances[2].url == "http://[::1]:8003";
       }},
      {"LOAD_BALANCE_STRATEGY", "Round_Robin",
       [](auto& c) { return c.strategy == Strategy::kRoundRobin; }},
      {"READ_REPLICA_RATIO", "0.8", [](auto& c) { return c.read_replica_ratio == 0.8; }},
      {"READ_CONSISTENCY", "eventual",
       [](auto& c) { return c.read_consistency == ReadConsistency::kEventual; }},
      {"UNKNOWN_WRITE_ROUTES", "primary",
       [](auto& c) { return c.unknown_write_routes == UnknownWriteRoutes::kPrimary; }},
      {"CAUSAL_WAIT_MS", "250", [](auto& c) { return c.causal_wait == milliseconds(250); }},
      {"CONNECT_TIMEOUT_MS", "250", [](auto& c) { return c.connect_timeout == milliseconds(250); }},
      {"REQUEST_TIMEOUT", "15", [](auto& c) { return c.request_timeout == milliseconds(15000); }},
      {"CONNECTION_POOL_SIZE", "10", [](auto& c) { return c.pool_size == 10; }},
      {"CHECK_INTERVAL", "0.5", [](auto& c) { return c.health_interval == milliseconds(500); }},
      {"HEALTH_CHECK_INTERVAL_MS", "300",
       [](auto& c) { return c.health_interval == milliseconds(300); }},
      {"HEALTH_CHECK_TIMEOUT_MS", "400",
       [](auto& c) { return c.health_timeout == milliseconds(400); }},
      {"FAILURE_THRESHOLD", "3", [](auto& c) { return c.unhealthy_threshold == 3; }},
      {"HEALTHY_THRESHOLD", "2", [](auto& c) { return c.healthy_threshold == 2; }},
      {"CIRCUIT_BREAKER_TIMEOUT", "30",
       [](auto& c) { return c.circuit_breaker_timeout == milliseconds(30000); }},
      {"WAL_ENABLED", "FALSE", [](auto& c) { return !c.wal_enabled; }},
      {"DATABASE_URL", "postgres://u:pw@db:5432/wal",
       [](auto& c) { return c.database_url == "postgres://u:pw@db:5432/wal"; }},
      {"WAL_PATH", "/tmp/x.sqlite3", [](auto& c) { return c.wal_path == "/tmp/x.sqlite3"; }},
      {"WAL_BATCH_SIZE", "50", [](auto& c) { return c.wal_batch_size == 50; }},
      {"WAL_HIGH_VOLUME_BATCH_SIZE", "500",
       [](auto& c) { return c.wal_high_volume_batch_size == 500; }},
      {"WAL_SYNC_INTERVAL", "2", [](auto& c) { return c.wal_sync_interval == milliseconds(2000); }},
      {"WAL_DELETION_CONVERSION", "no", [](auto& c) { return !c.wal_deletion_conversion; }},
      {"WAL_MEMORY_THRESHOLD", "90", [](auto& c) { return c.wal_memory_threshold == 90; }},
      {"WAL_CPU_THRESHOLD", "70.5", [](auto& c) { return c.wal_cpu_threshold == 70.5; }},
      {"WAL_RETENTION_HOURS", "48", [](auto& c) { return c.wal_retention_hours == 48; }},
      {"WAL_RETRY_ATTEMPTS", "0", [](auto& c) { return c.wal_retry_attempts == 0; }},
      {"WAL_RETRY_DELAY", "5", [](auto& c) { return c.wal_retry_delay == milliseconds(5000); }},
      {"ADMIN_TOKEN", "s3cret", [](auto& c) { return c.admin_token == "s3cret"; }},
      {"STATUS_TOKEN", "st", [](auto& c) { return c.status_token == "st"; }},
      {"ALLOW_RESET", "Yes", [](auto& c) { return c.allow_reset; }},
      {"CHROMA_SERVER_AUTHN_CREDENTIALS", "tok",
       [](auto& c) { return c.auth_credentials == "tok"; }},
      {"CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", "/etc/creds.json",
       [](auto& c) { return c.auth_credentials_file == "/etc/creds.json"; }},
      {"CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", "X-Chroma-Token",
       [](auto& c) { return c.auth_x_chroma_token; }},
      {"AUTH_FAILURES_PER_MINUTE", "0", [](auto& c) { return c.auth_failures_per_minute == 0; }},
      {"AUTH_TRUST_FORWARDED_FOR", "true", [](auto& c) { return c.auth_trust_forwarded_for; }},
      {"SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X",
       [](auto& c) { return c.slack_webhook_url == "https://hooks.slack.com/services/T/B/X"; }},
      {"SLACK_ALERTS_ENABLED", "1", [](auto& c) { return c.slack_alerts_enabled; }},
      {"ALERT_WEBHOOK_URL", "http://alerts:9000/hook",
       [](auto& c) { return c.alert_webhook_url == "http://alerts:9000/hook"; }},
      {"ALERT_MIN_INTERVAL_SECONDS", "2.5",
       [](auto& c) { return c.alert_min_interval.count() == 2500; }},
      {"ALERT_MAX_PER_MINUTE", "7", [](auto& c) { return c.alert_max_per_minute == 7; }},
      {"ALERT_BACKLOG_ENTRIES", "50", [](auto& c) { return c.alert_backlog_entries == 50; }},
      {"ALERT_LAG_SECONDS", "5", [](auto& c) { return c.alert_lag_seconds == 5; }},
      {"PROXY_URL", "lb:8000", [](auto& c) { return c.monitor_proxy_url == "http://lb:8000"; }},
      {"LOAD_BALANCER_URL", "lb:8000",
       [](auto& c) { return c.monitor_proxy_url == "http://lb:8000"; }},
      {"MONITOR_INTERVAL", "2", [](auto& c) { return c.monitor_interval.count() == 2000; }},
      {"LOG_LEVEL", "WARNING", [](auto& c) { return c.log_level == "warn"; }},
      {"LOG_FORMAT", "json", [](auto& c) { return c.log_format == LogFormat::kJson; }},
  };
  return kCases;
}

TEST(ConfigTest, EachVariable) {
  for (const VarCase& vc : VarCases()) {
    Env env{{vc.name, vc.value}};
    if (std::string(vc.name).rfind("REPLICA_URL", 0) == 0) env["PRIMARY_URL"] = "http://p:8001";
    if (std::string(vc.name) == "TLS_CERT_FILE") env["TLS_KEY_FILE"] = "key.pem";
    if (std::string(vc.name) == "TLS_KEY_FILE") env["TLS_CERT_FILE"] = "cert.pem";
    Config c;
    ASSERT_NO_THROW(c = Load(env)) << vc.name;
    EXPECT_TRUE(vc.check(c)) << vc.name << "=" << vc.value;
  }
}

TEST(ConfigTest, EveryTableVariableIsTestedAndInHelp) {
  std::set<std::string> tested;
  for (const VarCase& vc : VarCases()) tested.insert(vc.name);
  const std::string help = HelpText();
  for (const ConfigVariable& var : ConfigVariables()) {
    EXPECT_NE(help.find(std::string("  ") + var.name + " "), std::string::npos) << var.name;
    if (!var.ignored) {
      EXPECT_EQ(tested.count(var.name), 1u) << var.name << " has no test case";
    }
  }
  EXPECT_EQ(tested.size(), VarCases().size());
  EXPECT_NE(FindConfigVariable("PORT"), nullptr);
  EXPECT_EQ(FindConfigVariable("NOT_A_VARIABLE"), nullptr);
}

TEST(ConfigTest, BadValuesNameTheirVariable) {
  struct Bad {
    const char* name;
    const char* value;
    const char* shown = nullptr;  // the quoted part of the message; nullptr = the whole value
  };
  const Bad kBad[] = {
      {"PORT", "abc"},
      {"PORT", "0"},
      {"PORT", "65536"},
      {"PORT", "80x"},
      {"PORT", "-1"},
      {"THREADS", "-1"},
      {"THREADS", "many"},
      {"MAX_BODY_BYTES", "41943041"},
      {"MAX_BODY_BYTES", "0"},
      {"MAX_HEADER_BYTES", "10"},
      {"HEADER_TIMEOUT_MS", "0"},
      {"IDLE_TIMEOUT_MS", "1.5"},
      {"SHUTDOWN_GRACE_MS", "-5"},
      {"MAX_CONCURRENT_REQUESTS", "lots"},
      {"MAX_CONNECTIONS", "-1"},
      {"WAL_APPEND_TIMEOUT_MS", "0"},
      {"WAL_QUEUE_LIMIT", "0"},
      {"WAL_STORE_TIMEOUT_MS", "10"},
      {"LEASE_TTL_MS", "100"},
      {"RESYNC_PAGE_SIZE", "0"},
      {"WAL_REPLAY_CONCURRENCY", "0"},
      {"VERIFY_INTERVAL", "-1"},
      {"AUTO_REPAIR", "sometimes"},
      {"PRIMARY_URL", "ftp://x"},
      {"PRIMARY_URL", "http://"},
      {"PRIMARY_URL", "http://h:0"},
      {"PRIMARY_URL", "http://h:99999"},
      {"PRIMARY_URL", "http://h/api"},
      {"PRIMARY_URL", "http://h?x=1"},
      {"PRIMARY_URL", "http://h:"},
      {"PRIMARY_URL", "://h:8000"},
      {"PRIMARY_URL", "http://[::1"},
      {"PRIMARY_URL", "http://bad host"},
      {"PRIMARY_URL", "https://p:0"},
      {"REPLICA_URL", "HTTPS://r/x"},
      {"REPLICA_URLS", "http://r:1,https://r2:", "https://r2:"},
      {"PROXY_URL", "https://"},
      {"REPLICA_URL", "http://p:8001"},  // same server as the primary
      {"REPLICA_URLS", "http://r:1,ftp://nope", "ftp://nope"},
      {"LOAD_BALANCE_STRATEGY", "random"},
      {"READ_REPLICA_RATIO", "1.5"},
      {"READ_REPLICA_RATIO", "-0.1"},
      {"READ_REPLICA_RATIO", "x"},
      {"READ_CONSISTENCY", "strong"},
      {"UNKNOWN_WRITE_ROUTES", "replica"},
      {"CAUSAL_WAIT_MS", "-1"},
      {"CONNECT_TIMEOUT_MS", "0"},
      {"REQUEST_TIMEOUT", "0"},
      {"REQUEST_TIMEOUT", "abc"},
      {"REQUEST_TIMEOUT", "nan"},
      {"CONNECTION_POOL_SIZE", "0"},
      {"CHECK_INTERVAL", "-1"},
      {"HEALTH_CHECK_INTERVAL_MS", "1"},
      {"HEALTH_CHECK_TIMEOUT_MS", "0"},
      {"FAILURE_THRESHOLD", "0"},
      {"HEALTHY_THRESHOLD", "x"},
      {"CIRCUIT_BREAKER_TIMEOUT", "-1"},
      {"WAL_ENABLED", "maybe"},
      {"WAL_BATCH_SIZE", "0"},
      {"WAL_HIGH_VOLUME_BATCH_SIZE", "1e3"},
      {"WAL_SYNC_INTERVAL", "0"},
      {"WAL_DELETION_CONVERSION", "2"},
      {"WAL_MEMORY_THRESHOLD", "101"},
      {"WAL_CPU_THRESHOLD", "0"},
      {"WAL_RETENTION_HOURS", "0"},
      {"WAL_RETRY_ATTEMPTS", "-1"},
      {"WAL_RETRY_DELAY", "x"},
      {"ALLOW_RESET", "sure"},
      {"SLACK_ALERTS_ENABLED", "enabled"},
      {"LOG_LEVEL", "verbose"},
      {"LOG_FORMAT", "xml"},
      {"DATABASE_URL", "mysql://u:hunter2@db/x"},
      {"SLACK_WEBHOOK_URL", "hooks.slack.com/services/SECRETPATH"},
      {"ALERT_WEBHOOK_URL", "ftp://x/SECRETPATH"},
  };
  for (const Bad& b : kBad) {
    Env env{{b.name, b.value}};
    if (std::string(b.name).rfind("REPLICA_URL", 0) == 0) env["PRIMARY_URL"] = "http://p:8001";
    std::string msg = ErrorOf(env);
    EXPECT_EQ(msg.rfind(std::string(b.name) + ": ", 0), 0u)
        << b.name << "=" << b.value << ": " << msg;
    const ConfigVariable* var = FindConfigVariable(b.name);
    ASSERT_NE(var, nullptr);
    if (var->secret) {
      EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
      EXPECT_EQ(msg.find("SECRETPATH"), std::string::npos) << msg;
    } else {
      std::string shown = b.shown != nullptr ? b.shown : b.value;
      EXPECT_NE(msg.find("\"" + shown + "\""), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(ErrorOf({{"PORT", "abc"}}), "PORT: \"abc\" is not a port number (1-65535)");
}

TEST(ConfigTest, ClientAuthVariables) {
  EXPECT_FALSE(Load({}).auth_x_chroma_token);
  EXPECT_EQ(Load({}).auth_failures_per_minute, 10);
  for (const char* v : {"Authorization", "AUTHORIZATION", "authorization"}) {
    EXPECT_FALSE(Load({{"CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", v}}).auth_x_chroma_token) << v;
  }
  for (const char* v : {"X-Chroma-Token", "X_CHROMA_TOKEN", "x-chroma-token"}) {
    EXPECT_TRUE(Load({{"CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", v}}).auth_x_chroma_token) << v;
  }
  EXPECT_NE(ErrorOf({{"CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", "Cookie"}})
                .find("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER"),
            std::string::npos);
  const std::string both = ErrorOf({{"CHROMA_SERVER_AUTHN_CREDENTIALS", "very-secret"},
                                    {"CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", "/f.json"}});
  EXPECT_NE(both.find("choose one"), std::string::npos) << both;
  EXPECT_EQ(both.find("very-secret"), std::string::npos) << both;
  EXPECT_NE(ErrorOf({{"AUTH_FAILURES_PER_MINUTE", "-1"}}).find("AUTH_FAILURES_PER_MINUTE"),
            std::string::npos);
}

TEST(ConfigTest, InstanceRules) {
  EXPECT_EQ(ErrorOf({{"REPLICA_URL", "http://r:1"}}).rfind("PRIMARY_URL: ", 0), 0u);
  EXPECT_EQ(ErrorOf({{"PRIMARY_URL", "http://p:1"},
                     {"REPLICA_URL", "http://r:1"},
                     {"REPLICA_URLS", "http://r:2"}})
                .rfind("REPLICA_URLS: ", 0),
            0u);
  // A password in an instance URL never reaches the message.
  std::string msg = ErrorOf({{"PRIMARY_URL", "http://user:hunter2@p:1"}});
  EXPECT_EQ(msg.rfind("PRIMARY_URL: ", 0), 0u);
  EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
  // Primary only: allowed, with a warning.
  std::vector<std::string> warnings;
  Config c = Load({{"PRIMARY_URL", "http://p:1"}}, &warnings);
  EXPECT_EQ(c.instances.size(), 1u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("REPLICA_URL"), std::string::npos);
  c = Load({{"PRIMARY_URL", "HTTP://p"}, {"REPLICA_URL", "r:9"}});
  EXPECT_EQ(c.instances[0].url, "http://p");
  EXPECT_EQ(c.instances[0].port, 80);
  EXPECT_EQ(c.instances[1].url, "http://r:9");
  EXPECT_FALSE(c.instances[1].tls);
}

// https:// instances are served over verified TLS (issue 12): accepted for the primary, the
// replicas and the monitor's PROXY_URL, with 443 as the default port.
TEST(ConfigTest, HttpsInstancesAreAccepted) {
  Config c = Load({{"PRIMARY_URL", "https://chroma-primary.onrender.com"},
                   {"REPLICA_URLS", "HTTPS://r.example.com:8443/, http://r2:8000"},
                   {"PROXY_URL", "https://lb.example.com"}});
  ASSERT_EQ(c.instances.size(), 3u);
  EXPECT_EQ(c.instances[0].url, "https://chroma-primary.onrender.com");
  EXPECT_EQ(c.instances[0].host, "chroma-primary.onrender.com");
  EXPECT_EQ(c.instances[0].port, 443);
  EXPECT_TRUE(c.instances[0].tls);
  EXPECT_EQ(c.instances[1].url, "https://r.example.com:8443");
  EXPECT_EQ(c.instances[1].port, 8443);
  EXPECT_TRUE(c.instances[1].tls);
  EXPECT_FALSE(c.instances[2].tls);
  EXPECT_EQ(c.monitor_proxy_url, "https://lb.example.com");
  // http://p:443 and https://p are the same server.
  EXPECT_EQ(ErrorOf({{"PRIMARY_URL", "https://p"}, {"REPLICA_URL", "http://p:443"}})
                .rfind("REPLICA_URL: \"http://p:443\" names the same server as PRIMARY_URL", 0),
            0u);
  c = Load({{"SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X"}});
  EXPECT_EQ(c.slack_webhook_url, "https://hooks.slack.com/services/T/B/X");
}

// Listener TLS: TLS_CERT_FILE and TLS_KEY_FILE together or not at all (the files themselves are
// loaded, and refused, by the listener at start).
TEST(ConfigTest, ListenerTlsNeedsBothFiles) {
  Config c = Load({{"TLS_CERT_FILE", "/etc/x/cert.pem"}, {"TLS_KEY_FILE", "/etc/x/key.pem"}});
  EXPECT_EQ(c.tls_cert_file, "/etc/x/cert.pem");
  EXPECT_EQ(c.tls_key_file, "/etc/x/key.pem");
  c = Load({});
  EXPECT_TRUE(c.tls_cert_file.empty());
  EXPECT_TRUE(c.tls_key_file.empty());
  EXPECT_EQ(ErrorOf({{"TLS_CERT_FILE", "/etc/x/cert.pem"}}),
            "TLS_KEY_FILE: not set, but TLS_CERT_FILE is; set both to serve https, or neither");
  EXPECT_EQ(ErrorOf({{"TLS_KEY_FILE", "/etc/x/key.pem"}}),
            "TLS_CERT_FILE: not set, but TLS_KEY_FILE is; set both to serve https, or neither");
}

TEST(ConfigTest, OverridesAndOldNames) {
  Config c = Load({{"CHECK_INTERVAL", "30"}, {"HEALTH_CHECK_INTERVAL_MS", "250"}});
  EXPECT_EQ(c.health_interval, milliseconds(250));
  for (const char* v : {"true", "TRUE", "1", "yes", "Yes", "on"}) {
    EXPECT_TRUE(Load({{"ALLOW_RESET", v}}).allow_reset) << v;
  }
  for (const char* v : {"false", "False", "0", "no", "NO", "off"}) {
    EXPECT_FALSE(Load({{"WAL_ENABLED", v}}).wal_enabled) << v;
  }
  EXPECT_EQ(Load({{"PORT", " 8080 \n"}}).port, 8080);
  EXPECT_NO_THROW(Load({{"DATABASE_URL", "host=db user=u password=p dbname=wal"}}));
  EXPECT_NO_THROW(Load({{"DATABASE_URL", "postgresql://db/wal"}}));
}

TEST(ConfigTest, IgnoredOldVariablesGiveOneWarning) {
  std::vector<std::string> warnings;
  Load({{"ENABLE_GRANULAR_LOCKING", "true"},
        {"MAX_WORKERS", "6"},
        {"ENABLE_CONNECTION_POOLING", "true"},
        {"MAX_MEMORY_MB", ""},  // empty: unset, not named
        {"UNRELATED", "x"}},
       &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("ENABLE_GRANULAR_LOCKING"), std::string::npos);
  EXPECT_NE(warnings[0].find("MAX_WORKERS"), std::string::npos);
  EXPECT_NE(warnings[0].find("ENABLE_CONNECTION_POOLING"), std::string::npos);
  EXPECT_EQ(warnings[0].find("MAX_MEMORY_MB"), std::string::npos);
  EXPECT_EQ(warnings[0].find("UNRELATED"), std::string::npos);

  warnings.clear();
  Load({{"SLACK_ALERTS_ENABLED", "true"}}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("SLACK_WEBHOOK_URL"), std::string::npos);
}

TEST(ConfigTest, RedactUrl) {
  struct Case {
    const char* in;
    const char* want;
  };
  const Case kCases[] = {
      {"postgres://user:pw@host:5432/db", "postgres://user:***@host:5432/db"},
      {"postgresql://user:p%40ss@host/db?sslmode=require",
       "postgresql://user:***@host/db?sslmode=require"},
      {"postgres://user@host/db", "postgres://user@host/db"},
      {"postgres://host/db", "postgres://host/db"},
      {"postgres://u:a:b@c@host/db", "postgres://u:***@host/db"},
      {"postgres://host/db?user=u&password=secret&sslmode=x",
       "postgres://host/db?user=u&password=***&sslmode=x"},
      {"host=db user=u password=secret dbname=wal", "host=db user=u password=*** dbname=wal"},
      {"host=db password = 'a b\\' c' dbname=wal", "host=db password = *** dbname=wal"},
      {"host=db PASSWORD=secret", "host=db PASSWORD=***"},
      {"host=db mypassword=x", "host=db mypassword=x"},
      {"", ""},
  };
  for (const Case& c : kCases) EXPECT_EQ(RedactUrl(c.in), c.want) << c.in;
}

TEST(ConfigTest, HelpAndNames) {
  const std::string help = HelpText();
  EXPECT_NE(help.find("--help"), std::string::npos);
  EXPECT_NE(help.find("http://127.0.0.1:8001"), std::string::npos);
  EXPECT_STREQ(StrategyName(Strategy::kOptimizedReadReplica), "optimized_read_replica");
  EXPECT_STREQ(StrategyName(Strategy::kPrimaryOnly), "primary_only");
  EXPECT_STREQ(StrategyName(Strategy::kRoundRobin), "round_robin");
}

TEST(ConfigTest, ProcessEnvironment) {
  ASSERT_EQ(setenv("CHROMA_HA_TEST_VAR", "a=b", 1), 0);
  auto env = ProcessEnvironment();
  EXPECT_EQ(env["CHROMA_HA_TEST_VAR"], "a=b");
  unsetenv("CHROMA_HA_TEST_VAR");
}

TEST(ConfigTest, BareHostPortMeansHttp) {
  // Render's `fromService: {property: hostport}` wires "host:port" without a scheme.
  Config c =
      Load({{"PRIMARY_URL", "chroma-primary:10000"}, {"REPLICA_URL", "chroma-replica:10000"}});
  ASSERT_EQ(c.instances.size(), 2u);
  EXPECT_EQ(c.instances[0].url, "http://chroma-primary:10000");
  EXPECT_EQ(c.instances[0].port, 10000);
  EXPECT_FALSE(c.instances[0].tls);
  EXPECT_EQ(c.instances[1].host, "chroma-replica");
}

}  // namespace
}  // namespace chroma_ha
