// The own endpoints while the WAL store hangs (issue 10 item 2): /health, /status, /wal/status,
// /wal/stats, /metrics and /dashboard answer at once from the StoreSnapshotCache, marking what
// is stale, and show fresh data again once the store answers. The store is a MemoryWalStore
// behind a BlockingStore (every call hangs while frozen); time that matters comes from a
// FakeClock; every wait is on a condition with a deadline.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "co_run.h"
#include "collections/collection_map.h"
#include "fakes/blocking_store.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_upstreams.h"
#include "fakes/memory_store.h"
#include "metrics/metrics.h"
#include "server/collection_resolver.h"
#include "server/dashboard.h"
#include "server/identity_persister.h"
#include "server/listener.h"
#include "server/metrics_endpoint.h"
#include "server/own_endpoints.h"
#include "server/router.h"
#include "server/store_snapshot.h"
#include "server/wal_endpoints.h"
#include "server/write_path.h"
#include "sync/sync_worker.h"
#include "wal/group_commit.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

class NoIds final : public CollectionIds {
 public:
  std::optional<std::string> IdOn(const std::string&, const std::string&, const std::string&,
                                  const std::string&) override {
    return std::nullopt;
  }
  void Learn(const std::string&, const std::string&, const std::string&, const std::string&,
             const std::string&) override {}
};

Config MakeConfig() {
  Config c;
  c.instances = {{"primary", "http://p:1", "p", 1, false, true},
                 {"replica", "http://r:2", "r", 2, false, false}};
  return c;
}

StoreSnapshotCache::Options CacheOptions() {
  StoreSnapshotCache::Options o;
  o.interval = std::chrono::hours(1);  // only on-demand refreshes in these tests
  o.stale_after = milliseconds(3000);
  o.deadline = milliseconds(2000);
  return o;
}

// Polls `done` (real time, up to 10 s): for conditions reached by another thread.
template <typename Pred>
bool Eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

class OwnEndpointsStoreTest : public ::testing::Test {
 protected:
  OwnEndpointsStoreTest()
      : config_(MakeConfig()),
        blocking_(&mem_),
        committer_(&blocking_, 16),
        ups_({"primary", "replica"}),
        resolver_(config_, ups_, map_, nullptr),
        own_(config_, ups_, clock_),
        wal_threads_(1),
        writes_(config_, ups_, resolver_, blocking_, committer_, wal_threads_, nullptr),
        sync_(config_, blocking_, {nullptr, nullptr}, ids_, clock_),
        cache_(blocking_, {"primary", "replica"}, clock_, CacheOptions()),
        identities_(blocking_),
        metrics_({"primary", "replica"}) {
    EXPECT_TRUE(mem_.Open().ok());
    WalEndpointSources wal;
    wal.config = &config_;
    wal.store = &blocking_;
    wal.sync = &sync_;
    wal.writes = &writes_;
    wal.committer = &committer_;
    wal.snapshot = &cache_;
    wal.identities = &identities_;
    wal.wal_threads = &wal_threads_;
    wal.clock = &clock_;
    RegisterWalEndpoints(own_, wal);
    MetricsSources m;
    m.config = &config_;
    m.clock = &clock_;
    m.metrics = &metrics_;
    m.upstreams = &ups_;
    m.router = &router_stats_;
    m.listener = &listener_stats_;
    m.store = &blocking_;
    m.snapshot = &cache_;
    m.identities = &identities_;
    m.sync = &sync_;
    m.writes = &writes_;
    m.committer = &committer_;
    RegisterMetricsEndpoint(own_, m);
    RegisterDashboard(own_);
  }
  ~OwnEndpointsStoreTest() override {
    blocking_.Thaw();  // before the cache joins its thread
    cache_.Stop();
    committer_.Stop();
    wal_threads_.join();
  }

  // Appends `n` entries committed on the primary: backlog on the replica.
  void AppendCommitted(int n) {
    std::vector<WalEntry> entries(n);
    for (auto& e : entries) {
      e.tenant = "t";
      e.database = "d";
      e.collection = "c";
      e.kind = "add";
      e.method = "POST";
      e.path = "/api/v2/tenants/t/databases/d/collections/{collection}/add";
      e.body = "{}";
      e.state = EntryState::kCommitted;
      e.origin = "primary";
    }
    ASSERT_TRUE(mem_.Append(&entries).ok());
  }

  struct Timed {
    HttpResponse response;
    double ms;
  };
  Timed Get(const std::string& path) {
    HttpRequest request;
    request.method = "GET";
    request.target = path;
    const auto t0 = std::chrono::steady_clock::now();
    HttpResponse r = testing::RunCo(ioc_, own_.Handle(std::move(request)));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return {std::move(r), ms};
  }
  json GetJson(const std::string& path) {
    Timed t = Get(path);
    json j = json::parse(t.response.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << path << ": " << t.response.body;
    return j;
  }

  // Starts the cache, waits for its first read, then freezes the store with one refresh hung.
  void FreezeAfterFirstRead() {
    cache_.Start();
    ASSERT_TRUE(Eventually([&] { return cache_.Get().has_data; }));
    blocking_.Freeze();
    cache_.RequestRefresh();
    ASSERT_TRUE(blocking_.WaitForWaiting(1)) << "the refresh thread did not reach the store";
  }

  boost::asio::io_context ioc_;
  Config config_;
  FakeClock clock_;
  MemoryWalStore mem_;
  BlockingStore blocking_;
  GroupCommitter committer_;
  FakeUpstreams ups_;
  CollectionMap map_;
  CollectionResolver resolver_;
  OwnEndpoints own_;
  boost::asio::thread_pool wal_threads_;
  WritePath writes_;
  NoIds ids_;
  SyncWorker sync_;
  StoreSnapshotCache cache_;
  IdentityPersister identities_;
  Metrics metrics_;
  RouterStats router_stats_;
  ListenerStats listener_stats_;
};

TEST_F(OwnEndpointsStoreTest, EveryOwnEndpointAnswersAtOnceWhileTheStoreHangs) {
  AppendCommitted(3);
  FreezeAfterFirstRead();
  clock_.Advance(milliseconds(5000));  // the hung refresh is past its deadline, the data old

  for (const char* path :
       {"/health", "/status", "/wal/status", "/wal/stats", "/metrics", "/dashboard"}) {
    Timed t = Get(path);
    EXPECT_EQ(t.response.status, 200) << path << ": " << t.response.body;
    EXPECT_LT(t.ms, 100.0) << path << " took " << t.ms << " ms with the store frozen";
  }
  json status = GetJson("/wal/status");
  EXPECT_EQ(status["store_snapshot"]["stale"], true);
  EXPECT_NE(status["store_snapshot"]["error"].get<std::string>().find("not answered"),
            std::string::npos)
      << status.dump();
  EXPECT_GE(status["store_snapshot"]["age_ms"].get<int64_t>(), 5000);
  ASSERT_EQ(status["instances"].size(), 2u);
  EXPECT_EQ(status["instances"][1]["pending_entries"], 3);  // the last good read
  EXPECT_EQ(GetJson("/health")["wal"]["store_snapshot"]["stale"], true);
  const std::string metrics = Get("/metrics").response.body;
  EXPECT_NE(metrics.find("chroma_ha_wal_store_up 0"), std::string::npos) << metrics;
  EXPECT_EQ(blocking_.waiting(), 1) << "requests must not add store calls to a hung store";

  // The store answers again: the next requests see fresh data.
  AppendCommitted(2);
  blocking_.Thaw();
  json fresh;
  ASSERT_TRUE(Eventually([&] {
    fresh = GetJson("/wal/status");
    return fresh["store_snapshot"]["stale"] == false;
  })) << fresh.dump();
  EXPECT_EQ(fresh["store_snapshot"]["error"], nullptr);
  EXPECT_EQ(fresh["instances"][1]["pending_entries"], 5);
  EXPECT_NE(Get("/metrics").response.body.find("chroma_ha_wal_store_up 1"), std::string::npos);
}

TEST_F(OwnEndpointsStoreTest, AHungRefreshHoldsBackTheNextOnesInsteadOfStackingThem) {
  FreezeAfterFirstRead();
  clock_.Advance(milliseconds(100));  // hung past the requests' budget: they do not wait
  const int64_t calls = blocking_.calls();
  for (int i = 0; i < 10; ++i) {
    cache_.RequestRefresh();
    (void)Get("/wal/status");
    (void)Get("/metrics");
  }
  // Hung for 100 ms only (data < 3 s old, the read < 2 s): still not shown as current.
  json status = GetJson("/wal/status");
  EXPECT_EQ(status["store_snapshot"]["stale"], true) << status.dump();
  EXPECT_NE(status["store_snapshot"]["error"].get<std::string>().find("50 ms"), std::string::npos)
      << status.dump();
  Status direct = cache_.RefreshOnce();
  EXPECT_EQ(direct.code(), StatusCode::kUnavailable) << direct.ToString();
  EXPECT_EQ(blocking_.calls(), calls);
  EXPECT_EQ(blocking_.waiting(), 1);
  blocking_.Thaw();
  ASSERT_TRUE(Eventually([&] { return !cache_.Get().stale; }));
}

TEST_F(OwnEndpointsStoreTest, ARequestWaitsForARefreshThatStartedAfterIt) {
  cache_.Start();
  ASSERT_TRUE(Eventually([&] { return cache_.Get().has_data; }));
  EXPECT_EQ(GetJson("/wal/status")["instances"][1]["pending_entries"], 0);
  AppendCommitted(4);  // a test that just wrote must not be shown the read from before
  EXPECT_EQ(GetJson("/wal/status")["instances"][1]["pending_entries"], 4);
}

TEST_F(OwnEndpointsStoreTest, DataOlderThanStaleAfterIsMarkedStale) {
  ASSERT_TRUE(cache_.RefreshOnce().ok());
  StoreSnapshot s = cache_.Get();
  EXPECT_FALSE(s.stale);
  EXPECT_EQ(s.age_ms, 0);
  clock_.Advance(milliseconds(3001));
  s = cache_.Get();
  EXPECT_TRUE(s.stale);
  EXPECT_EQ(s.error, "");
  ASSERT_TRUE(cache_.RefreshOnce().ok());
  EXPECT_FALSE(cache_.Get().stale);
}

TEST_F(OwnEndpointsStoreTest, AFailedRefreshKeepsTheLastDataAndSaysWhy) {
  AppendCommitted(1);
  ASSERT_TRUE(cache_.RefreshOnce().ok());
  blocking_.Freeze();
  std::thread hung([&] { (void)cache_.RefreshOnce(); });
  ASSERT_TRUE(blocking_.WaitForWaiting(1));
  EXPECT_FALSE(cache_.Get().stale) << "within its deadline a refresh in flight is not an error";
  clock_.Advance(milliseconds(2001));
  StoreSnapshot s = cache_.Get();
  EXPECT_TRUE(s.stale);
  EXPECT_EQ(s.refreshing_for_ms, 2001);
  ASSERT_EQ(s.backlog.size(), 2u);
  EXPECT_EQ(s.backlog[1].entries, 1);
  blocking_.Thaw();
  hung.join();
  EXPECT_EQ(cache_.Get().refresh_failures, 1);  // it finished, but past its deadline
}

TEST_F(OwnEndpointsStoreTest, NeverReadAnswers503AtOnce) {
  blocking_.Freeze();
  cache_.Start();
  ASSERT_TRUE(blocking_.WaitForWaiting(1));
  clock_.Advance(milliseconds(100));
  Timed t = Get("/wal/status");
  EXPECT_EQ(t.response.status, 503) << t.response.body;
  EXPECT_LT(t.ms, 100.0);
  json j = json::parse(t.response.body, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["error"], "ServiceUnavailable");
  EXPECT_EQ(Get("/wal/stats").response.status, 200);
  EXPECT_EQ(Get("/health").response.status, 200);
}

TEST_F(OwnEndpointsStoreTest, TextThatIsNotUtf8NeverBreaksStatusOrHealth) {
  own_.AddStatusSection(
      "x", [] { return json("cut \xC3"); }, /*in_health=*/true);
  for (const char* path : {"/status", "/health"}) {
    Timed t = Get(path);
    EXPECT_EQ(t.response.status, 200) << path;
    json j = json::parse(t.response.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << path << ": " << t.response.body;
    EXPECT_EQ(j["x"], "cut \xEF\xBF\xBD") << path;  // U+FFFD for the cut character
  }
}

}  // namespace
}  // namespace chroma_ha
