// Leases and fencing on a fake clock (the memory store; the same rules run in SQLite through
// wal/lease_rules.h and in PostgreSQL's SQL, checked by the conformance suite): an expired
// holder's writes are refused even before anyone takes over, takeover happens exactly at
// expiry, renewal keeps the term, every takeover increases it, and no term ever has two holders.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>

#include "fakes/fake_clock.h"
#include "fakes/memory_store.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kTtl = 3000;
const std::string kLease = "replay/replica";

class LeaseTest : public ::testing::Test {
 protected:
  LeaseTest() : store_({"primary", "replica"}, &clock_) {}

  int64_t CommittedEntry() {
    std::vector<WalEntry> batch(1);
    batch[0].tenant = "t";
    batch[0].database = "d";
    batch[0].collection = "c";
    batch[0].kind = "add";
    batch[0].state = EntryState::kCommitted;
    batch[0].origin = "primary";
    EXPECT_TRUE(store_.Append(&batch).ok());
    return batch[0].seq;
  }
  Lease Acquire(const std::string& holder) {
    Result<Lease> l = store_.AcquireLease(kLease, holder, kTtl);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    return l.ok() ? *l : Lease{};
  }
  static Fence FenceOf(const Lease& l) { return {l.name, l.holder, l.term}; }

  FakeClock clock_;
  MemoryWalStore store_;
};

TEST_F(LeaseTest, AnExpiredHoldersWritesAreRejectedEvenBeforeATakeover) {
  const int64_t seq = CommittedEntry();
  const Lease a = Acquire("a");
  clock_.Advance(milliseconds(kTtl - 1));
  EXPECT_TRUE(store_.Block({"replica", "t", "d", "c", seq, 0, "x"}, FenceOf(a)).ok());
  clock_.Advance(milliseconds(1));  // expires_ms == now: expired
  const Status s = store_.MarkApplied(seq, "replica", nullptr, FenceOf(a));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(store_.PendingFor("replica", 0, 10)->size(), 1u);
  EXPECT_EQ(store_.RenewLease(kLease, "a", a.term, kTtl).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(LeaseTest, TakeoverHappensAtExpiryAndNotBefore) {
  const Lease a = Acquire("a");
  EXPECT_EQ(a.term, 1);
  clock_.Advance(milliseconds(kTtl - 1));
  const Lease refused = Acquire("b");
  EXPECT_FALSE(refused.HeldBy("b"));
  EXPECT_EQ(refused.holder, "a");
  clock_.Advance(milliseconds(1));
  const Lease b = Acquire("b");
  EXPECT_TRUE(b.HeldBy("b"));
  EXPECT_EQ(b.term, 2);
  EXPECT_EQ(b.expires_ms, clock_.UnixMillis() + kTtl);
}

TEST_F(LeaseTest, RenewalKeepsTheTermAndPushesTheExpiry) {
  const int64_t seq = CommittedEntry();
  const Lease a = Acquire("a");
  clock_.Advance(milliseconds(2000));
  Result<Lease> renewed = store_.RenewLease(kLease, "a", a.term, kTtl);
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed->term, a.term);
  EXPECT_EQ(renewed->expires_ms, clock_.UnixMillis() + kTtl);
  clock_.Advance(milliseconds(2000));  // past the first expiry, within the renewed one
  EXPECT_FALSE(Acquire("b").HeldBy("b"));
  EXPECT_TRUE(store_.MarkAppliedBatch({seq}, "replica", FenceOf(a)).ok());
  // Re-acquiring one's own live lease is a renewal too.
  EXPECT_EQ(Acquire("a").term, a.term);
}

TEST_F(LeaseTest, TheTermIncreasesOnEveryTakeover) {
  const std::vector<std::string> holders = {"a", "b", "a", "c", "b"};
  int64_t term = 0;
  for (const std::string& h : holders) {
    const Lease l = Acquire(h);
    ASSERT_TRUE(l.HeldBy(h));
    EXPECT_EQ(l.term, term + 1);
    term = l.term;
    clock_.Advance(milliseconds(kTtl));
  }
}

TEST_F(LeaseTest, NoTwoHoldersOfOneTermUnderRandomContention) {
  std::mt19937 rng(42);
  const std::vector<std::string> holders = {"a", "b", "c"};
  std::map<int64_t, std::string> holder_of_term;
  std::map<std::string, Lease> believed;  // what each holder last got
  int64_t last_term = 0;
  int takeovers = 0;
  for (int step = 0; step < 2000; ++step) {
    clock_.Advance(milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng)));
    const std::string& h = holders[std::uniform_int_distribution<size_t>(0, 2)(rng)];
    const Lease l = Acquire(h);
    ASSERT_GE(l.term, last_term);
    if (l.term > last_term) ++takeovers;
    last_term = l.term;
    if (l.HeldBy(h)) {
      auto [it, fresh] = holder_of_term.emplace(l.term, h);
      EXPECT_EQ(it->second, h) << "term " << l.term << " had two holders";
      believed[h] = l;
    }
    // Whoever believes it holds the lease: only the current holder's fence still writes.
    for (const auto& [who, lease] : believed) {
      const Status s = store_.Unblock("replica", "t", "d", "c", FenceOf(lease));
      const bool current = lease.term == l.term && who == l.holder && l.expires_ms > l.now_ms;
      EXPECT_EQ(s.ok(), current) << who << " term " << lease.term << " at step " << step;
    }
  }
  EXPECT_GT(takeovers, 100);
}

}  // namespace
}  // namespace chroma_ha
