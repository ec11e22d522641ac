#include "collections/collection_map.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace chroma_ha {
namespace {

const CollectionKey kDocs{"default_tenant", "default_database", "docs"};
const CollectionKey kOther{"default_tenant", "default_database", "other"};

TEST(CollectionMapTest, FirstIdIsCanonical) {
  CollectionMap map;
  LearnResult r = map.Learn(kDocs, "primary", "p-1");
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.canonical_id, "p-1");
  ASSERT_EQ(r.change.put.size(), 1u);
  EXPECT_EQ(r.change.put[0].name, "docs");
  EXPECT_EQ(r.change.put[0].ids.at("primary"), "p-1");

  r = map.Learn(kDocs, "replica", "r-1");
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.canonical_id, "p-1");
  EXPECT_EQ(r.identity.ids.size(), 2u);

  r = map.Learn(kDocs, "replica", "r-1");  // already known
  EXPECT_FALSE(r.changed);
  EXPECT_TRUE(r.change.empty());
  EXPECT_EQ(r.canonical_id, "p-1");

  EXPECT_EQ(map.IdOn(kDocs, "primary"), "p-1");
  EXPECT_EQ(map.IdOn(kDocs, "replica"), "r-1");
  EXPECT_EQ(map.IdOn(kDocs, "replica2"), std::nullopt);
  EXPECT_EQ(map.IdOn(kOther, "primary"), std::nullopt);
  EXPECT_EQ(map.CanonicalId(kDocs), "p-1");
  EXPECT_EQ(map.FindById("p-1"), kDocs);
  EXPECT_EQ(map.FindById("r-1"), kDocs);
  EXPECT_EQ(map.FindById("nope"), std::nullopt);
  EXPECT_EQ(map.size(), 1u);
}

TEST(CollectionMapTest, ReplicaFirstMakesReplicaIdCanonical) {
  CollectionMap map;
  map.Learn(kDocs, "replica", "r-1");
  EXPECT_EQ(map.Learn(kDocs, "primary", "p-1").canonical_id, "r-1");
}

TEST(CollectionMapTest, RecreatedOnOneInstanceKeepsCanonical) {
  CollectionMap map;
  map.Learn(kDocs, "primary", "p-1");
  map.Learn(kDocs, "replica", "r-1");
  LearnResult r = map.Learn(kDocs, "replica", "r-2");
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.canonical_id, "p-1");
  EXPECT_EQ(map.IdOn(kDocs, "replica"), "r-2");
  EXPECT_EQ(map.FindById("r-1"), std::nullopt);
  EXPECT_EQ(map.FindById("r-2"), kDocs);
  // The canonical instance re-created: the canonical id still resolves.
  map.Learn(kDocs, "primary", "p-2");
  EXPECT_EQ(map.CanonicalId(kDocs), "p-1");
  EXPECT_EQ(map.FindById("p-1"), kDocs);
  EXPECT_EQ(map.IdOn(kDocs, "primary"), "p-2");
}

TEST(CollectionMapTest, EmptyIdOrInstanceIsIgnored) {
  CollectionMap map;
  EXPECT_FALSE(map.Learn(kDocs, "primary", "").changed);
  EXPECT_FALSE(map.Learn(kDocs, "", "x").changed);
  EXPECT_EQ(map.size(), 0u);
}

TEST(CollectionMapTest, IdMovedToAnotherName) {
  CollectionMap map;
  map.Learn(kDocs, "primary", "p-1");
  LearnResult r = map.Learn(kOther, "primary", "p-1");  // renamed outside chroma-ha
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.change.removed, std::vector<CollectionKey>{kDocs});
  EXPECT_EQ(map.FindById("p-1"), kOther);
  EXPECT_EQ(map.Get(kDocs), std::nullopt);

  map.Learn(kDocs, "primary", "p-9");
  map.Learn(kDocs, "replica", "r-9");
  r = map.Learn(kOther, "replica", "r-9");
  ASSERT_EQ(r.change.put.size(), 2u);
  EXPECT_EQ(r.change.put[0].name, "other");  // the learned key's identity comes first
  EXPECT_EQ(r.change.put[1].name, "docs");
  EXPECT_EQ(map.IdOn(kDocs, "replica"), std::nullopt);
  EXPECT_EQ(map.IdOn(kDocs, "primary"), "p-9");
}

TEST(CollectionMapTest, Rename) {
  CollectionMap map;
  map.Learn(kDocs, "primary", "p-1");
  map.Learn(kDocs, "replica", "r-1");
  MapChange c = map.Rename(kDocs, "other");
  ASSERT_EQ(c.put.size(), 1u);
  EXPECT_EQ(c.put[0].name, "other");
  EXPECT_EQ(c.put[0].canonical_id, "p-1");
  EXPECT_EQ(c.removed, std::vector<CollectionKey>{kDocs});
  EXPECT_EQ(map.FindById("p-1"), kOther);
  EXPECT_EQ(map.FindById("r-1"), kOther);
  EXPECT_EQ(map.IdOn(kOther, "replica"), "r-1");
  EXPECT_EQ(map.Get(kDocs), std::nullopt);
  EXPECT_TRUE(map.Rename(kDocs, "again").empty());   // unknown
  EXPECT_TRUE(map.Rename(kOther, "other").empty());  // same name
}

TEST(CollectionMapTest, RenameOntoExistingReplacesIt) {
  CollectionMap map;
  map.Learn(kDocs, "primary", "p-1");
  map.Learn(kOther, "primary", "p-2");
  map.Rename(kDocs, "other");
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.FindById("p-2"), std::nullopt);
  EXPECT_EQ(map.FindById("p-1"), kOther);
}

TEST(CollectionMapTest, RemoveAndRemoveDatabase) {
  CollectionMap map;
  map.Learn(kDocs, "primary", "p-1");
  map.Learn(kOther, "primary", "p-2");
  const CollectionKey elsewhere{"default_tenant", "db2", "docs"};
  map.Learn(elsewhere, "primary", "p-3");
  EXPECT_EQ(map.Remove(kDocs).removed, std::vector<CollectionKey>{kDocs});
  EXPECT_TRUE(map.Remove(kDocs).empty());
  EXPECT_EQ(map.FindById("p-1"), std::nullopt);
  MapChange c = map.RemoveDatabase("default_tenant", "default_database");
  EXPECT_EQ(c.removed, std::vector<CollectionKey>{kOther});
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.FindById("p-3"), elsewhere);
}

TEST(CollectionMapTest, LoadSnapshotClear) {
  CollectionMap map;
  map.Learn(kOther, "primary", "stale");
  CollectionIdentity a{"t", "d", "b", "c-b", {{"primary", "c-b"}, {"replica", "r-b"}}};
  CollectionIdentity b{"t", "d", "a", "", {{"replica", "r-a"}}};
  map.Load({a, b});
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.FindById("stale"), std::nullopt);
  EXPECT_EQ(map.FindById("r-b"), (CollectionKey{"t", "d", "b"}));
  EXPECT_EQ(map.CanonicalId({"t", "d", "a"}), "r-a");  // empty canonical: first instance id
  std::vector<CollectionIdentity> snap = map.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].name, "a");
  EXPECT_EQ(snap[1].name, "b");
  EXPECT_EQ(snap[1].ids, a.ids);
  map.Clear();
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.FindById("c-b"), std::nullopt);
}

TEST(CollectionMapTest, ConcurrentLearnAndLookup) {
  CollectionMap map;
  constexpr int kWriters = 4, kReaders = 4, kPerWriter = 500;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        CollectionKey key{"t", "d", "c" + std::to_string(i)};
        std::string inst = "inst" + std::to_string(w);
        LearnResult r = map.Learn(key, inst, inst + "-" + std::to_string(i));
        if (r.canonical_id.empty()) ++bad;
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        for (int i = 0; i < kPerWriter; i += 7) {
          CollectionKey key{"t", "d", "c" + std::to_string(i)};
          auto canonical = map.CanonicalId(key);
          if (canonical && map.FindById(*canonical) != key) ++bad;
        }
        (void)map.Snapshot();
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  stop = true;
  for (std::size_t i = kWriters; i < threads.size(); ++i) threads[i].join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(map.size(), static_cast<std::size_t>(kPerWriter));
  for (int i = 0; i < kPerWriter; ++i) {
    auto identity = map.Get({"t", "d", "c" + std::to_string(i)});
    ASSERT_TRUE(identity.has_value());
    EXPECT_EQ(identity->ids.size(), static_cast<std::size_t>(kWriters));
    EXPECT_EQ(identity->ids.at(identity->ids.begin()->first), identity->ids.begin()->second);
  }
}

// Adopt: the store's identity replaces the cached one (a fleet's shared identity); ids the cache
// had under another key (a rename this process missed) leave that key.
TEST(CollectionMapTest, AdoptReplacesTheKeysIdentityAndTakesItsIdsFromOtherKeys) {
  CollectionMap map;
  (void)map.Learn({"t", "d", "old"}, "replica", "R");
  (void)map.Learn({"t", "d", "c"}, "primary", "STALE");
  map.Adopt(CollectionIdentity{"t", "d", "c", "P", {{"primary", "P"}, {"replica", "R"}}});
  EXPECT_EQ(map.CanonicalId({"t", "d", "c"}), "P");
  EXPECT_EQ(map.IdOn({"t", "d", "c"}, "replica"), "R");
  EXPECT_FALSE(map.Get({"t", "d", "old"}).has_value());  // its only id moved
  EXPECT_FALSE(map.FindById("STALE").has_value());       // the replaced identity's ids are gone
  EXPECT_EQ(map.FindById("R"), (CollectionKey{"t", "d", "c"}));
  EXPECT_EQ(map.size(), 1u);
  map.Adopt(CollectionIdentity{"t", "d", "x", "", {{"primary", "X"}}});  // no canonical: no-op
  EXPECT_EQ(map.size(), 1u);
}

}  // namespace
}  // namespace chroma_ha
