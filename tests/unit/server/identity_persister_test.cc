// Identity-map persistence (issue 10 item 5): a change the store refuses is kept, counted and
// written by a later try; the latest change per collection wins; the queue is bounded; the
// running persister retries on its own until the store takes the change.
#include "server/identity_persister.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "fakes/blocking_store.h"
#include "fakes/fault_store.h"
#include "fakes/memory_store.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

CollectionIdentity Identity(const std::string& name, const std::string& id) {
  CollectionIdentity c;
  c.tenant = "t";
  c.database = "d";
  c.name = name;
  c.canonical_id = id;
  c.ids = {{"primary", id}};
  return c;
}
MapChange Put(const CollectionIdentity& c) { return MapChange{{c}, {}}; }
MapChange Remove(const std::string& name) { return MapChange{{}, {{"t", "d", name}}}; }

class IdentityPersisterTest : public ::testing::Test {
 protected:
  IdentityPersisterTest() { EXPECT_TRUE(memory_.Open().ok()); }
  // The canonical id stored for `name`, "" when absent.
  std::string Stored(const std::string& name) {
    auto all = memory_.LoadCollections();
    EXPECT_TRUE(all.ok());
    for (const auto& c : *all) {
      if (c.name == name) return c.canonical_id;
    }
    return "";
  }
  template <typename Pred>
  static bool Eventually(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(1));
    }
    return true;
  }

  MemoryWalStore memory_;
  FaultStore fault_{&memory_};
};

TEST_F(IdentityPersisterTest, AFailedWriteIsKeptCountedAndWrittenLater) {
  IdentityPersister p(fault_);
  fault_.FailNthCallOf(WalOp::kPutCollection, 0);
  ASSERT_TRUE(p.Enqueue(Put(Identity("c1", "id-1"))));
  EXPECT_FALSE(p.DrainOnce().ok());
  IdentityPersistStats s = p.stats();
  EXPECT_EQ(s.failures, 1);
  EXPECT_EQ(s.pending, 1);
  EXPECT_EQ(s.errors_by_op["put_collection"], 1);
  EXPECT_EQ(Stored("c1"), "");
  ASSERT_TRUE(p.DrainOnce().ok());
  EXPECT_EQ(Stored("c1"), "id-1");
  EXPECT_EQ(p.stats().pending, 0);
  EXPECT_EQ(p.stats().written, 1);
}

TEST_F(IdentityPersisterTest, FailTheNthCallOfASequence) {
  // For every n: fail the nth store call of a sequence of changes; after a retry the store
  // holds exactly the final state.
  for (int n = 0; n < 4; ++n) {
    MemoryWalStore memory;
    ASSERT_TRUE(memory.Open().ok());
    FaultStore fault(&memory);
    IdentityPersister p(fault);
    fault.FailNthCall(n);
    ASSERT_TRUE(p.Enqueue(Put(Identity("a", "id-a"))));
    ASSERT_TRUE(p.Enqueue(Put(Identity("b", "id-b"))));
    ASSERT_TRUE(p.Enqueue(Put(Identity("c", "id-c"))));
    ASSERT_TRUE(p.Enqueue(Remove("b")));
    ASSERT_TRUE(p.Enqueue(Put(Identity("d", "id-d"))));
    Status first = p.DrainOnce();
    EXPECT_EQ(first.ok(), !fault.fired()) << n;
    ASSERT_TRUE(p.DrainOnce().ok()) << n;
    auto all = memory.LoadCollections();
    ASSERT_TRUE(all.ok());
    std::vector<std::string> names;
    for (const auto& c : *all) names.push_back(c.name);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"a", "c", "d"})) << n;
    EXPECT_EQ(p.stats().failures, fault.fired() ? 1 : 0) << n;
  }
}

TEST_F(IdentityPersisterTest, TheLatestChangePerCollectionWins) {
  IdentityPersister p(fault_);
  fault_.SetDown(true);
  ASSERT_TRUE(p.Enqueue(Put(Identity("c1", "old"))));
  ASSERT_TRUE(p.Enqueue(Put(Identity("c1", "new"))));
  ASSERT_TRUE(p.Enqueue(Put(Identity("c2", "x"))));
  ASSERT_TRUE(p.Enqueue(Remove("c2")));
  EXPECT_FALSE(p.DrainOnce().ok());
  EXPECT_EQ(p.stats().pending, 2);
  fault_.SetDown(false);
  ASSERT_TRUE(p.DrainOnce().ok());
  EXPECT_EQ(Stored("c1"), "new");
  EXPECT_EQ(Stored("c2"), "");
}

TEST_F(IdentityPersisterTest, AChangeQueuedDuringAFailingWriteIsNotOverwrittenByTheRetry) {
  BlockingStore blocking(&fault_);
  IdentityPersister p(blocking);
  ASSERT_TRUE(p.Enqueue(Put(Identity("c1", "v1"))));
  fault_.SetDown(true);
  blocking.Freeze();
  std::thread drain([&] { EXPECT_FALSE(p.DrainOnce().ok()); });  // v1 in flight, then fails
  ASSERT_TRUE(blocking.WaitForWaiting(1));
  ASSERT_TRUE(p.Enqueue(Put(Identity("c1", "v2"))));
  blocking.Thaw();
  drain.join();
  fault_.SetDown(false);
  ASSERT_TRUE(p.DrainOnce().ok());
  EXPECT_EQ(Stored("c1"), "v2");
}

TEST_F(IdentityPersisterTest, TheQueueIsBounded) {
  IdentityPersister::Options options;
  options.max_pending = 2;
  IdentityPersister p(fault_, options);
  EXPECT_TRUE(p.Enqueue(Put(Identity("a", "1"))));
  EXPECT_TRUE(p.Enqueue(Put(Identity("b", "2"))));
  EXPECT_TRUE(p.Enqueue(Put(Identity("a", "3"))));  // same key: replaces, no new slot
  EXPECT_FALSE(p.Enqueue(Put(Identity("c", "4"))));
  EXPECT_EQ(p.stats().dropped, 1);
  EXPECT_EQ(p.stats().pending, 2);
}

TEST_F(IdentityPersisterTest, TheRunningPersisterRetriesUntilTheStoreTakesTheChange) {
  IdentityPersister::Options options;
  options.retry_base = milliseconds(1);
  options.retry_max = milliseconds(4);
  IdentityPersister p(fault_, options);
  fault_.SetDown(true);
  p.Start();
  ASSERT_TRUE(p.Enqueue(Put(Identity("c1", "id-1"))));
  ASSERT_TRUE(Eventually([&] { return p.stats().failures >= 3; }));
  EXPECT_EQ(Stored("c1"), "");
  fault_.SetDown(false);
  ASSERT_TRUE(Eventually([&] { return p.stats().pending == 0; }));
  EXPECT_EQ(Stored("c1"), "id-1");
  p.Stop();
}

}  // namespace
}  // namespace chroma_ha
