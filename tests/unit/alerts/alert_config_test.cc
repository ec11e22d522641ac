// The alert and monitor variables: defaults, parsing, validation, --help.
#include <gtest/gtest.h>

#include "chroma_ha/config.h"

namespace chroma_ha {
namespace {

TEST(AlertConfigTest, Defaults) {
  Config c = LoadConfig({}, nullptr);
  EXPECT_EQ(c.alert_min_interval.count(), 60000);
  EXPECT_EQ(c.alert_max_per_minute, 20);
  EXPECT_EQ(c.alert_backlog_entries, 1000);
  EXPECT_EQ(c.alert_lag_seconds, 60);
  EXPECT_EQ(c.monitor_proxy_url, "http://127.0.0.1:8000");
  EXPECT_EQ(c.monitor_interval.count(), 30000);
}

TEST(AlertConfigTest, Values) {
  Config c = LoadConfig({{"ALERT_MIN_INTERVAL_SECONDS", "1.5"},
                         {"ALERT_MAX_PER_MINUTE", "0"},
                         {"ALERT_BACKLOG_ENTRIES", "5"},
                         {"ALERT_LAG_SECONDS", "2.5"},
                         {"PROXY_URL", "chroma-load-balancer:8000"},
                         {"MONITOR_INTERVAL", "1"}},
                        nullptr);
  EXPECT_EQ(c.alert_min_interval.count(), 1500);
  EXPECT_EQ(c.alert_max_per_minute, 0);
  EXPECT_EQ(c.alert_backlog_entries, 5);
  EXPECT_EQ(c.alert_lag_seconds, 2.5);
  EXPECT_EQ(c.monitor_proxy_url, "http://chroma-load-balancer:8000");
  EXPECT_EQ(c.monitor_interval.count(), 1000);
}

TEST(AlertConfigTest, BadValuesNameTheVariable) {
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"ALERT_MIN_INTERVAL_SECONDS", "-1"},
                                                        {"ALERT_MAX_PER_MINUTE", "x"},
                                                        {"ALERT_BACKLOG_ENTRIES", "0"},
                                                        {"ALERT_LAG_SECONDS", "soon"},
                                                        {"PROXY_URL", "ftp://x"},
                                                        {"MONITOR_INTERVAL", "0"}}) {
    try {
      LoadConfig({{name, value}}, nullptr);
      ADD_FAILURE() << name << "=" << value << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST(AlertConfigTest, HelpListsThem) {
  std::string help = HelpText();
  for (const char* name : {"ALERT_MIN_INTERVAL_SECONDS", "ALERT_MAX_PER_MINUTE",
                           "ALERT_BACKLOG_ENTRIES", "ALERT_LAG_SECONDS", "PROXY_URL",
                           "MONITOR_INTERVAL", "monitor"}) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace chroma_ha
