// AlertRules + the limiter of WebhookAlerter, driven with a fake clock and a recording poster:
// what an operator receives when things break, flap and recover.
#include "alerts/alert_rules.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "alerts/alert_limiter.h"
#include "alerts/webhook_alerter.h"
#include "fakes/fake_clock.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using nlohmann::json;

class RecordingPoster final : public AlertPoster {
 public:
  explicit RecordingPoster(std::vector<json>* out) : out_(out) {}
  Status Post(const std::string& body) override {
    out_->push_back(json::parse(body));
    return fail ? Status::Unavailable("webhook answered HTTP 500") : Status::Ok();
  }
  bool fail = false;

 private:
  std::vector<json>* out_;
};

// Rules -> WebhookAlerter (generic body) -> RecordingPoster, all on the test's thread.
class AlertRulesTest : public ::testing::Test {
 protected:
  AlertRulesTest() {
    WebhookAlerter::Options options;
    options.limits.min_interval = seconds(60);
    options.limits.max_per_minute = 20;
    auto poster = std::make_unique<RecordingPoster>(&sent_);
    poster_ = poster.get();
    alerter_ = std::make_unique<WebhookAlerter>(options, std::move(poster), clock_, stats_);
    AlertThresholds t;
    t.backlog_entries = 100;
    t.lag_seconds = 30;
    rules_ = std::make_unique<AlertRules>(t, *alerter_);
  }

  void Deliver() { alerter_->RunOnce(); }
  void Advance(milliseconds d) {
    clock_.Advance(d);
    Deliver();
  }
  std::vector<json> SentFor(const std::string& key) const {
    std::vector<json> out;
    for (const auto& m : sent_) {
      if (m["key"] == key) out.push_back(m);
    }
    return out;
  }
  static AlertObservation Store(bool readable, int64_t failures = 0) {
    AlertObservation o;
    o.store_readable = readable;
    o.store_detail = readable ? "" : "connection refused";
    o.wal_append_failures = failures;
    o.blocked.emplace();
    o.backlog.emplace();
    return o;
  }

  FakeClock clock_;
  AlertStats stats_;
  std::vector<json> sent_;
  RecordingPoster* poster_ = nullptr;
  std::unique_ptr<WebhookAlerter> alerter_;
  std::unique_ptr<AlertRules> rules_;
};

TEST_F(AlertRulesTest, InstanceDownSendsOneAlertAndRecoverySendsOneResolved) {
  rules_->InstanceHealth("replica", false);
  Deliver();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0]["key"], "instance_down/replica");
  EXPECT_EQ(sent_[0]["severity"], "critical");
  EXPECT_EQ(sent_[0]["resolved"], false);
  EXPECT_NE(sent_[0]["title"].get<std::string>().find("replica"), std::string::npos);

  // Still down, observed again and again: nothing more.
  for (int i = 0; i < 5; ++i) {
    rules_->InstanceHealth("replica", false);
    Advance(seconds(30));
  }
  EXPECT_EQ(sent_.size(), 1u);

  rules_->InstanceHealth("replica", true);
  Deliver();
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1]["key"], "instance_down/replica");
  EXPECT_EQ(sent_[1]["resolved"], true);
  rules_->InstanceHealth("replica", true);
  Advance(seconds(120));
  EXPECT_EQ(sent_.size(), 2u);
  EXPECT_EQ(stats_.sent.load(), 2);
}

TEST_F(AlertRulesTest, FlappingInstanceIsBoundedByTheRateLimitAndResolvesOnce) {
  rules_->InstanceHealth("replica", false);
  Deliver();
  // Down/up 50 times in 10 s.
  for (int i = 0; i < 50; ++i) {
    rules_->InstanceHealth("replica", true);
    Advance(milliseconds(100));
    rules_->InstanceHealth("replica", false);
    Advance(milliseconds(100));
  }
  rules_->InstanceHealth("replica", true);  // ends up
  Deliver();
  EXPECT_EQ(SentFor("instance_down/replica").size(), 1u) << "only the first down within 60 s";
  EXPECT_GT(stats_.suppressed.load(), 90);

  // Once the per-key interval has passed, the final state (recovered) goes out, once.
  Advance(seconds(60));
  auto msgs = SentFor("instance_down/replica");
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[1]["resolved"], true);
  Advance(seconds(600));
  EXPECT_EQ(SentFor("instance_down/replica").size(), 2u);
}

TEST_F(AlertRulesTest, FlapThatEndsInTheSentStateIsNotReported) {
  rules_->InstanceHealth("primary", false);
  Deliver();
  rules_->InstanceHealth("primary", true);
  Advance(seconds(1));
  rules_->InstanceHealth("primary", false);
  Advance(seconds(120));
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0]["resolved"], false);
}

TEST_F(AlertRulesTest, GlobalCapPerMinuteDefersTheRest) {
  for (int i = 0; i < 30; ++i) rules_->InstanceHealth("replica" + std::to_string(i), false);
  Deliver();
  EXPECT_EQ(sent_.size(), 20u);
  Advance(seconds(61));
  EXPECT_EQ(sent_.size(), 30u);
}

TEST_F(AlertRulesTest, WalStoreUnreachableAndRecovered) {
  rules_->Observe(Store(true, 0));
  Deliver();
  EXPECT_TRUE(sent_.empty());
  rules_->Observe(Store(false, 0));
  Deliver();
  ASSERT_EQ(SentFor("wal_store").size(), 1u);
  EXPECT_EQ(SentFor("wal_store")[0]["resolved"], false);
  EXPECT_NE(SentFor("wal_store")[0]["text"].get<std::string>().find("connection refused"),
            std::string::npos);
  Advance(seconds(61));
  rules_->Observe(Store(true, 0));
  Deliver();
  ASSERT_EQ(SentFor("wal_store").size(), 2u);
  EXPECT_EQ(SentFor("wal_store")[1]["resolved"], true);
}

TEST_F(AlertRulesTest, WalAppendFailuresRaiseTheStoreAlert) {
  rules_->Observe(Store(true, 3));  // failures before the first look are history
  Deliver();
  EXPECT_TRUE(sent_.empty());
  rules_->Observe(Store(true, 5));
  Deliver();
  ASSERT_EQ(SentFor("wal_store").size(), 1u);
  Advance(seconds(61));
  rules_->Observe(Store(true, 5));
  Deliver();
  ASSERT_EQ(SentFor("wal_store").size(), 2u);
  EXPECT_EQ(SentFor("wal_store")[1]["resolved"], true);
}

TEST_F(AlertRulesTest, UnknownRouteWritesForwardedToThePrimaryWarnUntilNoneAreNew) {
  AlertObservation o;
  o.unknown_writes_forwarded = 0;
  rules_->Observe(o);
  Deliver();
  EXPECT_TRUE(SentFor("unknown_write_routes").empty());
  o.unknown_writes_forwarded = 2;  // counted since the process started: not history
  rules_->Observe(o);
  Deliver();
  ASSERT_EQ(SentFor("unknown_write_routes").size(), 1u);
  EXPECT_EQ(SentFor("unknown_write_routes")[0]["severity"], "warning");
  EXPECT_NE(SentFor("unknown_write_routes")[0]["text"].get<std::string>().find("2 mutating"),
            std::string::npos);
  Advance(seconds(61));
  o.unknown_writes_forwarded = 3;  // one more: still firing, nothing new sent
  rules_->Observe(o);
  Deliver();
  EXPECT_EQ(SentFor("unknown_write_routes").size(), 1u);
  rules_->Observe(o);  // none since the last look
  Deliver();
  ASSERT_EQ(SentFor("unknown_write_routes").size(), 2u);
  EXPECT_EQ(SentFor("unknown_write_routes")[1]["resolved"], true);
}

TEST_F(AlertRulesTest, UnknownRouteWritesBeforeTheFirstLookAlsoWarn) {
  AlertObservation o;
  o.unknown_writes_forwarded = 1;
  rules_->Observe(o);
  Deliver();
  EXPECT_EQ(SentFor("unknown_write_routes").size(), 1u);
}

TEST_F(AlertRulesTest, BlockedCollectionAlertsOnceAndResolvesWhenCleared) {
  AlertObservation o = Store(true);
  o.blocked->push_back({"replica", "default_tenant", "default_database", "docs",
                        "HTTP 400: dimension mismatch", 42});
  rules_->Observe(o);
  rules_->Observe(o);
  Deliver();
  const std::string key = "replication_blocked/replica/default_tenant/default_database/docs";
  ASSERT_EQ(SentFor(key).size(), 1u);
  EXPECT_NE(SentFor(key)[0]["text"].get<std::string>().find("42"), std::string::npos);
  // Unreadable store: blocks are not judged (no false "unblocked").
  rules_->Observe(Store(false));
  Advance(seconds(61));
  EXPECT_EQ(SentFor(key).size(), 1u);
  rules_->Observe(Store(true));
  Deliver();
  ASSERT_EQ(SentFor(key).size(), 2u);
  EXPECT_EQ(SentFor(key)[1]["resolved"], true);
}

// Issue 10 item 5: a pending entry recovery cannot resolve is a sticky, visible problem.
TEST_F(AlertRulesTest, UnresolvedWalEntryAlertsOnceAndResolvesWhenGone) {
  AlertObservation o;
  o.unresolved.emplace();
  o.unresolved->push_back({17, "t", "d", "docs", "add", "replica answered 503"});
  rules_->Observe(o);
  rules_->Observe(o);
  Deliver();
  const std::string key = "wal_unresolved/17";
  ASSERT_EQ(SentFor(key).size(), 1u);
  EXPECT_NE(SentFor(key)[0]["text"].get<std::string>().find("/admin/wal/skip"),
            std::string::npos);
  rules_->Observe(AlertObservation{});  // not observed: unchanged
  Advance(seconds(61));
  EXPECT_EQ(SentFor(key).size(), 1u);
  o.unresolved->clear();
  rules_->Observe(o);
  Deliver();
  ASSERT_EQ(SentFor(key).size(), 2u);
  EXPECT_EQ(SentFor(key)[1]["resolved"], true);
}

// Issue 13 item 4: a divergence found by the anti-entropy checker alerts until a pass no
// longer lists it.
TEST_F(AlertRulesTest, DivergenceAlertsUntilAPassNoLongerListsIt) {
  AlertObservation o;
  o.divergent.emplace();
  o.divergent->push_back({"replica", "t", "d", "docs", "t/d/docs id \"x\" only on primary", 3});
  rules_->Observe(o);
  rules_->Observe(o);
  Deliver();
  const std::string key = "divergence/replica/t/d/docs";
  ASSERT_EQ(SentFor(key).size(), 1u);
  EXPECT_NE(SentFor(key)[0]["text"].get<std::string>().find("verify --repair"), std::string::npos);
  rules_->Observe(AlertObservation{});  // no pass: unchanged
  Advance(seconds(61));
  EXPECT_EQ(SentFor(key).size(), 1u);
  o.divergent->clear();
  rules_->Observe(o);
  Deliver();
  ASSERT_EQ(SentFor(key).size(), 2u);
  EXPECT_EQ(SentFor(key)[1]["resolved"], true);
}

TEST_F(AlertRulesTest, BacklogAndLagThresholds) {
  AlertObservation o = Store(true);
  o.backlog->push_back({"replica", 100, 30});  // at the thresholds: fine
  rules_->Observe(o);
  Deliver();
  EXPECT_TRUE(sent_.empty());
  o.backlog->at(0) = {"replica", 101, 31};
  rules_->Observe(o);
  Deliver();
  EXPECT_EQ(SentFor("wal_backlog/replica").size(), 1u);
  EXPECT_EQ(SentFor("replication_lag/replica").size(), 1u);
  Advance(seconds(61));
  o.backlog->at(0) = {"replica", 0, 0};
  rules_->Observe(o);
  Deliver();
  EXPECT_EQ(SentFor("wal_backlog/replica").back()["resolved"], true);
  EXPECT_EQ(SentFor("replication_lag/replica").back()["resolved"], true);
}

TEST_F(AlertRulesTest, MemoryAndCpuOverThreshold) {
  AlertObservation o;
  o.memory_percent = 95;
  o.cpu_percent = 10;
  rules_->Observe(o);
  Deliver();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0]["key"], "memory");
  EXPECT_EQ(rules_->Firing(), std::vector<std::string>{"memory"});
  o.cpu_percent = 99;
  rules_->Observe(o);
  Deliver();
  EXPECT_EQ(SentFor("cpu").size(), 1u);
}

TEST_F(AlertRulesTest, ProxyDownAndDegradedForTheMonitor) {
  AlertObservation o;
  o.proxy_up = true;
  o.proxy_health = "healthy";
  rules_->Observe(o);
  Deliver();
  EXPECT_TRUE(sent_.empty());
  AlertObservation down;
  down.proxy_up = false;
  down.proxy_detail = "connection refused";
  rules_->Observe(down);
  Deliver();
  ASSERT_EQ(SentFor("proxy_down").size(), 1u);
  Advance(seconds(61));
  o.proxy_health = "degraded";
  rules_->Observe(o);
  Deliver();
  EXPECT_EQ(SentFor("proxy_down").back()["resolved"], true);
  EXPECT_EQ(SentFor("proxy_degraded").size(), 1u);
}

TEST_F(AlertRulesTest, DeliveryFailuresAreCountedNotRetriedNotFatal) {
  poster_->fail = true;
  rules_->InstanceHealth("replica", false);
  Deliver();
  EXPECT_EQ(stats_.failed.load(), 1);
  EXPECT_EQ(stats_.sent.load(), 0);
  poster_->fail = false;
  Advance(seconds(61));
  rules_->InstanceHealth("replica", true);
  Deliver();
  EXPECT_EQ(stats_.sent.load(), 1);
}

TEST(AlertLimiterTest, ResolvedWithoutFiringIsSuppressed) {
  FakeClock clock;
  AlertLimiter limiter({seconds(60), 20}, clock);
  EXPECT_FALSE(limiter.Offer({"k", AlertSeverity::kWarning, "t", "", true}));
  EXPECT_EQ(limiter.suppressed(), 1);
  EXPECT_TRUE(limiter.Offer({"k", AlertSeverity::kWarning, "t", "", false}));
  EXPECT_FALSE(limiter.NextDue());
  EXPECT_FALSE(limiter.Offer({"k", AlertSeverity::kWarning, "t", "", true}));
  ASSERT_TRUE(limiter.NextDue());
  EXPECT_EQ(*limiter.NextDue(), clock.Now() + seconds(60));
  EXPECT_TRUE(limiter.Due().empty());
  clock.Advance(seconds(60));
  ASSERT_EQ(limiter.Due().size(), 1u);
  EXPECT_EQ(limiter.pending(), 0u);
}

TEST(WebhookAlerterTest, FullQueueDropsAndCounts) {
  FakeClock clock;
  AlertStats stats;
  std::vector<json> sent;
  WebhookAlerter::Options options;
  options.queue_capacity = 2;
  WebhookAlerter alerter(options, std::make_unique<RecordingPoster>(&sent), clock, stats);
  for (int i = 0; i < 5; ++i) {
    alerter.Send({"k" + std::to_string(i), AlertSeverity::kInfo, "t", "", false});
  }
  EXPECT_EQ(alerter.queued(), 2u);
  EXPECT_EQ(stats.dropped.load(), 3);
  alerter.RunOnce();
  EXPECT_EQ(sent.size(), 2u);
}

}  // namespace
}  // namespace chroma_ha
