// Conformance cases for the fleet's shared identity (WalStore::MergeCollection, FindCollection;
// docs/design.md "One identity for the fleet"): the first process to record a collection sets
// its canonical id and every later one gets that id back, instance ids are set over the stored
// ones, and an id is found whichever instance's (or the canonical) it is. Part of the
// WalStoreConformance suite (wal_store_fixture.h), so they run against every store.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance/wal_store_fixture.h"

namespace chroma_ha::conformance {
namespace {

CollectionIdentity Seen(const std::string& name, const std::string& proposal,
                        const std::string& instance, const std::string& id) {
  return CollectionIdentity{"t", "db", name, proposal, {{instance, id}}};
}

TEST_P(WalStoreConformance, MergeCollectionInsertsOnceAndKeepsTheFirstCanonicalId) {
  Result<CollectionIdentity> first = store_->MergeCollection(Seen("c", "P1", "primary", "P1"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->canonical_id, "P1");
  EXPECT_EQ(first->ids, (std::map<std::string, std::string>{{"primary", "P1"}}));

  // Another process saw the replica's id first and proposes it: the stored canonical id wins,
  // and the replica's id joins the stored ones.
  Result<CollectionIdentity> second = store_->MergeCollection(Seen("c", "R1", "replica", "R1"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->canonical_id, "P1");
  EXPECT_EQ(second->ids,
            (std::map<std::string, std::string>{{"primary", "P1"}, {"replica", "R1"}}));

  // The collection was re-created on the primary: its new id replaces the old one there.
  Result<CollectionIdentity> third = store_->MergeCollection(Seen("c", "P1", "primary", "P2"));
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->canonical_id, "P1");
  EXPECT_EQ(third->ids.at("primary"), "P2");
  EXPECT_EQ(third->ids.at("replica"), "R1");

  // An empty proposal takes the seen id; names are keys within tenant and database.
  Result<CollectionIdentity> other = store_->MergeCollection(
      CollectionIdentity{"t", "db2", "c", "", {{"replica", "X"}}});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->canonical_id, "X");

  Result<std::vector<CollectionIdentity>> all = store_->LoadCollections();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].ids.size(), 2u);  // what LoadCollections gives matches the merges

  // A removed key starts over with the next proposal (a delete, then a re-creation).
  ASSERT_OK(store_->RemoveCollection("t", "db", "c"));
  Result<CollectionIdentity> again = store_->MergeCollection(Seen("c", "P3", "primary", "P3"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->canonical_id, "P3");
  EXPECT_EQ(again->ids.size(), 1u);
}

TEST_P(WalStoreConformance, FindCollectionFindsAnyOfACollectionsIdsInItsDatabase) {
  ASSERT_TRUE(store_->MergeCollection(Seen("c", "P1", "primary", "P1")).ok());
  ASSERT_TRUE(store_->MergeCollection(Seen("c", "P1", "replica", "R1")).ok());
  ASSERT_TRUE(store_->MergeCollection(Seen("d", "P9", "primary", "P9")).ok());
  for (const char* id : {"P1", "R1"}) {
    Result<std::optional<CollectionIdentity>> found = store_->FindCollection("t", "db", id);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    ASSERT_TRUE(found->has_value()) << id;
    EXPECT_EQ((*found)->name, "c");
    EXPECT_EQ((*found)->canonical_id, "P1");
    EXPECT_EQ((*found)->ids.size(), 2u);
  }
  for (auto [database, id] : {std::pair{"db", "nope"}, std::pair{"db2", "P1"}}) {
    Result<std::optional<CollectionIdentity>> found = store_->FindCollection("t", database, id);
    ASSERT_TRUE(found.ok());
    EXPECT_FALSE(found->has_value()) << database << " " << id;
  }
}

// Two handles (two processes, for PostgreSQL: two connections) record the same new collections
// at once, each proposing its own id: every collection ends with one canonical id, and both
// got that id back.
TEST_P(WalStoreConformance, ConcurrentMergesOfANewCollectionAgreeOnOneCanonicalId) {
  std::unique_ptr<WalStore> other = backend_->Connect();
  ASSERT_OK(other->Open());
  constexpr int kCollections = 40;
  std::vector<std::string> got_a(kCollections), got_b(kCollections);
  auto run = [&](WalStore& store, const std::string& instance, std::vector<std::string>& got) {
    for (int i = 0; i < kCollections; ++i) {
      const std::string name = "c" + std::to_string(i);
      auto r = store.MergeCollection(Seen(name, instance + name, instance, instance + name));
      got[i] = r.ok() ? r->canonical_id : "error: " + r.status().ToString();
    }
  };
  std::thread a([&] { run(*store_, "primary", got_a); });
  std::thread b([&] { run(*other, "replica", got_b); });
  a.join();
  b.join();
  Result<std::vector<CollectionIdentity>> all = store_->LoadCollections();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), static_cast<size_t>(kCollections));
  for (int i = 0; i < kCollections; ++i) {
    EXPECT_EQ(got_a[i], got_b[i]) << i;
    const std::string name = "c" + std::to_string(i);
    EXPECT_TRUE(got_a[i] == "primary" + name || got_a[i] == "replica" + name) << got_a[i];
  }
  for (const CollectionIdentity& c : *all) EXPECT_EQ(c.ids.size(), 2u) << c.name;
}

}  // namespace
}  // namespace chroma_ha::conformance
