// The fleet's shared identity (issue 11 item 4): several processes' identity maps, each a cache
// of one store, agree on every collection's canonical id, whichever instance each learned the
// collection from first; renames and deletes one makes are seen by the others; an id one has
// never seen is found in the store.
#include "collections/shared_identity.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "collections/collection_map.h"
#include "fakes/fault_store.h"
#include "fakes/memory_store.h"

namespace chroma_ha {
namespace {

// One "process": its own map over the shared store.
struct Proxy {
  explicit Proxy(WalStore& store) : shared(store, map) {}
  CollectionMap map;
  SharedIdentity shared;
};

const CollectionKey kKey{"t", "db", "c"};

std::string See(Proxy& p, const CollectionKey& key, const std::string& instance,
                const std::string& id) {
  auto r = p.shared.See(key, instance, id);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "<error>";
}

TEST(SharedIdentityTest, ProxiesLearningFromDifferentInstancesAgreeOnTheCanonicalId) {
  MemoryWalStore store;
  Proxy a(store), b(store);
  // A created it (the primary's id); B first reads it from the replica (another id).
  EXPECT_EQ(See(a, kKey, "primary", "P"), "P");
  EXPECT_EQ(See(b, kKey, "replica", "R"), "P");
  EXPECT_EQ(b.map.CanonicalId(kKey), "P");
  EXPECT_EQ(b.map.IdOn(kKey, "primary"), "P");  // adopted from the store: no lookup needed
  EXPECT_EQ(b.map.FindById("P"), kKey);
  // A, which has not seen the replica's id, learns it from the store on its next merge.
  EXPECT_EQ(See(a, kKey, "replica", "R"), "P");
  EXPECT_EQ(b.shared.stats().adopted.load(), 1);
}

TEST(SharedIdentityTest, AKnownIdCostsNoStoreCall) {
  MemoryWalStore store;
  Proxy a(store);
  See(a, kKey, "primary", "P");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(See(a, kKey, "primary", "P"), "P");
  EXPECT_EQ(a.shared.stats().merges.load(), 1);
}

TEST(SharedIdentityTest, RenamesAndDeletesOfOneProxyAreSeenByTheOthers) {
  MemoryWalStore store;
  Proxy a(store), b(store), c(store);
  See(a, kKey, "primary", "P");
  See(b, kKey, "replica", "R");
  // A renames c -> d: B, which still has c, reads d by name from the replica and gets P.
  ASSERT_TRUE(a.shared.Write(a.map.Rename(kKey, "d")).ok());
  const CollectionKey renamed{"t", "db", "d"};
  EXPECT_EQ(See(b, renamed, "replica", "R"), "P");
  EXPECT_FALSE(b.map.Get(kKey).has_value());  // the old name left B's map with its ids
  // C never saw it: the canonical id is found in the store, under the new name.
  auto found = c.shared.Find("t", "db", "P");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, renamed);
  EXPECT_EQ(c.map.IdOn(renamed, "replica"), "R");

  // A deletes it and creates it again: the new collection gets the new primary id as
  // canonical, and B, whose map still has the old one, adopts it when it sees the new id.
  ASSERT_TRUE(a.shared.Write(a.map.Remove(renamed)).ok());
  EXPECT_EQ(See(a, renamed, "primary", "P2"), "P2");
  EXPECT_EQ(See(b, renamed, "primary", "P2"), "P2");
  EXPECT_FALSE(b.map.IdOn(renamed, "replica").has_value());  // the old replica id is gone

  // Deleted through A again and re-created through B, whose map still holds P2: B's new
  // primary id becomes the canonical id, not the stale P2, and A gets it too.
  ASSERT_TRUE(a.shared.Write(a.map.Remove(renamed)).ok());
  EXPECT_EQ(See(b, renamed, "primary", "P3"), "P3");
  EXPECT_EQ(See(a, renamed, "primary", "P3"), "P3");
}

TEST(SharedIdentityTest, AStoreErrorLeavesTheMapAsItWasAndIsCounted) {
  MemoryWalStore memory;
  FaultStore store(&memory);
  Proxy a(store);
  store.SetDown(true);
  auto r = a.shared.See(kKey, "primary", "P");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(a.map.Get(kKey).has_value());
  EXPECT_EQ(a.shared.stats().errors.load(), 1);
  store.SetDown(false);
  EXPECT_EQ(See(a, kKey, "primary", "P"), "P");  // the store back: taken
}

}  // namespace
}  // namespace chroma_ha
