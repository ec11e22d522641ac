// Batch sizing, crash-resume, the store fault loop, the worker thread, and backoff arithmetic.
#include <gtest/gtest.h>

#include <condition_variable>

#include "sync/backoff.h"
#include "sync_fixture.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

class BatchTest : public SyncTest {
 protected:
  BatchTest() {
    faulty_ = true;  // to count store calls
    CollectionEverywhere("c1");
    ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  }
  void AppendMany(int n) {
    for (int i = 0; i < n; ++i) AppendAdd("c1", "r" + std::to_string(i));
  }
  int64_t PageReads() { return fault_.calls(WalOp::kPendingFor); }
};

// PendingFor is called once per instance for an empty primary backlog, plus the replica's pages.
TEST_F(BatchTest, NormalBatches) {
  AppendMany(250);
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(PageReads(), 1 + 3);  // 100 + 100 + 50
  EXPECT_EQ(ReplicaStats().batch_size, 100);
  EXPECT_EQ(Pending("replica"), 0);
}

TEST_F(BatchTest, HalfUnderPressure) {
  pressure_ = true;
  AppendMany(250);
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(PageReads(), 1 + 6);  // 5 full pages, then an empty one
  EXPECT_EQ(ReplicaStats().batch_size, 50);
}

TEST_F(BatchTest, HighVolumeBacklog) {
  AppendMany(static_cast<int>(kHighVolumeBacklog) + 1);
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(PageReads(), 1 + 6);  // 5 x 200 + 1
  EXPECT_EQ(ReplicaStats().batch_size, 200);
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(ReplicaAdds("c1").size(), kHighVolumeBacklog + 1);
}

// Crash-resume with batched marks: sync_marks_test.cc.

// Fails the nth store call, for every n; then runs without faults. Every committed entry must
// end up applied on both instances, in seq order per collection, with no gap; at most one run
// of entries (the one whose MarkAppliedBatch failed) is applied twice, in order, right after
// itself: per collection the writes are want[0, j) + want[i, n) for some i <= j.
TEST_F(SyncTest, StoreFaultLoopConverges) {
  for (int64_t n = 0;; ++n) {
    SCOPED_TRACE("failing store call " + std::to_string(n));
    SimulatedPair pair;
    auto& [memory, fault, ids, primary, replica, primary_sim, replica_sim] = pair;
    // c2 exists only on the primary: the first replay heals it.
    primary_sim.Create("c2");

    std::vector<WalEntry> entries;
    std::map<std::string, std::vector<std::string>> want;
    for (int i = 0; i < 8; ++i) {
      const std::string c = i % 3 == 0 ? "c2" : "c1";
      const std::string origin = i == 5 ? "replica" : "primary";
      WalEntry e;
      e.tenant = kTenant;
      e.database = kDatabase;
      e.collection = c;
      e.kind = "add";
      e.method = "POST";
      e.path = PathFor("add");
      e.body = AddBody(c + "-" + std::to_string(i));
      e.state = EntryState::kCommitted;
      e.origin = origin;
      entries.push_back(e);
      if (origin == "primary") want[c].push_back(c + "-" + std::to_string(i));
    }
    ASSERT_TRUE(memory.Append(&entries).ok());

    SyncWorker worker(config_, fault, {&primary, &replica}, ids, clock_);
    fault.FailNthCall(n);
    (void)worker.RunOnce();
    const bool fired = fault.fired();
    fault.ClearFaults();
    clock_.Advance(std::chrono::minutes(5));
    ASSERT_TRUE(worker.RunOnce().ok());
    ASSERT_TRUE(worker.RunOnce().ok());

    for (const char* instance : {"primary", "replica"}) {
      EXPECT_EQ(memory.Backlog({instance})->front().entries, 0) << instance;
    }
    int reapplied_runs = 0;
    // The ids `sim` applied to collection `c`, in order.
    const auto applied = [&](const SimChroma& sim, const std::string& c) {
      std::vector<std::string> out;
      for (const auto& w : sim.writes()) {
        if (w.collection != c || w.op != "add") continue;
        const nlohmann::json body = nlohmann::json::parse(w.body);
        for (const auto& id : body["ids"]) out.push_back(id);
      }
      return out;
    };
    // True when `got` is `want` with one run want[i, j) applied again right after itself.
    const auto want_with_one_rerun = [&](const std::vector<std::string>& got,
                                         const std::vector<std::string>& want) {
      if (got == want) return true;
      for (size_t j = 0; j <= want.size(); ++j) {
        for (size_t i = 0; i < j; ++i) {
          std::vector<std::string> w(want.begin(), want.begin() + j);
          w.insert(w.end(), want.begin() + i, want.end());
          if (got == w) {
            ++reapplied_runs;
            return true;
          }
        }
      }
      return false;
    };
    for (const auto& [c, expected] : want) {
      const std::vector<std::string> got = applied(replica_sim, c);
      EXPECT_TRUE(want_with_one_rerun(got, expected))
          << c << ": " << nlohmann::json(got).dump();
    }
    EXPECT_TRUE(want_with_one_rerun(applied(primary_sim, "c1"), {"c1-5"}));
    EXPECT_TRUE(applied(primary_sim, "c2").empty());
    EXPECT_LE(reapplied_runs, 2);  // one run of the page, which may span c1 and c2
    if (!fired) break;  // n is past the last store call: every call has been failed once
  }
}

TEST_F(SyncTest, ThreadRunsOnStartAndOnNotify) {
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
  const auto wait_for = [&](int n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return applied >= n; });
  };
  worker->Start();
  ASSERT_TRUE(wait_for(1));  // the start-up round
  AppendAdd("c1", "b");
  worker->Notify();  // the interval is an hour: only Notify can wake it
  ASSERT_TRUE(wait_for(2));
  worker->Stop();
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a", "b"}));
  EXPECT_GT(worker->stats().last_sync_ms, 0);
}

TEST(Backoff, CeilingDoublesFromTheBaseUpToTheCap) {
  const milliseconds base(1000);
  EXPECT_EQ(BackoffCeiling(base, 1), milliseconds(1000));
  EXPECT_EQ(BackoffCeiling(base, 2), milliseconds(2000));
  EXPECT_EQ(BackoffCeiling(base, 6), milliseconds(32000));
  EXPECT_EQ(BackoffCeiling(base, 7), kMaxReplayBackoff);
  EXPECT_EQ(BackoffCeiling(base, 1000000), kMaxReplayBackoff);
  EXPECT_EQ(BackoffCeiling(milliseconds(0), 1), milliseconds(1));
}

TEST(Backoff, JitterStaysWithinHalfAndFullCeiling) {
  const milliseconds base(1000);
  for (int failures : {1, 3, 10}) {
    const milliseconds ceiling = BackoffCeiling(base, failures);
    EXPECT_EQ(JitteredBackoff(base, failures, 0.0), ceiling / 2);
    EXPECT_EQ(JitteredBackoff(base, failures, 0.5), ceiling * 3 / 4);
    EXPECT_LE(JitteredBackoff(base, failures, 0.999999), ceiling);
    EXPECT_GE(JitteredBackoff(base, failures, -1.0), ceiling / 2);
    EXPECT_LE(JitteredBackoff(base, failures, 2.0), ceiling);
  }
}

}  // namespace
}  // namespace chroma_ha
