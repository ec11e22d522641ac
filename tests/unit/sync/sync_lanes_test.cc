// Issue 14 item 4: pages sized per collection, and replay requests of different collections in
// flight together (sync/replay_plan.h, sync/replay_lanes.h), with every ordering rule kept: one
// collection's requests one after the other in WAL order, entries that go alone (barriers,
// non-batchable writes) with nothing else in flight, marks only for what was applied.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "fakes/probe_instance.h"
#include "sync_fixture.h"

namespace chroma_ha {
namespace {

class LanesTest : public SyncTest {
 protected:
  LanesTest() {
    faulty_ = true;  // to count store calls
    for (int c = 0; c < 8; ++c) {
      const std::string name = "c" + std::to_string(c);
      CollectionEverywhere(name);
      ids_.Learn(kTenant, kDatabase, name, "replica", replica_sim_.IdOf(name));
    }
  }
  // A worker whose replica is `probe_` (in front of the simulated replica).
  SyncWorker& ProbedWorker() {
    probed_ = std::make_unique<SyncWorker>(
        config_, store(), std::vector<InstanceClient*>{&primary_, &probe_}, ids_, clock_);
    RecordApplied(*probed_);
    return *probed_;
  }
  // Records per add/upsert request the replica applied.
  std::vector<size_t> RequestSizes() const {
    std::vector<size_t> out;
    for (const auto& w : replica_sim_.writes()) {
      if (w.op == "add" || w.op == "upsert")
        out.push_back(nlohmann::json::parse(w.body)["ids"].size());
    }
    return out;
  }

  ProbeInstance probe_{replica_};
  std::unique_ptr<SyncWorker> probed_;
};

// 8 collections, 150 adds each, interleaved: a backlog above kHighVolumeBacklog, so pages of
// 200. Sized per instance, each page held 25 adds per collection: 48 requests of 25 records.
// Sized per collection, each collection's 150 go in one request.
TEST_F(LanesTest, PagesAreSizedPerCollection) {
  for (int i = 0; i < 150; ++i) {
    for (int c = 0; c < 8; ++c) AppendAdd("c" + std::to_string(c), "r" + std::to_string(i));
  }
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(RequestSizes(), std::vector<size_t>(8, 150));
  EXPECT_EQ(ReplicaStats().batch_size, 200);
  EXPECT_EQ(Pending("replica"), 0);
  for (int c = 0; c < 8; ++c) EXPECT_EQ(ReplicaAdds("c" + std::to_string(c)).size(), 150u);
  // One page: 1,200 entries in reads of 200 (the last one short), and one mark.
  EXPECT_EQ(fault_.calls(WalOp::kPendingFor), 1 + 7);
  EXPECT_EQ(fault_.calls(WalOp::kMarkAppliedBatch), 1);
}

// A page grows only while its collections' runs are short: one collection keeps pages of 200.
TEST_F(LanesTest, OneCollectionKeepsItsPageSize) {
  for (int i = 0; i < 1001; ++i) AppendAdd("c0", "r" + std::to_string(i));
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(RequestSizes(), (std::vector<size_t>{200, 200, 200, 200, 200, 1}));
}

// Eight collections, one add each: with the gate holding each request until 4 are out, the
// worker must have 4 in flight (WAL_REPLAY_CONCURRENCY's default), and never more.
TEST_F(LanesTest, RequestsOfDifferentCollectionsOverlapUpToTheBound) {
  for (int c = 0; c < 8; ++c) AppendAdd("c" + std::to_string(c), "a");
  ASSERT_EQ(config_.wal_replay_concurrency, 4);
  probe_.Gate(4, 8);
  ASSERT_TRUE(ProbedWorker().RunOnce().ok());
  EXPECT_EQ(probe_.max_in_flight(), 4);
  EXPECT_EQ(probe_.gate_timeouts(), 0);
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(applied_.size(), 8u);
}

TEST_F(LanesTest, TheBoundIsConfigurable) {
  for (int c = 0; c < 8; ++c) AppendAdd("c" + std::to_string(c), "a");
  probe_.Gate(2, 8);
  config_.wal_replay_concurrency = 2;  // WAL_REPLAY_CONCURRENCY
  ASSERT_TRUE(ProbedWorker().RunOnce().ok());
  EXPECT_EQ(probe_.max_in_flight(), 2);
  EXPECT_EQ(Pending("replica"), 0);
}

// One collection's requests never overlap and keep WAL order, while another's run beside them.
// add, upsert, add: three requests per collection (an upsert cannot join an add's request).
TEST_F(LanesTest, OneCollectionsRequestsGoOneAfterTheOther) {
  for (const char* c : {"c0", "c1"}) {
    const std::string p = std::string(c) + "-";
    AppendAdd(c, p + "1");
    AppendCommitted(c, "upsert", AddBody(p + "2"));
    AppendAdd(c, p + "3");
  }
  probe_.Gate(2, 2);  // the first two requests wait for each other
  ASSERT_TRUE(ProbedWorker().RunOnce().ok());
  EXPECT_EQ(probe_.max_in_flight(), 2);
  EXPECT_EQ(probe_.same_target_overlaps(), 0);
  EXPECT_EQ(probe_.gate_timeouts(), 0);
  EXPECT_EQ(ReplicaAdds("c0"), (std::vector<std::string>{"c0-1", "c0-2", "c0-3"}));
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"c1-1", "c1-2", "c1-3"}));
  EXPECT_EQ(Pending("replica"), 0);
}

// A database operation (a barrier) and an update (not batchable) each go with nothing else in
// flight: every write before them has been answered, none after them has been sent.
TEST_F(LanesTest, EntriesThatGoAloneWaitForEverythingBeforeThem) {
  AppendAdd("c0", "a1");
  AppendAdd("c1", "b1");
  AppendCommitted("", "create_database", R"({"name":"d"})");
  AppendAdd("c0", "a2");
  AppendAdd("c1", "b2");
  AppendCommitted("c0", "update", AddBody("a2", "doc2"));
  AppendAdd("c1", "b3");
  AppendAdd("c2", "x1");
  probe_.Gate(2, 2);  // a1 and b1 wait for each other
  ASSERT_TRUE(ProbedWorker().RunOnce().ok());
  EXPECT_EQ(probe_.gate_timeouts(), 0);
  const auto arrivals = probe_.arrivals();
  ASSERT_EQ(arrivals.size(), 7u);  // b2 and b3 were one request
  std::vector<std::string> order;
  for (const auto& a : arrivals) {
    std::string what = a.target.substr(a.target.rfind('/') + 1);
    for (const char* id : {"a1", "b1", "a2", "b2", "x1"}) {
      if (a.body.find(std::string("\"") + id + "\"") != std::string::npos)
        what += ":" + std::string(id);
    }
    order.push_back(what);
    if (what == "databases" || what.rfind("update", 0) == 0) {
      EXPECT_EQ(a.others_in_flight, 0) << what;
    }
  }
  ASSERT_EQ(order.size(), 7u);
  // a1 and b1 (either first), the database, a2 and b2+b3 (either first), the update, x1.
  EXPECT_EQ(std::set<std::string>(order.begin(), order.begin() + 2),
            (std::set<std::string>{"add:a1", "add:b1"}));
  EXPECT_EQ(order[2], "databases");
  EXPECT_EQ(std::set<std::string>(order.begin() + 3, order.begin() + 5),
            (std::set<std::string>{"add:a2", "add:b2"}));
  EXPECT_EQ(order[5], "update:a2");
  EXPECT_EQ(order[6], "add:x1");
  EXPECT_EQ(Pending("replica"), 0);
}

// c0's request fails (503) while c1's is in flight beside it: c1's is applied and marked,
// nothing of c0 after the failed request is sent or marked, and the replica backs off.
TEST_F(LanesTest, ATransientFailureMarksWhatTheOtherRequestsApplied) {
  AppendAdd("c0", "a1");
  AppendAdd("c1", "b1");
  AppendCommitted("c0", "upsert", AddBody("a2"));
  replica_sim_.RefuseNext("\"a1\"", 503);
  probe_.Gate(2, 2);
  EXPECT_FALSE(ProbedWorker().RunOnce().ok());
  EXPECT_EQ(probe_.gate_timeouts(), 0) << "c0's and c1's requests were not in flight together";
  EXPECT_EQ(ReplicaAdds("c1"), std::vector<std::string>{"b1"});
  EXPECT_TRUE(ReplicaAdds("c0").empty());
  EXPECT_EQ(Pending("replica"), 2);  // a1 and a2
  for (const auto& a : probe_.arrivals()) EXPECT_EQ(a.body.find("\"a2\""), std::string::npos);
  EXPECT_GT(probed_->stats().instances.at(1).backoff_until_ms, 0);

  clock_.Advance(std::chrono::minutes(5));
  ASSERT_TRUE(probed_->RunOnce().ok());
  EXPECT_EQ(ReplicaAdds("c0"), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(Pending("replica"), 0);
}

// Requests finish in any order; the marks' callbacks still come in seq order (the write path's
// backlog counts assume it), here with c0's run [1, 3, 5] sent before c1's [2, 4].
TEST_F(LanesTest, AppliedCallbacksComeInSeqOrder) {
  for (int i = 0; i < 5; ++i) AppendAdd(i % 2 == 0 ? "c0" : "c1", "r" + std::to_string(i));
  ASSERT_TRUE(RunOnce().ok());
  std::vector<int64_t> replica_seqs;
  for (const auto& [seq, instance] : applied_) {
    if (instance == "replica") replica_seqs.push_back(seq);
  }
  EXPECT_EQ(replica_seqs, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(ReplicaStats().last_applied_seq, 5);
}

}  // namespace
}  // namespace chroma_ha
