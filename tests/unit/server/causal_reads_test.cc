// CausalReads (X-Chroma-HA-Min-Seq): which instances may serve a read that carries a token, as
// the WAL store says (issue 11 item 5). An in-memory store behind a fault wrapper (to count
// the store calls and fail them), fake upstreams for health, the test's own io_context.
#include "server/causal_reads.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "co_run.h"
#include "collections/collection_map.h"
#include "fakes/fake_upstreams.h"
#include "fakes/fault_store.h"
#include "fakes/memory_store.h"

namespace chroma_ha {
namespace {

using Order = std::vector<std::size_t>;
using Choice = std::variant<Order, HttpResponse>;
constexpr std::size_t kPrimary = 0, kReplica = 1;

HttpRequest WithToken(const std::string& value) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/api/v2/tenants/t/databases/d/collections/x/get";
  r.headers.push_back({"X-Chroma-HA-Min-Seq", value});
  return r;
}

TEST(ParseMinSeqTest, AbsentValidAndMalformedTokens) {
  HttpRequest none;
  EXPECT_TRUE(std::holds_alternative<std::monostate>(ParseMinSeq(none)));
  for (const auto& [text, want] : std::vector<std::pair<std::string, int64_t>>{
           {"0", 0}, {"42", 42}, {" 17\t", 17}, {"999999999999999999", 999999999999999999},
           {"latest", kLatest}}) {
    auto t = ParseMinSeq(WithToken(text));
    ASSERT_TRUE(std::holds_alternative<int64_t>(t)) << text;
    EXPECT_EQ(std::get<int64_t>(t), want);
  }
  for (const char* bad : {"", "Latest", "-1", "+1", "1e3", "0x10", "12a", "1 2", "1234567890123456789",
                          "\xff"}) {
    auto t = ParseMinSeq(WithToken(bad));
    ASSERT_TRUE(std::holds_alternative<HttpResponse>(t)) << bad;
    EXPECT_EQ(std::get<HttpResponse>(t).status, 400);
    EXPECT_NE(std::get<HttpResponse>(t).body.find("InvalidArgumentError"), std::string::npos);
  }
}

class CausalReadsTest : public ::testing::Test {
 protected:
  CausalReadsTest()
      : ups_({"primary", "replica"}), fault_(&memory_), causal_(config_, ups_, map_, fault_, pool_) {
    config_.instances.push_back({"primary", "http://p:1", "p", 1, false, true});
    config_.instances.push_back({"replica", "http://r:2", "r", 2, false, false});
    config_.causal_wait = std::chrono::milliseconds(100);
    config_.request_timeout = std::chrono::milliseconds(300);
    EXPECT_TRUE(memory_.Open().ok());
    EXPECT_TRUE(memory_.RegisterInstances({"primary", "replica"}).ok());
  }
  ~CausalReadsTest() override { pool_.join(); }

  // Appends a committed write of collection `c` (database "d" of tenant "t") from `origin`.
  int64_t Committed(const std::string& origin, const std::string& collection = "c") {
    std::vector<WalEntry> batch(1);
    batch[0].tenant = "t";
    batch[0].database = "d";
    batch[0].collection = collection;
    batch[0].kind = "add";
    batch[0].method = "POST";
    batch[0].path = "/x";
    EXPECT_TRUE(memory_.Append(&batch).ok());
    EXPECT_TRUE(memory_.SetOutcome(batch[0].seq, EntryState::kCommitted, origin, 1, "").ok());
    return batch[0].seq;
  }
  static Route ReadOf(const std::string& collection, CollectionRef ref = CollectionRef::kName) {
    Route r;
    r.cls = RouteClass::kRead;
    r.tenant = "t";
    r.database = "d";
    r.collection = collection;
    r.ref = ref;
    return r;
  }
  std::future<Choice> Start(const Route& route, int64_t seq, Order planned = {kReplica, kPrimary}) {
    return testing::Spawn(ioc_, causal_.Order(route, seq, std::move(planned)));
  }
  Choice Choose(const Route& route, int64_t seq, Order planned = {kReplica, kPrimary}) {
    auto f = Start(route, seq, std::move(planned));
    return testing::Await(ioc_, f);
  }

  Config config_;
  boost::asio::io_context ioc_;
  boost::asio::thread_pool pool_{1};
  FakeUpstreams ups_;
  CollectionMap map_;
  MemoryWalStore memory_;
  FaultStore fault_;
  CausalReads causal_;
};

TEST_F(CausalReadsTest, ACaughtUpReplicaServesAtOnce) {
  const int64_t seq = Committed("primary");
  ASSERT_TRUE(memory_.MarkApplied(seq, "replica").ok());
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("c"), seq)), (Order{kReplica, kPrimary}));
  EXPECT_EQ(causal_.stats().immediate, 1);
  EXPECT_EQ(fault_.calls(WalOp::kInstancesBehind), 1);
}

TEST_F(CausalReadsTest, OnlyTheReadsScopeUpToTheTokenCounts) {
  const int64_t c = Committed("primary", "c");
  ASSERT_TRUE(memory_.MarkApplied(c, "replica").ok());
  const int64_t other = Committed("primary", "other");  // the replica lags on another collection
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("c"), other)), (Order{kReplica, kPrimary}));
  const int64_t later = Committed("primary", "c");  // and on c, but after the token
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("c"), later - 1)), (Order{kReplica, kPrimary}));
  EXPECT_EQ(causal_.stats().immediate, 2);
}

TEST_F(CausalReadsTest, WaitsForAReplicaThatCatchesUpWithinTheWait) {
  const int64_t seq = Committed("primary");
  auto f = Start(ReadOf("c"), seq);
  // The replica applies the entry after the read has asked the store twice.
  ASSERT_TRUE(testing::RunUntil(ioc_, [&] {
    return testing::Ready(f) || fault_.calls(WalOp::kInstancesBehind) >= 2;
  }));
  ASSERT_FALSE(testing::Ready(f));
  ASSERT_TRUE(memory_.MarkApplied(seq, "replica").ok());
  EXPECT_EQ(std::get<Order>(testing::Await(ioc_, f)), (Order{kReplica, kPrimary}));
  EXPECT_EQ(causal_.stats().waited, 1);
}

TEST_F(CausalReadsTest, AReplicaStillBehindAfterTheWaitLeavesTheReadToThePrimaryOnly) {
  const int64_t seq = Committed("primary");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("c"), seq)), Order{kPrimary});  // never the replica
  EXPECT_GE(std::chrono::steady_clock::now() - t0, config_.causal_wait);
  EXPECT_EQ(causal_.stats().redirected, 1);
}

TEST_F(CausalReadsTest, ACaughtUpPlannedPrimaryServesAtOnceAndAnUnhealthyOneGoesLast) {
  const int64_t seq = Committed("replica");
  ASSERT_TRUE(memory_.MarkApplied(seq, "primary").ok());
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("c"), seq, {kPrimary, kReplica})),
            (Order{kPrimary, kReplica}));
  ups_.SetHealthy(kReplica, false);
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("c"), seq)), (Order{kPrimary, kReplica}));
}

TEST_F(CausalReadsTest, NoInstanceCaughtUpWithinTheRequestTimeoutIs503) {
  const int64_t first = Committed("primary");
  const int64_t second = Committed("replica");  // each lacks the other's write
  (void)first;
  Choice c = Choose(ReadOf("c"), second);
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(c));
  EXPECT_EQ(std::get<HttpResponse>(c).status, 503);
  EXPECT_NE(std::get<HttpResponse>(c).body.find(std::to_string(second)), std::string::npos);
  EXPECT_EQ(causal_.stats().timeouts, 1);
}

TEST_F(CausalReadsTest, AStoreThatCannotAnswerIs503AfterTheWait) {
  const int64_t seq = Committed("primary");
  fault_.SetDown(true);
  Choice c = Choose(ReadOf("c"), seq);
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(c));
  EXPECT_EQ(std::get<HttpResponse>(c).status, 503);
  EXPECT_NE(std::get<HttpResponse>(c).body.find("WAL store"), std::string::npos);
}

TEST_F(CausalReadsTest, ACollectionIdIsReadAsItsNameAndAnUnknownIdAsTheWholeDatabase) {
  (void)map_.Learn({"t", "d", "c"}, "primary", "11111111-1111-1111-1111-111111111111");
  const int64_t other = Committed("primary", "other");
  // Known id: the lag on "other" does not matter.
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("11111111-1111-1111-1111-111111111111",
                                          CollectionRef::kId),
                                   other)),
            (Order{kReplica, kPrimary}));
  // Unknown id: it could be "other", so the replica is not trusted.
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("99999999-9999-9999-9999-999999999999",
                                          CollectionRef::kId),
                                   other)),
            Order{kPrimary});
}

TEST_F(CausalReadsTest, LatestWaitsForEverythingCommittedInTheScope) {
  const int64_t seq = Committed("primary");
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("c"), kLatest)), Order{kPrimary});
  ASSERT_TRUE(memory_.MarkApplied(seq, "replica").ok());
  EXPECT_EQ(std::get<Order>(Choose(ReadOf("c"), kLatest)), (Order{kReplica, kPrimary}));
}

TEST_F(CausalReadsTest, FreshOrderPutsInstancesWithEntriesOfTheScopeLeftLastWithoutWaiting) {
  config_.database_url = "postgresql://fleet";  // fresh reads ask the store with PostgreSQL
  EXPECT_TRUE(causal_.fresh_from_store());
  auto fresh = [&](const std::string& collection) {
    auto f = testing::Spawn(ioc_, causal_.FreshOrder(ReadOf(collection), {kReplica, kPrimary}));
    return testing::Await(ioc_, f);
  };
  EXPECT_EQ(fresh("c"), (Order{kReplica, kPrimary}));
  const int64_t seq = Committed("primary");  // e.g. written through another proxy
  EXPECT_EQ(fresh("c"), (Order{kPrimary, kReplica}));  // moved, not removed
  EXPECT_EQ(fresh("other"), (Order{kReplica, kPrimary}));
  ASSERT_TRUE(memory_.MarkApplied(seq, "replica").ok());
  EXPECT_EQ(fresh("c"), (Order{kReplica, kPrimary}));
  EXPECT_EQ(causal_.stats().fresh_redirected, 1);
  fault_.SetDown(true);  // the store cannot say: the planned order stands
  (void)Committed("primary");
  EXPECT_EQ(fresh("c"), (Order{kReplica, kPrimary}));
  config_.read_consistency = ReadConsistency::kEventual;
  EXPECT_FALSE(causal_.fresh_from_store());
}

}  // namespace
}  // namespace chroma_ha
