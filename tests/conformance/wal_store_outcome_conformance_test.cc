// Conformance cases for what recovery and the fresh-read backlog rely on: ResolvedAfter and
// MarkApplied's `was_pending`. Part of the WalStoreConformance suite (wal_store_fixture.h),
// so they run against every store.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "conformance/wal_store_fixture.h"

namespace chroma_ha::conformance {
namespace {

int64_t ResolvedAfterOr(WalStore& store, const WalEntry& entry, int64_t fallback = -1) {
  Result<int64_t> r = store.ResolvedAfter(entry);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : fallback;
}

TEST_P(WalStoreConformance, ResolvedAfterFindsTheFirstLaterResolvedWriteOfTheCollection) {
  WalEntry pending = Entry("c");
  pending.seq = Append(pending);
  EXPECT_EQ(ResolvedAfterOr(*store_, pending), 0);  // nothing after it

  const int64_t still_pending = Append("c");  // later, but not resolved: does not count
  const int64_t other_collection = Append("other");
  WalEntry elsewhere = Entry("c");
  elsewhere.database = "other_database";  // same name, another database
  const int64_t other_database = Append(elsewhere);
  WalEntry other_tenant_entry = Entry("c");
  other_tenant_entry.tenant = "other_tenant";
  const int64_t other_tenant = Append(other_tenant_entry);
  Commit(other_collection, "primary");
  Commit(other_database, "primary");
  Commit(other_tenant, "primary");
  EXPECT_EQ(ResolvedAfterOr(*store_, pending), 0);

  const int64_t rejected = Append("c");
  const int64_t committed = Append("c");
  Commit(committed, "replica");
  EXPECT_EQ(ResolvedAfterOr(*store_, pending), committed);
  Reject(rejected, "primary");  // a rejected write counts too, and it is the earlier one
  EXPECT_EQ(ResolvedAfterOr(*store_, pending), rejected);
  Commit(still_pending, "primary");
  EXPECT_EQ(ResolvedAfterOr(*store_, pending), still_pending);

  // Only later entries count; the entry itself need not exist (a seq alone is enough).
  WalEntry probe = Entry("c");
  probe.seq = committed;
  EXPECT_EQ(ResolvedAfterOr(*store_, probe), 0);
  probe.seq = 0;
  EXPECT_EQ(ResolvedAfterOr(*store_, probe), still_pending);
  probe.database = "other_database";
  EXPECT_EQ(ResolvedAfterOr(*store_, probe), other_database);
}

TEST_P(WalStoreConformance, ResolvedAfterSurvivesReopen) {
  WalEntry pending = Entry("c");
  pending.seq = Append(pending);
  const int64_t later = Append("c");
  Commit(later, "primary");
  Reopen();
  EXPECT_EQ(ResolvedAfterOr(*store_, pending), later);
}

TEST_P(WalStoreConformance, MarkAppliedSaysWhetherItRemovedReplayWork) {
  const int64_t seq = Append("c");
  Commit(seq, "primary");
  bool was_pending = false;
  ASSERT_OK(store_->MarkApplied(seq, "replica", &was_pending));
  EXPECT_TRUE(was_pending);
  EXPECT_EQ(BacklogOf("replica"), 0);
  was_pending = true;
  ASSERT_OK(store_->MarkApplied(seq, "replica", &was_pending));  // already applied
  EXPECT_FALSE(was_pending);
  was_pending = true;
  ASSERT_OK(store_->MarkApplied(seq, "primary", &was_pending));  // the origin
  EXPECT_FALSE(was_pending);
  ASSERT_OK(store_->MarkApplied(seq, "replica2"));  // the out parameter is optional
  EXPECT_EQ(BacklogOf("replica2"), 0);

  const int64_t uncommitted = Append("c");
  was_pending = true;
  ASSERT_OK(store_->MarkApplied(uncommitted, "replica", &was_pending));  // still pending
  EXPECT_FALSE(was_pending);
  Commit(uncommitted, "primary");  // was marked applied before its outcome: no work
  EXPECT_EQ(BacklogOf("replica"), 0);
  was_pending = true;
  ASSERT_OK(store_->MarkApplied(uncommitted, "replica", &was_pending));
  EXPECT_FALSE(was_pending);

  const int64_t rejected = Append("c");
  Reject(rejected, "primary");
  was_pending = true;
  ASSERT_OK(store_->MarkApplied(rejected, "replica", &was_pending));
  EXPECT_FALSE(was_pending);

  was_pending = true;
  EXPECT_EQ(store_->MarkApplied(rejected + 1000, "replica", &was_pending).code(),
            StatusCode::kNotFound);
}

TEST_P(WalStoreConformance, ConcurrentMarkAppliedReportsTheRemovalOnce) {
  std::vector<int64_t> seqs;
  for (int i = 0; i < 20; ++i) {
    seqs.push_back(Append("c"));
    Commit(seqs.back(), "primary");
  }
  std::atomic<int> removed{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      std::unique_ptr<WalStore> handle = backend_->Connect();
      if (!handle->Open().ok()) {
        ++failed;
        return;
      }
      for (const int64_t seq : seqs) {
        bool was_pending = false;
        if (!handle->MarkApplied(seq, "replica", &was_pending).ok()) ++failed;
        if (was_pending) ++removed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(removed.load(), static_cast<int>(seqs.size()));
  EXPECT_EQ(BacklogOf("replica"), 0);
}

}  // namespace
}  // namespace chroma_ha::conformance
