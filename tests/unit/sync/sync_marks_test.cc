// Applied marks in batches (one store transaction per run of batchable writes), the applied
// callback after the mark is durable, and a health transition waking the worker.
#include <gtest/gtest.h>

#include <condition_variable>

#include "sync/replay.h"
#include "sync_fixture.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

class MarksTest : public SyncTest {
 protected:
  MarksTest() {
    faulty_ = true;  // to count and fail store calls
    CollectionEverywhere("c1");
    ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  }
  void AppendMany(int n) {
    for (int i = 0; i < n; ++i) AppendAdd("c1", "r" + std::to_string(i));
  }
  int64_t BatchMarks() { return fault_.calls(WalOp::kMarkAppliedBatch); }
  int64_t SingleMarks() { return fault_.calls(WalOp::kMarkApplied); }
};

TEST_F(MarksTest, EachPageOfAddsIsMarkedInOneStoreCall) {
  AppendMany(250);
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(BatchMarks(), 3);  // pages of 100 + 100 + 50
  EXPECT_EQ(SingleMarks(), 0);
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(ReplicaAdds("c1").size(), 250u);
  EXPECT_EQ(worker().stats().replayed, 250);
  EXPECT_EQ(ReplicaStats().last_applied_seq, 250);
  ASSERT_EQ(applied_.size(), 250u);
  for (size_t i = 1; i < applied_.size(); ++i) EXPECT_LT(applied_[i - 1].first, applied_[i].first);
}

// The write path's backlog counts (and its failback rule) rely on the callback meaning "the
// mark is durable": a lost mark means no callback, and the next round calls it exactly once.
TEST_F(MarksTest, AppliedCallbackOnlyAfterTheMarkIsStored) {
  AppendMany(3);
  std::vector<int64_t> unmarked_at_callback;
  worker().SetOnApplied([&](const WalEntry& e, const std::string& instance) {
    applied_.push_back({e.seq, instance});
    auto pending = memory_.PendingFor("replica", 0, 100);
    ASSERT_TRUE(pending.ok());
    for (const WalEntry& p : *pending) {
      if (p.seq == e.seq) unmarked_at_callback.push_back(e.seq);
    }
  });
  fault_.FailNthCallOf(WalOp::kMarkAppliedBatch, 0);
  EXPECT_FALSE(RunOnce().ok());
  EXPECT_TRUE(applied_.empty());
  EXPECT_EQ(Pending("replica"), 3);
  EXPECT_EQ(worker().stats().replayed, 0);

  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(applied_.size(), 3u);
  EXPECT_TRUE(unmarked_at_callback.empty());
  EXPECT_EQ(Pending("replica"), 0);
}

TEST_F(MarksTest, CrashReappliesAtMostTheUnmarkedRunInOrder) {
  AppendAdd("c1", "a");
  AppendAdd("c1", "b");
  AppendAdd("c1", "c");
  fault_.FailNthCallOf(WalOp::kMarkAppliedBatch, 0);  // applied, but the page's mark is lost
  EXPECT_FALSE(RunOnce().ok());
  worker_.reset();  // "crash": nothing in memory survives

  fault_.ClearFaults();
  auto fresh = NewWorker();
  ASSERT_TRUE(fresh->RunOnce().ok());
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a", "b", "c", "a", "b", "c"}));
  EXPECT_EQ(Pending("replica"), 0);
}

// Runs of add/upsert/delete-by-ids share a mark; every other entry is marked alone, with the
// run before it marked first. Failing the nth mark shows where each mark ended:
// [a, b] [update] [c] [delete where] [upsert d, delete ids, e].
TEST_F(SyncTest, OnlyReapplySafeWritesShareAMark) {
  const std::vector<int64_t> pending_after_failed_mark = {8, 6, 5, 4, 3};
  for (int64_t n = 0; n <= static_cast<int64_t>(pending_after_failed_mark.size()); ++n) {
    SCOPED_TRACE("failing mark " + std::to_string(n));
    SimulatedPair pair;
    auto& [memory, fault, ids, primary, replica, primary_sim, replica_sim] = pair;
    const auto entry = [](const std::string& kind, const std::string& body) {
      WalEntry e;
      e.tenant = kTenant;
      e.database = kDatabase;
      e.collection = "c1";
      e.kind = kind;
      e.method = "POST";
      e.path = PathFor(kind);
      e.body = body;
      e.state = EntryState::kCommitted;
      e.origin = "primary";
      return e;
    };
    std::vector<WalEntry> entries = {
        entry("add", AddBody("a")),
        entry("add", AddBody("b")),
        entry("update", AddBody("a", "doc2")),
        entry("add", AddBody("c")),
        entry("delete", R"({"where":{"document_id":{"$in":["none"]}}})"),
        entry("upsert", AddBody("d")),
        entry("delete", R"({"ids":["b"],"where":null})"),
        entry("add", AddBody("e")),
    };
    ASSERT_TRUE(memory.Append(&entries).ok());
    SyncWorker worker(config_, fault, {&primary, &replica}, ids, clock_);
    fault.FailNthCallOf(WalOp::kMarkAppliedBatch, n);
    const Status first = worker.RunOnce();
    const int64_t left = memory.Backlog({"replica"})->front().entries;
    if (n < static_cast<int64_t>(pending_after_failed_mark.size())) {
      EXPECT_FALSE(first.ok());
      EXPECT_EQ(left, pending_after_failed_mark[n]);
    } else {
      EXPECT_TRUE(first.ok()) << first.ToString();
      EXPECT_EQ(left, 0);
      EXPECT_EQ(fault.calls(WalOp::kMarkAppliedBatch), n);
    }
  }
}

TEST(BatchableReplay, Kinds) {
  struct Case {
    std::string kind, body, extra;
    bool want;
  };
  const Case kCases[] = {
      {"add", R"({"ids":["a"]})", "", true},
      {"upsert", R"({"ids":["a"]})", "", true},
      {"delete", R"({"ids":["a"]})", "", true},
      {"delete", R"({"ids":["a"],"where":null,"where_document":null})", "", true},
      {"delete", R"({"ids":["a"]})", R"({"document_ids":{"a":"d"}})", false},
      {"delete", R"({"where":{"k":1}})", "", false},
      {"delete", R"({"ids":["a"],"where_document":{"$contains":"x"}})", "", false},
      {"delete", "not json", "", false},
      {"update", R"({"ids":["a"]})", "", false},
      {"create_collection", R"({"name":"c"})", "", false},
      {"modify_collection", R"({"new_name":"d"})", "", false},
      {"delete_collection", "", "", false},
  };
  for (const Case& c : kCases) {
    WalEntry e;
    e.kind = c.kind;
    e.body = c.body;
    e.extra = c.extra;
    EXPECT_EQ(IsBatchableReplay(e), c.want) << c.kind << " " << c.body << " " << c.extra;
  }
}

TEST_F(SyncTest, HealthyAgainClearsTheBackoffAndWakesTheWorker) {
  CollectionEverywhere("c1");
  AppendAdd("c1", "a");
  std::mutex mu;
  std::condition_variable cv;
  int applied = 0;
  auto worker = NewWorker();
  worker->SetOnApplied([&](const WalEntry&, const std::string&) {
    std::lock_guard<std::mutex> lock(mu);
    ++applied;
    cv.notify_all();
  });
  ReplicaReturns(503);
  EXPECT_FALSE(worker->RunOnce().ok());
  EXPECT_EQ(worker->stats().instances.at(1).consecutive_failures, 1);
  EXPECT_GT(worker->stats().instances.at(1).backoff_until_ms, 0);
  ReplicaRecovers();
  // The fake clock stands still: without a health signal the backoff never ends, and the
  // interval is an hour.
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 1);

  worker->Start();  // its first round skips the replica too (still backing off)
  worker->OnInstanceHealthy(1);
  worker->OnInstanceHealthy(7);  // out of range: ignored
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return applied >= 1; }));
  }
  worker->Stop();
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(ReplicaAdds("c1"), std::vector<std::string>{"a"});
  EXPECT_EQ(worker->stats().instances.at(1).backoff_until_ms, 0);
  EXPECT_EQ(worker->stats().instances.at(1).consecutive_failures, 0);
}

}  // namespace
}  // namespace chroma_ha
