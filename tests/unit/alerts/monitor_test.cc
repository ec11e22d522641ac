// Monitor::Check with scripted instance clients: what `chroma-ha monitor` concludes from the
// answers of chroma-ha and the instances, and the alerts that follow.
#include "monitor/monitor.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "chroma_ha/alert_sink.h"

namespace chroma_ha {
namespace {

class ScriptedClient final : public InstanceClient {
 public:
  explicit ScriptedClient(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Result<HttpResponse> Send(const HttpRequest& request) override {
    ++calls;
    auto it = answers.find(request.target);
    if (down || it == answers.end()) return Status::Unavailable("connection refused");
    HttpResponse r;
    r.status = it->second.first;
    r.body = it->second.second;
    return r;
  }
  std::map<std::string, std::pair<int, std::string>> answers;
  bool down = false;
  int calls = 0;

 private:
  std::string name_;
};

class RecordingSink final : public AlertSink {
 public:
  void Send(const Alert& a) override { alerts.push_back(a); }
  std::vector<Alert> alerts;
};

class MonitorTest : public ::testing::Test {
 protected:
  MonitorTest() : proxy_("chroma-ha"), primary_("primary"), replica_("replica") {
    config_.instances = {{"primary", "http://127.0.0.1:1", "127.0.0.1", 1, false, true},
                         {"replica", "http://127.0.0.1:2", "127.0.0.1", 2, false, false}};
    proxy_.answers["/health"] = {200, R"({"status":"healthy"})"};
    proxy_.answers["/wal/status"] = {200, R"({"instances":[{"name":"replica",
        "pending_entries":3,"lag_seconds":1.5}],"blocked":[]})"};
    primary_.answers["/api/v2/heartbeat"] = {200, "{}"};
    replica_.answers["/api/v2/heartbeat"] = {200, "{}"};
  }
  Monitor MakeMonitor() {
    return Monitor(config_, proxy_, {&primary_, &replica_}, rules_, std::chrono::milliseconds(0));
  }

  Config config_;
  ScriptedClient proxy_, primary_, replica_;
  RecordingSink sink_;
  AlertRules rules_{AlertThresholds{}, sink_};
};

TEST_F(MonitorTest, AllWellNoAlerts) {
  Monitor m = MakeMonitor();
  AlertObservation o = m.Check();
  EXPECT_EQ(o.proxy_up, true);
  EXPECT_EQ(o.proxy_health, "healthy");
  EXPECT_EQ(o.store_readable, true);
  ASSERT_TRUE(o.backlog);
  ASSERT_EQ(o.backlog->size(), 1u);
  EXPECT_EQ(o.backlog->at(0).entries, 3);
  m.RunOnce();
  EXPECT_TRUE(sink_.alerts.empty());
}

TEST_F(MonitorTest, ProxyDownThenBack) {
  Monitor m = MakeMonitor();
  m.RunOnce();
  proxy_.down = true;
  m.RunOnce();
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].key, "proxy_down");
  EXPECT_FALSE(sink_.alerts[0].resolved);
  proxy_.down = false;
  m.RunOnce();
  ASSERT_EQ(sink_.alerts.size(), 2u);
  EXPECT_TRUE(sink_.alerts[1].resolved);
}

TEST_F(MonitorTest, ProxyAnswering503IsUpButDegraded) {
  proxy_.answers["/health"] = {503, R"({"status":"unhealthy"})"};
  Monitor m = MakeMonitor();
  AlertObservation o = m.Check();
  EXPECT_EQ(o.proxy_up, true);
  EXPECT_EQ(o.proxy_health, "unhealthy");
}

TEST_F(MonitorTest, InstanceDownAndBlockedAndStoreErrors) {
  Monitor m = MakeMonitor();
  replica_.down = true;
  proxy_.answers["/wal/status"] = {200, R"({"instances":[],"blocked":[{"instance":"replica",
      "tenant":"default_tenant","database":"default_database","collection":"docs","seq":7,
      "error":"HTTP 400"}]})"};
  m.RunOnce();
  ASSERT_EQ(sink_.alerts.size(), 2u);
  EXPECT_EQ(sink_.alerts[0].key, "instance_down/replica");
  EXPECT_EQ(sink_.alerts[1].key,
            "replication_blocked/replica/default_tenant/default_database/docs");
  EXPECT_EQ(replica_.calls, 2) << "a failed probe is retried once";
  proxy_.answers["/wal/status"] = {503, R"({"error":"ServiceUnavailable","message":"db down"})"};
  m.RunOnce();
  ASSERT_EQ(sink_.alerts.size(), 3u);
  EXPECT_EQ(sink_.alerts[2].key, "wal_store");
  EXPECT_NE(sink_.alerts[2].text.find("db down"), std::string::npos);
}

TEST(MonitorCommandTest, HelpAndBadArguments) {
  EXPECT_NE(MonitorHelpText().find("PROXY_URL"), std::string::npos);
  EXPECT_EQ(RunMonitor({"--bogus"}, {}), 2);
  EXPECT_EQ(RunMonitor({}, {{"PROXY_URL", "ftp://x"}}), 2);
}

}  // namespace
}  // namespace chroma_ha
