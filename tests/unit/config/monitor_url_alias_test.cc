// LOAD_BALANCER_URL, the old Python monitor's name for the address it watches, is read by
// `chroma-ha monitor` as an alias of PROXY_URL; PROXY_URL wins when both are set.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "chroma_ha/config.h"

namespace chroma_ha {
namespace {

using Env = std::map<std::string, std::string>;

TEST(MonitorUrlAlias, Table) {
  struct Case {
    const char* what;
    Env env;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"neither: the default", {}, "http://127.0.0.1:8000"},
      {"PROXY_URL only", {{"PROXY_URL", "lb:8000"}}, "http://lb:8000"},
      {"LOAD_BALANCER_URL only (the old monitor's variable)",
       {{"LOAD_BALANCER_URL", "http://chroma-load-balancer:10000"}},
       "http://chroma-load-balancer:10000"},
      {"both: PROXY_URL wins",
       {{"PROXY_URL", "new-lb:8000"}, {"LOAD_BALANCER_URL", "old-lb:8000"}},
       "http://new-lb:8000"},
      {"empty PROXY_URL counts as unset",
       {{"PROXY_URL", "  "}, {"LOAD_BALANCER_URL", "old-lb:8000"}},
       "http://old-lb:8000"},
  };
  for (const Case& c : cases) {
    Config config;
    ASSERT_NO_THROW(config = LoadConfig(c.env, nullptr)) << c.what;
    EXPECT_EQ(config.monitor_proxy_url, c.want) << c.what;
  }
}

TEST(MonitorUrlAlias, BothSetAndDifferentIsNamedInTheWarnings) {
  std::vector<std::string> warnings;
  LoadConfig({{"PROXY_URL", "a:8000"}, {"LOAD_BALANCER_URL", "b:8000"}}, &warnings);
  bool named = false;
  for (const std::string& w : warnings) {
    named = named || w.find("LOAD_BALANCER_URL is ignored") != std::string::npos;
  }
  EXPECT_TRUE(named);

  warnings.clear();
  LoadConfig({{"PROXY_URL", "a:8000"}, {"LOAD_BALANCER_URL", "a:8000"}}, &warnings);
  for (const std::string& w : warnings) EXPECT_EQ(w.find("LOAD_BALANCER_URL"), std::string::npos);
}

TEST(MonitorUrlAlias, BadValueNamesTheVariableItCameFrom) {
  try {
    LoadConfig({{"LOAD_BALANCER_URL", "ftp://x"}}, nullptr);
    ADD_FAILURE() << "ftp:// accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("LOAD_BALANCER_URL: ", 0), 0u) << e.what();
  }
  try {
    // PROXY_URL wins, so its value is the one validated, and named.
    LoadConfig({{"PROXY_URL", "ftp://x"}, {"LOAD_BALANCER_URL", "lb:8000"}}, nullptr);
    ADD_FAILURE() << "ftp:// accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("PROXY_URL: ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace chroma_ha
