// Conformance cases for InstancesBehind, what causal reads (X-Chroma-HA-Min-Seq) ask the store:
// which instances still have to apply an entry a read depends on, up to a sequence number.
// Part of the WalStoreConformance suite (wal_store_fixture.h), so they run against every store.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conformance/wal_store_fixture.h"

namespace chroma_ha::conformance {
namespace {

using Names = std::vector<std::string>;

Names Behind(WalStore& store, const std::string& collection, int64_t up_to,
             const std::string& database = "default_database",
             const std::string& tenant = "default_tenant") {
  Result<Names> r = store.InstancesBehind(tenant, database, collection, up_to);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Names{"<error>"};
}

TEST_P(WalStoreConformance, InstancesBehindListsWhoHasNotAppliedACollectionsEntriesUpToASeq) {
  EXPECT_EQ(Behind(*store_, "c", 1000), Names{});  // empty log

  const int64_t first = Append("c");
  EXPECT_EQ(Behind(*store_, "c", first), Names{});  // pending: nobody has replay work yet
  Commit(first, "primary");
  EXPECT_EQ(Behind(*store_, "c", first), (Names{"idle", "replica", "replica2"}));
  EXPECT_EQ(Behind(*store_, "c", first - 1), Names{});  // before the entry: nothing
  EXPECT_EQ(Behind(*store_, "other", first), Names{});  // another collection's read

  ASSERT_OK(store_->MarkApplied(first, "replica"));
  ASSERT_OK(store_->MarkApplied(first, "idle"));
  EXPECT_EQ(Behind(*store_, "c", first), Names{"replica2"});

  // A later entry only counts for tokens at or after it.
  const int64_t second = Append("c");
  Commit(second, "replica2");  // its origin is never behind on it
  ASSERT_OK(store_->MarkAppliedBatch({first}, "replica2"));
  EXPECT_EQ(Behind(*store_, "c", first), Names{});
  EXPECT_EQ(Behind(*store_, "c", second), (Names{"idle", "primary", "replica"}));

  // Rejected entries are never replayed, so never waited for.
  const int64_t rejected = Append("c");
  Reject(rejected, "primary");
  EXPECT_EQ(Behind(*store_, "c", rejected), (Names{"idle", "primary", "replica"}));
}

TEST_P(WalStoreConformance, InstancesBehindFollowsTheReadScope) {
  // A write of the database (e.g. a collection deleted by name is a collection write; a
  // database-level entry has collection ""), of the tenant (database ""), and a reset
  // (tenant "") are in the scope of a collection's read.
  WalEntry database_write = Entry("");
  const int64_t db_seq = Append(database_write);
  Commit(db_seq, "primary");
  EXPECT_EQ(Behind(*store_, "c", db_seq).size(), 3u);
  EXPECT_EQ(Behind(*store_, "c", db_seq, "other_database"), Names{});
  ASSERT_OK(store_->MarkAppliedBatch({db_seq}, "replica"));
  ASSERT_OK(store_->MarkAppliedBatch({db_seq}, "replica2"));
  ASSERT_OK(store_->MarkAppliedBatch({db_seq}, "idle"));

  WalEntry tenant_write = Entry("");
  tenant_write.database = "";
  const int64_t tenant_seq = Append(tenant_write);
  Commit(tenant_seq, "replica");
  EXPECT_EQ(Behind(*store_, "c", tenant_seq, "any_database"), (Names{"idle", "primary", "replica2"}));
  EXPECT_EQ(Behind(*store_, "c", tenant_seq, "any_database", "other_tenant"), Names{});
  for (const char* i : {"primary", "replica2", "idle"}) ASSERT_OK(store_->MarkApplied(tenant_seq, i));

  WalEntry reset = Entry("");
  reset.tenant = "";
  reset.database = "";
  const int64_t reset_seq = Append(reset);
  Commit(reset_seq, "primary");
  EXPECT_EQ(Behind(*store_, "c", reset_seq, "d", "any_tenant").size(), 3u);
  for (const char* i : {"replica", "replica2", "idle"}) ASSERT_OK(store_->MarkApplied(reset_seq, i));

  // A read of the whole database (a listing: collection "") depends on every collection of it.
  const int64_t other = Append("other");
  Commit(other, "primary");
  EXPECT_EQ(Behind(*store_, "", other).size(), 3u);
  EXPECT_EQ(Behind(*store_, "c", other), Names{});
  // A read of the whole tenant (database "") depends on every database of it.
  EXPECT_EQ(Behind(*store_, "", other, "").size(), 3u);
  EXPECT_EQ(Behind(*store_, "", other, "", "other_tenant"), Names{});

  // A rename is logged under the old name: a read by the new name depends on it.
  WalEntry rename = Entry("old-name");
  rename.kind = "modify_collection";
  const int64_t rename_seq = Append(rename);
  Commit(rename_seq, "primary");
  EXPECT_EQ(Behind(*store_, "new-name", rename_seq).size(), 3u);
  EXPECT_EQ(Behind(*store_, "new-name", rename_seq, "other_database"), Names{});
}

TEST_P(WalStoreConformance, InstancesBehindSurvivesReopen) {
  const int64_t seq = Append("c");
  Commit(seq, "primary");
  ASSERT_OK(store_->MarkApplied(seq, "replica"));
  Reopen();
  EXPECT_EQ(Behind(*store_, "c", seq), (Names{"idle", "replica2"}));
}

// What a write waits for before it is forwarded when several processes share the database.
TEST_P(WalStoreConformance, PendingBeforeListsTheEarlierPendingEntriesOfExactlyOneCollection) {
  using Seqs = std::vector<int64_t>;
  auto pending_before = [&](const std::string& collection, int64_t before,
                            const std::string& database = "default_database") {
    Result<Seqs> r = store_->PendingBefore("default_tenant", database, collection, before);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Seqs{-1};
  };
  const int64_t a = Append("c");
  const int64_t b = Append("c");
  const int64_t other = Append("other");
  WalEntry database_write = Entry("");
  const int64_t db = Append(database_write);
  const int64_t d = Append("c");
  EXPECT_EQ(pending_before("c", d), (Seqs{a, b}));  // not "other", not the database's entry
  EXPECT_EQ(pending_before("c", b), Seqs{a});
  EXPECT_EQ(pending_before("c", a), Seqs{});
  EXPECT_EQ(pending_before("", d), Seqs{db});
  EXPECT_EQ(pending_before("c", d, "other_database"), Seqs{});
  Commit(a, "primary");
  Reject(b, "primary");
  EXPECT_EQ(pending_before("c", d + 1), Seqs{d});  // resolved entries are not waited for
  (void)other;
}

}  // namespace
}  // namespace chroma_ha::conformance
