// Leases and fencing (wal_store.h "Leases and fencing"), against every store. Expiry runs on
// the store's own clock (PostgreSQL's server clock, the process clock for SQLite and the memory
// store), so these tests use short TTLs and poll for the expiry with a deadline; the fine
// timing rules are unit-tested on a fake clock (tests/unit/wal/lease_rules_test.cc).
#include <chrono>
#include <map>
#include <thread>

#include "wal_store_fixture.h"

namespace chroma_ha::conformance {
namespace {

constexpr int64_t kLongTtl = 60'000;
const std::string kLease = "replay/replica";

// AcquireLease for `holder` until it holds the lease (the previous tenure expires), or 10 s.
Result<Lease> TakeWhenFree(WalStore& store, const std::string& holder, int64_t ttl = kLongTtl) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    Result<Lease> l = store.AcquireLease(kLease, holder, ttl);
    if (!l.ok() || l->HeldBy(holder)) return l;
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::Timeout("lease still held by " + l->holder);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Fence FenceOf(const Lease& l) { return Fence{l.name, l.holder, l.term}; }

TEST_P(WalStoreConformance, AFreeLeaseIsGrantedWithTermOne) {
  Result<Lease> l = store_->AcquireLease(kLease, "a", kLongTtl);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_TRUE(l->HeldBy("a"));
  EXPECT_EQ(l->name, kLease);
  EXPECT_EQ(l->term, 1);
  EXPECT_GT(l->expires_ms, l->now_ms);
  EXPECT_LE(l->expires_ms, l->now_ms + kLongTtl);
}

TEST_P(WalStoreConformance, RenewalKeepsTheTermAndAnotherHolderIsRefused) {
  ASSERT_TRUE(store_->AcquireLease(kLease, "a", kLongTtl).ok());
  Result<Lease> again = store_->AcquireLease(kLease, "a", kLongTtl);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->term, 1);
  Result<Lease> renewed = store_->RenewLease(kLease, "a", 1, kLongTtl);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed->term, 1);
  EXPECT_GE(renewed->expires_ms, again->expires_ms);
  Result<Lease> other = store_->AcquireLease(kLease, "b", kLongTtl);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->HeldBy("b"));
  EXPECT_EQ(other->holder, "a");
  EXPECT_EQ(other->term, 1);
  EXPECT_EQ(store_->RenewLease(kLease, "b", 1, kLongTtl).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_P(WalStoreConformance, TakeoverAfterExpiryGetsANewTermAndFencesTheFormerHolder) {
  const int64_t seq = Append("c");
  Commit(seq, "primary");
  Result<Lease> a = store_->AcquireLease(kLease, "a", 1);  // expires at once
  ASSERT_TRUE(a.ok());
  std::unique_ptr<WalStore> other = backend_->Connect();
  ASSERT_OK(other->Open());
  Result<Lease> b = TakeWhenFree(*other, "b");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->term, a->term + 1);

  // The former holder can neither renew nor write.
  EXPECT_EQ(store_->RenewLease(kLease, "a", a->term, kLongTtl).status().code(),
            StatusCode::kFailedPrecondition);
  const Status stale = store_->MarkAppliedBatch({seq}, "replica", FenceOf(*a));
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition) << stale.ToString();
  EXPECT_EQ(stale.message().rfind(kFencedPrefix, 0), 0u) << stale.message();
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{seq});
  // The new one can.
  ASSERT_OK(other->MarkAppliedBatch({seq}, "replica", FenceOf(*b)));
  EXPECT_TRUE(Pending("replica").empty());
}

TEST_P(WalStoreConformance, EveryFencedWriteOfAStaleTenureChangesNothing) {
  const int64_t seq = Append("c", 1000);
  Commit(seq, "primary");
  const int64_t pending = Append("c", 1000);
  Result<Lease> a = store_->AcquireLease(kLease, "a", 1);
  ASSERT_TRUE(a.ok());
  Result<Lease> b = TakeWhenFree(*store_, "b");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const Fence stale = FenceOf(*a);
  const BlockedCollection blocked{"replica", "default_tenant", "default_database", "c", seq,
                                  1, "400"};
  auto refused = [](const Status& s) { return s.code() == StatusCode::kFailedPrecondition; };
  EXPECT_TRUE(refused(store_->MarkApplied(seq, "replica", nullptr, stale)));
  EXPECT_TRUE(refused(store_->MarkAppliedBatch({seq}, "replica", stale)));
  EXPECT_TRUE(refused(store_->SetOutcome(pending, EntryState::kRejected, "", 1, "x", stale)));
  EXPECT_TRUE(refused(store_->Block(blocked, stale)));
  EXPECT_TRUE(refused(store_->Prune(2000, kInstances, stale).status()));
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{seq});
  EXPECT_EQ(MustGet(pending).state, EntryState::kPending);
  ASSERT_TRUE(store_->ListBlocked().ok());
  EXPECT_TRUE(store_->ListBlocked()->empty());
  EXPECT_TRUE(store_->Get(seq).ok());  // not pruned

  const Fence current = FenceOf(*b);
  ASSERT_OK(store_->Block(blocked, current));
  EXPECT_TRUE(refused(store_->Unblock("replica", "default_tenant", "default_database", "c",
                                      stale)));
  EXPECT_EQ(store_->ListBlocked()->size(), 1u);
  ASSERT_OK(store_->Unblock("replica", "default_tenant", "default_database", "c", current));
  ASSERT_OK(store_->SetOutcome(pending, EntryState::kRejected, "", 1, "x", current));
  bool was_pending = false;
  ASSERT_OK(store_->MarkApplied(seq, "replica", &was_pending, current));
  EXPECT_TRUE(was_pending);
  // A fence naming a lease nobody took is refused too.
  EXPECT_TRUE(refused(store_->MarkApplied(seq, "replica", nullptr, Fence{"nope", "b", 1})));
}

TEST_P(WalStoreConformance, ReleaseLetsAnotherTakeOverAtOnce) {
  Result<Lease> a = store_->AcquireLease(kLease, "a", kLongTtl);
  ASSERT_TRUE(a.ok());
  ASSERT_OK(store_->ReleaseLease(kLease, "b", a->term));  // not b's: a no-op
  EXPECT_FALSE(store_->AcquireLease(kLease, "b", kLongTtl)->HeldBy("b"));
  ASSERT_OK(store_->ReleaseLease(kLease, "a", a->term));
  Result<Lease> b = store_->AcquireLease(kLease, "b", kLongTtl);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->HeldBy("b"));
  EXPECT_EQ(b->term, a->term + 1);
  // The same holder coming back after a release starts a new tenure too.
  ASSERT_OK(store_->ReleaseLease(kLease, "b", b->term));
  Result<Lease> b2 = store_->AcquireLease(kLease, "b", kLongTtl);
  EXPECT_EQ(b2->term, b->term + 1);
}

TEST_P(WalStoreConformance, ConcurrentAcquirersGetOneHolderPerTerm) {
  constexpr int kHandles = 4;
  constexpr int kRounds = 5;
  std::vector<std::unique_ptr<WalStore>> handles;
  for (int i = 0; i < kHandles; ++i) {
    handles.push_back(backend_->Connect());
    ASSERT_OK(handles.back()->Open());
  }
  std::map<int64_t, std::set<std::string>> holders_of_term;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<Result<Lease>> got(kHandles, Status::Internal("not run"));
    std::vector<std::thread> threads;
    for (int i = 0; i < kHandles; ++i) {
      threads.emplace_back([&, i] {
        got[i] = handles[i]->AcquireLease(kLease, "h" + std::to_string(i), kLongTtl);
      });
    }
    for (std::thread& t : threads) t.join();
    int winners = 0;
    for (int i = 0; i < kHandles; ++i) {
      ASSERT_TRUE(got[i].ok()) << got[i].status().ToString();
      if (got[i]->HeldBy("h" + std::to_string(i))) {
        ++winners;
        holders_of_term[got[i]->term].insert(got[i]->holder);
      }
    }
    EXPECT_EQ(winners, 1) << "round " << round;
    Result<std::vector<Lease>> all = store_->ListLeases();
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 1u);
    ASSERT_OK(store_->ReleaseLease(kLease, all->front().holder, all->front().term));
  }
  EXPECT_EQ(holders_of_term.size(), static_cast<size_t>(kRounds));
  for (const auto& [term, holders] : holders_of_term) EXPECT_EQ(holders.size(), 1u) << term;
}

TEST_P(WalStoreConformance, LeasesAndMembersAreListedAndSurviveClear) {
  ASSERT_TRUE(store_->AcquireLease("recovery", "a", kLongTtl).ok());
  ASSERT_TRUE(store_->AcquireLease(kLease, "b", kLongTtl).ok());
  ASSERT_OK(store_->Heartbeat("a"));
  ASSERT_OK(store_->Heartbeat("b"));
  Result<std::vector<Member>> before = store_->ListMembers();
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 2u);
  EXPECT_EQ(before->at(0).member, "a");
  EXPECT_LE(before->at(0).first_seen_ms, before->at(0).last_seen_ms);
  EXPECT_LE(before->at(0).last_seen_ms, before->at(0).now_ms);
  ASSERT_OK(store_->Heartbeat("a"));
  Result<std::vector<Member>> after = store_->ListMembers();
  EXPECT_EQ(after->at(0).first_seen_ms, before->at(0).first_seen_ms);
  EXPECT_GE(after->at(0).last_seen_ms, before->at(0).last_seen_ms);
  EXPECT_EQ(store_->Heartbeat("").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AcquireLease("", "a", 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AcquireLease("x", "a", 0).status().code(), StatusCode::kInvalidArgument);

  ASSERT_OK(store_->Clear());
  Result<std::vector<Lease>> leases = store_->ListLeases();
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 2u);
  EXPECT_EQ(leases->at(0).name, "recovery");
  EXPECT_EQ(leases->at(0).holder, "a");
  EXPECT_EQ(leases->at(1).name, kLease);
  EXPECT_EQ(store_->ListMembers()->size(), 2u);
}

}  // namespace
}  // namespace chroma_ha::conformance
