// Replay order, id substitution, which entries are replayed, transient and permanent failures,
// admin Retry/Skip, "already applied" answers.
#include <gtest/gtest.h>

#include "sync/backoff.h"
#include "sync_fixture.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

TEST_F(SyncTest, ReplaysInSeqOrderWithTargetsOwnId) {
  CollectionEverywhere("c1");
  AppendAdd("c1", "a");  // add, upsert, add: no two neighbours can share a request
  AppendCommitted("c1", "upsert", AddBody("b"));
  AppendAdd("c1", "c");
  ASSERT_TRUE(RunOnce().ok());

  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a", "b", "c"}));
  const std::string id = replica_sim_.IdOf("c1");
  const auto sent = ReplicaWritesSent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].target, "/api/v2/tenants/t/databases/d/collections/" + id + "/add");
  EXPECT_EQ(sent[1].target, "/api/v2/tenants/t/databases/d/collections/" + id + "/upsert");
  EXPECT_EQ(FindHeader(sent[0].headers, "Content-Type").value_or(""), "application/json");
  EXPECT_EQ(sent[0].body, AddBody("a"));
  EXPECT_EQ(ids_.IdOn(kTenant, kDatabase, "c1", "replica"), id);  // learned by the lookup
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(worker().stats().replayed, 3);
  EXPECT_EQ(applied_.size(), 3u);
}

TEST_F(SyncTest, OriginIsNeverReplayedTo) {
  CollectionEverywhere("c1");
  AppendAdd("c1", "a");
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(primary_.request_count(), 0u);
  EXPECT_EQ(Pending("primary"), 0);
}

TEST_F(SyncTest, EntryWrittenToReplicaIsReplayedToPrimary) {
  CollectionEverywhere("c1");
  AppendCommitted("c1", "add", AddBody("a"), /*origin=*/"replica");
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(replica_.request_count(), 0u);
  ASSERT_EQ(primary_sim_.writes().size(), 1u);
  EXPECT_EQ(Pending("primary"), 0);
}

TEST_F(SyncTest, RejectedAndPendingEntriesAreNeverReplayed) {
  CollectionEverywhere("c1");
  Append(EntryState::kRejected, "c1", "add", AddBody("a"));
  Append(EntryState::kPending, "c1", "add", AddBody("b"));
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(replica_.request_count(), 0u);
  EXPECT_EQ(primary_.request_count(), 0u);
}

TEST_F(SyncTest, KnownIdIsUsedWithoutLookup) {
  CollectionEverywhere("c1");
  ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  AppendAdd("c1", "a");
  ASSERT_TRUE(RunOnce().ok());
  ASSERT_EQ(replica_.request_count(), 1u);
  EXPECT_EQ(replica_.requests()[0].method, "POST");
}

TEST_F(SyncTest, TransientFailureKeepsOrderAndBacksOff) {
  CollectionEverywhere("c1");
  ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  AppendAdd("c1", "a");  // add, upsert, add: one request each (no coalescing)
  AppendCommitted("c1", "upsert", AddBody("b"));
  AppendAdd("c1", "c");
  replica_.QueueResponse(201);
  replica_.QueueResponse(503);
  EXPECT_FALSE(RunOnce().ok());
  EXPECT_EQ(replica_.request_count(), 2u);  // nothing after the failed entry
  EXPECT_EQ(Pending("replica"), 2);
  EXPECT_EQ(worker().stats().retried, 1);
  EXPECT_EQ(ReplicaStats().consecutive_failures, 1);
  EXPECT_NE(ReplicaStats().last_error.find("503"), std::string::npos);
  const int64_t wait = ReplicaStats().backoff_until_ms - clock_.UnixMillis();
  EXPECT_GE(wait, 500);
  EXPECT_LE(wait, 1000);

  ASSERT_TRUE(RunOnce().ok());  // still backing off: the replica is skipped
  EXPECT_EQ(replica_.request_count(), 2u);

  clock_.Advance(milliseconds(1000));
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"b", "c"}));  // "a" was scripted
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(ReplicaStats().consecutive_failures, 0);
}

TEST_F(SyncTest, BackoffGrowsAndIsCapped) {
  CollectionEverywhere("c1");
  AppendAdd("c1", "a");
  ReplicaReturns(503);
  for (int k = 1; k <= 10; ++k) {
    EXPECT_FALSE(RunOnce().ok()) << k;
    const int64_t ceiling = BackoffCeiling(config_.wal_retry_delay, k).count();
    EXPECT_EQ(ceiling, std::min<int64_t>(1000LL << (k - 1), 60000));
    const int64_t wait = ReplicaStats().backoff_until_ms - clock_.UnixMillis();
    EXPECT_GE(wait, ceiling / 2) << k;
    EXPECT_LE(wait, ceiling) << k;
    EXPECT_EQ(ReplicaStats().consecutive_failures, k);
    clock_.Advance(milliseconds(wait - 1));
    const size_t before = replica_.request_count();
    EXPECT_TRUE(RunOnce().ok());  // 1 ms early: skipped
    EXPECT_EQ(replica_.request_count(), before);
    clock_.Advance(milliseconds(1));
  }
  ReplicaRecovers();
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(worker().stats().retried, 10);
}

TEST_F(SyncTest, NoAnswerAnd429AreTransient) {
  CollectionEverywhere("c1");
  AppendAdd("c1", "a");
  replica_.QueueFailure(Status::Unavailable("connection refused"));
  EXPECT_FALSE(RunOnce().ok());  // the id lookup got no answer
  clock_.Advance(milliseconds(60000));
  replica_.QueueResponse(429);
  EXPECT_FALSE(RunOnce().ok());
  EXPECT_EQ(worker().stats().retried, 2);
  EXPECT_EQ(worker().stats().failed, 0);
  EXPECT_EQ(Pending("replica"), 1);
  EXPECT_TRUE(Blocked().empty());
}

TEST_F(SyncTest, PermanentFailureBlocksOnlyThatCollectionOnThatInstance) {
  CollectionEverywhere("c1");
  CollectionEverywhere("c2");
  ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  ids_.Learn(kTenant, kDatabase, "c2", "replica", replica_sim_.IdOf("c2"));
  const int64_t first = AppendAdd("c1", "a1");  // adds then upserts: one request each
  AppendAdd("c2", "b1");
  AppendCommitted("c1", "upsert", AddBody("a2"));
  AppendCommitted("c2", "upsert", AddBody("b2"));
  replica_sim_.RefuseNext("a1", 400, R"({"error":"InvalidArgumentError","message":"bad dims"})");
  ASSERT_TRUE(RunOnce().ok());

  EXPECT_EQ(ReplicaAdds("c2"), (std::vector<std::string>{"b1", "b2"}));
  EXPECT_TRUE(ReplicaAdds("c1").empty());
  EXPECT_EQ(replica_.request_count(), 3u);  // a2 was never sent
  EXPECT_EQ(Pending("replica"), 2);
  EXPECT_EQ(worker().stats().failed, 1);
  const auto blocked = Blocked();
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].instance, "replica");
  EXPECT_EQ(blocked[0].collection, "c1");
  EXPECT_EQ(blocked[0].seq, first);
  EXPECT_EQ(blocked[0].since_ms, clock_.UnixMillis());
  EXPECT_EQ(blocked[0].error, "HTTP 400 InvalidArgumentError: bad dims");

  ASSERT_TRUE(RunOnce().ok());  // sticky
  EXPECT_EQ(replica_.request_count(), 3u);

  ASSERT_TRUE(worker().Retry("replica", kTenant, kDatabase, "c1").ok());
  EXPECT_TRUE(Blocked().empty());
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(Pending("replica"), 0);
}

TEST_F(SyncTest, SkipMarksTheFailedEntryAppliedWithoutSendingIt) {
  CollectionEverywhere("c1");
  ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  const int64_t bad = AppendAdd("c1", "a1");
  AppendAdd("c1", "a2");
  replica_.QueueResponse(422);  // the coalesced request [a1, a2]
  replica_.QueueResponse(422);  // then a1 alone
  ASSERT_TRUE(RunOnce().ok());
  ASSERT_EQ(Blocked().size(), 1u);

  ASSERT_TRUE(worker().Skip("replica", bad).ok());
  EXPECT_TRUE(Blocked().empty());
  EXPECT_EQ(Pending("replica"), 1);
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a2"}));
  EXPECT_EQ(Pending("replica"), 0);

  EXPECT_EQ(worker().Skip("nowhere", bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(worker().Skip("replica", 999).code(), StatusCode::kNotFound);
  EXPECT_EQ(worker().Retry("nowhere", kTenant, kDatabase, "c1").code(),
            StatusCode::kInvalidArgument);
}

// Item 6 of issue 10: the fresh-read backlog is counted down only for what the store says was
// still to replay. Skipping an entry twice, or one already applied, must not count it down
// again (that made a stale replica serve "fresh" reads of the collection).
TEST_F(SyncTest, SkipCountsDownOnlyWhatTheStoreStillHadToReplay) {
  CollectionEverywhere("c1");
  ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  const int64_t bad = AppendAdd("c1", "a1");
  replica_.QueueResponse(422);
  ASSERT_TRUE(RunOnce().ok());
  ASSERT_EQ(Blocked().size(), 1u);
  ASSERT_TRUE(worker().Skip("replica", bad).ok());
  EXPECT_EQ(applied_.size(), 1u);
  ASSERT_TRUE(worker().Skip("replica", bad).ok());  // again: nothing left to replay
  EXPECT_EQ(applied_.size(), 1u) << "a second skip counted the entry down again";
}

TEST_F(SyncTest, BlockedDatabaseHoldsBackItsCollections) {
  CollectionEverywhere("c1");
  AppendCommitted("", "create_database", R"({"name":"d"})");
  AppendAdd("c1", "a");
  replica_.QueueResponse(403);
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(replica_.request_count(), 1u);
  EXPECT_EQ(Pending("replica"), 2);
}

TEST_F(SyncTest, ConflictOnCreateAndNotFoundOnDropCountAsApplied) {
  replica_sim_.Create("c1");  // exists there already: the create answers 409
  AppendCommitted("c1", "create_collection", R"({"name":"c1"})");
  AppendCommitted("gone", "delete_collection", "");  // missing there: 404
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(worker().stats().replayed, 2);
  EXPECT_EQ(worker().stats().failed, 0);
  EXPECT_EQ(ids_.IdOn(kTenant, kDatabase, "c1", "replica"), replica_sim_.IdOf("c1"));
  const auto sent = ReplicaWritesSent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].method, "DELETE");
  EXPECT_EQ(sent[1].target, "/api/v2/tenants/t/databases/d/collections/gone");
}

TEST_F(SyncTest, ConflictOnTenantAndDatabaseCreateCountsAsApplied) {
  AppendCommitted("", "create_tenant", R"({"name":"t"})");
  AppendCommitted("", "create_database", R"({"name":"d"})");
  ReplicaReturns(409);
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_TRUE(Blocked().empty());
}

TEST_F(SyncTest, ConflictOnAWriteIsPermanent) {
  CollectionEverywhere("c1");
  AppendAdd("c1", "a");
  replica_.QueueResponse(200, nlohmann::json{{"id", replica_sim_.IdOf("c1")}}.dump());
  replica_.QueueResponse(409);
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(Blocked().size(), 1u);
  EXPECT_EQ(Pending("replica"), 1);
}

}  // namespace
}  // namespace chroma_ha
