// Collection identity on replay (lookup, stale ids, renames), healing a missing collection, and
// deletion conversion.
#include <gtest/gtest.h>

#include "sync/deletion_conversion.h"
#include "sync_fixture.h"

namespace chroma_ha {
namespace {

using nlohmann::json;

TEST_F(SyncTest, UnknownIdIsLookedUpByEncodedName) {
  CollectionEverywhere("my coll/é");
  AppendAdd("my coll/é", "a");
  ASSERT_TRUE(RunOnce().ok());
  const auto sent = replica_.requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "GET");
  EXPECT_EQ(sent[0].target, "/api/v2/tenants/t/databases/d/collections/my%20coll%2F%C3%A9");
  EXPECT_EQ(ReplicaAdds("my coll/é"), (std::vector<std::string>{"a"}));
}

TEST_F(SyncTest, StaleCachedIdIsResolvedAgain) {
  CollectionEverywhere("c1");
  ids_.Learn(kTenant, kDatabase, "c1", "replica", "stale-id");
  AppendAdd("c1", "a");
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(ids_.IdOn(kTenant, kDatabase, "c1", "replica"), replica_sim_.IdOf("c1"));
  EXPECT_EQ(worker().stats().collections_healed, 0);
}

TEST_F(SyncTest, CreateAndRenameTeachIds) {
  AppendCommitted("c1", "create_collection", R"({"name":"c1"})");
  AppendCommitted("c1", "modify_collection", R"({"new_name":"c2"})");
  AppendAdd("c2", "a");
  ASSERT_TRUE(RunOnce().ok());
  const std::string id = replica_sim_.IdOf("c2");
  EXPECT_EQ(ids_.IdOn(kTenant, kDatabase, "c2", "replica"), id);
  EXPECT_FALSE(ids_.IdOn(kTenant, kDatabase, "c1", "replica").has_value());
  EXPECT_EQ(ReplicaAdds("c2"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(replica_.requests().size(), 3u);  // no lookups needed
}

TEST_F(SyncTest, HealCreatesMissingCollectionFromOriginsDefinition) {
  primary_sim_.Create("c1", json{{"owner", "x"}},
                      json{{"hnsw", {{"space", "cosine"}}}, {"spann", nullptr}});
  AppendAdd("c1", "a");
  ASSERT_TRUE(RunOnce().ok());

  const auto healed = replica_sim_.Find("c1");
  ASSERT_TRUE(healed.has_value());
  EXPECT_EQ(healed->metadata, (json{{"owner", "x"}}));
  EXPECT_EQ(healed->configuration, (json{{"hnsw", {{"space", "cosine"}}}}));  // nulls dropped
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(ids_.IdOn(kTenant, kDatabase, "c1", "replica"), healed->id);
  EXPECT_EQ(worker().stats().collections_healed, 1);
  EXPECT_EQ(Pending("replica"), 0);
  ASSERT_EQ(primary_.request_count(), 1u);  // the definition
  EXPECT_EQ(primary_.requests()[0].method, "GET");
}

TEST_F(SyncTest, NoHealWhenTheOriginLacksTheCollectionToo) {
  AppendAdd("c1", "a");
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(Blocked().size(), 1u);
  EXPECT_FALSE(replica_sim_.Find("c1").has_value());
  EXPECT_EQ(worker().stats().collections_healed, 0);
}

TEST_F(SyncTest, HealWaitsWhileTheOriginIsDown) {
  AppendAdd("c1", "a");
  primary_.AlwaysRespond(503);
  EXPECT_FALSE(RunOnce().ok());
  EXPECT_TRUE(Blocked().empty());
  EXPECT_EQ(Pending("replica"), 1);
}

TEST_F(SyncTest, NonHealableKindOnMissingCollectionBlocks) {
  AppendCommitted("c1", "fork", R"({"new_name":"c9"})");
  primary_sim_.Create("c1");
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(Blocked().size(), 1u);
  EXPECT_FALSE(replica_sim_.Find("c1").has_value());
}

// --- Deletion conversion --------------------------------------------------------------------

class DeletionTest : public SyncTest {
 protected:
  DeletionTest() {
    CollectionEverywhere("c1");
    replica_sim_.Put("c1", "a", "D1");  // present: deleted by id
    replica_sim_.Put("c1", "z", "D1");  // same document, not asked for: stays
    replica_sim_.Put("c1", "x", "D2");  // b's document under another id: deleted by where
    replica_sim_.Put("c1", "y", "D3");  // unrelated: stays
  }
  static std::string Extra() { return R"({"document_ids":{"a":"D1","b":"D2"}})"; }
  std::set<std::string> ReplicaIds() {
    std::set<std::string> out;
    const auto collection = replica_sim_.Find("c1");
    for (const auto& [id, doc] : collection->records) out.insert(id);
    return out;
  }
};

TEST_F(DeletionTest, ExistingIdsByIdMissingOnesByDocumentId) {
  AppendCommitted("c1", "delete", R"({"ids":["a","b","c"]})", "primary", Extra());
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaIds(), (std::set<std::string>{"z", "y"}));
  const auto sent = ReplicaWritesSent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_TRUE(sent[0].target.ends_with("/get"));
  EXPECT_EQ(json::parse(sent[0].body), json::parse(R"({"ids":["a","b","c"],"include":[]})"));
  EXPECT_EQ(json::parse(sent[1].body), json::parse(R"({"where":{"document_id":{"$in":["D2"]}}})"));
  EXPECT_EQ(json::parse(sent[2].body), json::parse(R"({"ids":["a"]})"));
  EXPECT_EQ(worker().stats().conversions, 1);
  EXPECT_EQ(Pending("replica"), 0);
}

TEST_F(DeletionTest, AllPresentIsAPlainDeleteAndNotCounted) {
  const std::string body = R"({"ids": ["a", "x"]})";
  AppendCommitted("c1", "delete", body, "primary", R"({"document_ids":{"a":"D1","x":"D2"}})");
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaIds(), (std::set<std::string>{"z", "y"}));
  EXPECT_EQ(ReplicaWritesSent().back().body, body);  // byte-exact
  EXPECT_EQ(worker().stats().conversions, 0);
}

TEST_F(DeletionTest, DeleteWithWhereIsReplayedAsIs) {
  const std::string body = R"({"ids":["b"],"where":{"k":"v"}})";
  AppendCommitted("c1", "delete", body, "primary", Extra());
  ASSERT_TRUE(RunOnce().ok());
  const auto sent = ReplicaWritesSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].body, body);
  EXPECT_EQ(ReplicaIds().size(), 4u);
  EXPECT_EQ(worker().stats().conversions, 0);
}

TEST_F(DeletionTest, ConversionOffReplaysAsIs) {
  config_.wal_deletion_conversion = false;
  AppendCommitted("c1", "delete", R"({"ids":["b"]})", "primary", Extra());
  ASSERT_TRUE(RunOnce().ok());
  ASSERT_EQ(ReplicaWritesSent().size(), 1u);
  EXPECT_EQ(ReplicaIds().size(), 4u);
}

TEST_F(DeletionTest, MissingIdsWithoutDocumentIdAreSkipped) {
  AppendCommitted("c1", "delete", R"({"ids":["c"]})", "primary", Extra());
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaWritesSent().size(), 1u);  // just the get
  EXPECT_EQ(ReplicaIds().size(), 4u);
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(worker().stats().conversions, 0);
}

TEST_F(DeletionTest, FailedStepIsRetriedWholeWithoutDeletingMore) {
  AppendCommitted("c1", "delete", R"({"ids":["a","b"]})", "primary", Extra());
  ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  replica_.QueueResponse(200, R"({"ids":["a"]})");  // get
  replica_.QueueResponse(200);                      // where (not really applied: scripted)
  replica_.QueueResponse(503);                      // by id
  EXPECT_FALSE(RunOnce().ok());
  clock_.Advance(std::chrono::minutes(1));
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaIds(), (std::set<std::string>{"z", "y"}));
}

TEST(DeletionConversionPlan, QualifyingEntries) {
  const std::string extra = R"({"document_ids":{"a":"D1"}})";
  EXPECT_TRUE(PlanDeletionConversion(R"({"ids":["a"]})", extra).has_value());
  EXPECT_TRUE(PlanDeletionConversion(R"({"ids":["a"],"where":null})", extra).has_value());
  EXPECT_FALSE(PlanDeletionConversion(R"({"ids":["a"],"where":{}})", extra).has_value());
  EXPECT_FALSE(PlanDeletionConversion(R"({"ids":["a"],"where_document":{}})", extra).has_value());
  EXPECT_FALSE(PlanDeletionConversion(R"({"ids":[]})", extra).has_value());
  EXPECT_FALSE(PlanDeletionConversion(R"({"where":{"k":1}})", extra).has_value());
  EXPECT_FALSE(PlanDeletionConversion(R"({"ids":["a"]})", "").has_value());
  EXPECT_FALSE(PlanDeletionConversion(R"({"ids":["a"]})", "{}").has_value());
  EXPECT_FALSE(PlanDeletionConversion("not json", extra).has_value());
}

TEST(DeletionConversionPlan, DocumentIdsAreDeduplicatedAndKeepTheirType) {
  auto plan = PlanDeletionConversion(R"({"ids":["a","b","c","d"]})",
                                     R"({"document_ids":{"a":7,"b":7,"c":"D","d":null}})");
  ASSERT_TRUE(plan.has_value());
  const ConvertedDelete steps = ConvertDelete(*plan, {});
  EXPECT_FALSE(steps.by_id.has_value());
  ASSERT_TRUE(steps.by_document_id.has_value());
  EXPECT_EQ(json::parse(*steps.by_document_id),
            json::parse(R"({"where":{"document_id":{"$in":[7,"D"]}}})"));
}

}  // namespace
}  // namespace chroma_ha
