// Store errors in replay rounds (issue 10 item 5) are counted by operation, scheduled for a
// retry after a backoff (no new write or sync interval needed), and the retry completes the
// replay. The store is a MemoryWalStore behind a FaultStore failing one call.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "sync_fixture.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

struct OpCase {
  WalOp op;
  int64_t nth;       // which call of `op` fails (0: the primary's, which has no backlog)
  const char* name;  // the op label in SyncStats::store_errors
  bool round_fails;  // RunOnce reports it (Backlog is best effort: normal pages instead)
};

class SyncStoreErrorTest : public SyncTest, public ::testing::WithParamInterface<OpCase> {
 protected:
  SyncStoreErrorTest() {
    faulty_ = true;
    CollectionEverywhere("c1");
    ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  }
};

TEST_P(SyncStoreErrorTest, AFailedStoreCallIsCountedAndTheRoundRetriedAfterABackoff) {
  const OpCase& c = GetParam();
  AppendAdd("c1", "a");
  AppendAdd("c1", "b");
  fault_.FailNthCallOf(c.op, c.nth);
  const Status first = RunOnce();
  EXPECT_EQ(first.ok(), !c.round_fails) << first.ToString();
  ASSERT_TRUE(fault_.fired());
  SyncStats stats = worker().stats();
  EXPECT_EQ(stats.store_errors[c.name], 1) << c.name;
  EXPECT_EQ(stats.consecutive_store_errors, 1);
  // JitteredBackoff after one failure: in [base/2, base] with base = wal_retry_delay (1 s).
  EXPECT_GE(stats.store_retry_at_ms, clock_.UnixMillis() + 500);
  EXPECT_LE(stats.store_retry_at_ms, clock_.UnixMillis() + 1000);

  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 0);
  stats = worker().stats();
  EXPECT_EQ(stats.store_errors[c.name], 1);
  EXPECT_EQ(stats.consecutive_store_errors, 0);
  EXPECT_EQ(stats.store_retry_at_ms, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, SyncStoreErrorTest,
    ::testing::Values(OpCase{WalOp::kListBlocked, 1, "list_blocked", true},
                      OpCase{WalOp::kPendingFor, 1, "pending_for", true},
                      OpCase{WalOp::kMarkAppliedBatch, 0, "mark_applied_batch", true},
                      OpCase{WalOp::kBacklog, 1, "backlog", false}),
    [](const ::testing::TestParamInfo<OpCase>& info) { return std::string(info.param.name); });

TEST_F(SyncTest, BackoffGrowsWhileRoundsKeepFailingOnTheStore) {
  faulty_ = true;
  AppendAdd("c1", "a");
  fault_.SetDown(true);
  for (int round = 1; round <= 4; ++round) {
    EXPECT_FALSE(RunOnce().ok());
    const SyncStats stats = worker().stats();
    EXPECT_EQ(stats.consecutive_store_errors, round);
    const int64_t delay = stats.store_retry_at_ms - clock_.UnixMillis();
    // Ceilings 1, 2, 4, 8 s; each delay is in [ceiling/2, ceiling].
    EXPECT_GE(delay, (int64_t{1000} << (round - 1)) / 2) << round;
    EXPECT_LE(delay, int64_t{1000} << (round - 1)) << round;
  }
  EXPECT_EQ(worker().stats().store_errors.at("list_blocked"), 8);  // both instances, 4 rounds
}

TEST_F(SyncTest, TheRunningWorkerRetriesAStoreErrorWithoutAWakeUp) {
  faulty_ = true;
  config_.wal_retry_delay = milliseconds(20);         // the retry comes after 10-20 ms
  config_.wal_sync_interval = std::chrono::hours(1);  // so only the retry can apply it
  CollectionEverywhere("c1");
  ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  AppendAdd("c1", "a");
  fault_.FailNthCallOf(WalOp::kPendingFor, 1);  // the replica's first page
  worker().Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Pending("replica") != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));  // polling a condition, with a deadline
  }
  worker().Stop();
  EXPECT_TRUE(fault_.fired());
  EXPECT_EQ(Pending("replica"), 0) << "the round that failed on the store was not retried";
  EXPECT_EQ(worker().stats().store_errors.at("pending_for"), 1);
}

}  // namespace
}  // namespace chroma_ha
