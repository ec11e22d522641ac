// Resync progress in the store (wal_store.h "Resync"): LastSeq, PutResync (fenced, insert or
// replace), LoadResyncs (survives a new connection and Clear()), against every store.
#include <map>
#include <string>

#include "wal_store_fixture.h"

namespace chroma_ha::conformance {
namespace {

TEST_P(WalStoreConformance, LastSeqIsTheHighestRetainedSeq) {
  Result<int64_t> empty = store_->LastSeq();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, 0);
  Append(Entry("a"));
  const int64_t second = Append(Entry("b"));
  Result<int64_t> last = store_->LastSeq();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, second);
}

TEST_P(WalStoreConformance, ResyncStateIsStoredReplacedAndSurvivesReconnectAndClear) {
  Result<std::map<std::string, std::string>> none = store_->LoadResyncs();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  ASSERT_OK(store_->PutResync("replica", R"({"state":"running","page":1})"));
  ASSERT_OK(store_->PutResync("replica", R"({"state":"running","page":2})"));
  ASSERT_OK(store_->PutResync("replica2", "{\"note\":\"caf\xc3\xa9\"}"));
  ASSERT_OK(store_->Clear());
  Reopen();
  Result<std::map<std::string, std::string>> all = store_->LoadResyncs();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  const std::map<std::string, std::string> want = {{"replica", R"({"state":"running","page":2})"},
                                                   {"replica2", "{\"note\":\"caf\xc3\xa9\"}"}};
  EXPECT_EQ(*all, want);
}

TEST_P(WalStoreConformance, ResyncStateWritesAreFencedByTheLease) {
  Result<Lease> a = store_->AcquireLease("replay/replica", "a", 60'000);
  ASSERT_TRUE(a.ok() && a->HeldBy("a"));
  const Fence current{a->name, a->holder, a->term};
  ASSERT_OK(store_->PutResync("replica", "1", current));
  ASSERT_OK(store_->ReleaseLease(a->name, "a", a->term));
  Result<Lease> b = store_->AcquireLease("replay/replica", "b", 60'000);
  ASSERT_TRUE(b.ok() && b->HeldBy("b"));
  const Status stale = store_->PutResync("replica", "2", current);
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition) << stale.ToString();
  Result<std::map<std::string, std::string>> all = store_->LoadResyncs();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->at("replica"), "1");
}

}  // namespace
}  // namespace chroma_ha::conformance
