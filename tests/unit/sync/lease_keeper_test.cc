// LeaseKeeper (sync/lease_keeper.h) on a fake clock: its view of a lease ends before the
// store's expiry, renewal keeps the term, a store outage keeps the view only until it runs out,
// a fenced write drops it at once, and /wal/status's view lists the members and holders.
#include "sync/lease_keeper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include "fakes/fake_clock.h"
#include "fakes/fault_store.h"
#include "fakes/memory_store.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kTtl{3000};

class LeaseKeeperTest : public ::testing::Test {
 protected:
  std::unique_ptr<LeaseKeeper> Keeper(const std::string& member) {
    return std::make_unique<LeaseKeeper>(fault_, member,
                                         std::vector<std::string>{kRecoveryLease}, kTtl, clock_);
  }
  FakeClock clock_;
  MemoryWalStore memory_{{"primary", "replica"}, &clock_};
  FaultStore fault_{&memory_};
};

TEST_F(LeaseKeeperTest, ItsViewEndsBeforeTheStoresExpiry) {
  auto k = Keeper("a");
  k->Tick();
  ASSERT_TRUE(k->Holding(kRecoveryLease).has_value());
  EXPECT_EQ(k->Holding(kRecoveryLease)->holder, "a");
  clock_.Advance(milliseconds(2699));
  EXPECT_TRUE(k->Holding(kRecoveryLease).has_value());
  clock_.Advance(milliseconds(1));  // 9/10 of the TTL
  EXPECT_FALSE(k->Holding(kRecoveryLease).has_value());
  EXPECT_TRUE(memory_.ListLeases()->front().HeldBy("a"));  // the store still says a's
}

TEST_F(LeaseKeeperTest, EachTickRenewsKeepingTheTerm) {
  auto k = Keeper("a");
  for (int i = 0; i < 10; ++i) {
    k->Tick();
    ASSERT_TRUE(k->Holding(kRecoveryLease).has_value()) << i;
    EXPECT_EQ(k->Holding(kRecoveryLease)->term, 1);
    clock_.Advance(kTtl / 3);
  }
  EXPECT_EQ(fault_.calls(WalOp::kAcquireLease), 1);
  EXPECT_EQ(fault_.calls(WalOp::kRenewLease), 9);
}

TEST_F(LeaseKeeperTest, AStoreOutageKeepsTheViewOnlyUntilItRunsOut) {
  auto k = Keeper("a");
  k->Tick();
  fault_.SetDown(true);
  clock_.Advance(milliseconds(1000));
  k->Tick();
  EXPECT_TRUE(k->Holding(kRecoveryLease).has_value());
  EXPECT_NE(k->view().error, "");
  clock_.Advance(milliseconds(1700));
  k->Tick();
  EXPECT_FALSE(k->Holding(kRecoveryLease).has_value());
  // Back: the lease expired meanwhile (nobody took it), so it is taken with a new term.
  fault_.SetDown(false);
  clock_.Advance(milliseconds(300));
  k->Tick();
  ASSERT_TRUE(k->Holding(kRecoveryLease).has_value());
  EXPECT_EQ(k->Holding(kRecoveryLease)->term, 2);
  EXPECT_EQ(k->view().error, "");
}

TEST_F(LeaseKeeperTest, TakenOverLeasesAreDroppedAtTheNextTickOrAtOnceWhenFenced) {
  auto a = Keeper("a");
  auto b = Keeper("b");
  a->Tick();
  a->Lost(kRecoveryLease);
  EXPECT_FALSE(a->Holding(kRecoveryLease).has_value());
  a->Tick();  // still a's in the store: taken back, same tenure
  EXPECT_EQ(a->Holding(kRecoveryLease)->term, 1);
  clock_.Advance(kTtl);
  b->Tick();
  EXPECT_EQ(b->Holding(kRecoveryLease)->term, 2);
  a->Tick();  // its renewal is refused
  EXPECT_FALSE(a->Holding(kRecoveryLease).has_value());
}

TEST_F(LeaseKeeperTest, TheViewListsMembersAndHolders) {
  auto a = Keeper("a");
  auto b = Keeper("b");
  a->Tick();
  b->Tick();
  const LeaseKeeper::View v = b->view();
  EXPECT_EQ(v.member, "b");
  EXPECT_EQ(v.ttl_ms, 3000);
  ASSERT_EQ(v.members.size(), 2u);
  EXPECT_EQ(v.members[0].member, "a");
  EXPECT_EQ(v.members[1].member, "b");
  ASSERT_EQ(v.leases.size(), 1u);
  EXPECT_EQ(v.leases[0].holder, "a");
  EXPECT_EQ(v.leases[0].term, 1);
  EXPECT_EQ(v.refreshed_ms, clock_.UnixMillis());
}

TEST_F(LeaseKeeperTest, MemberIdsNameTheHostAndPidAndDiffer) {
  const std::string id = LeaseKeeper::MakeMemberId();
  EXPECT_TRUE(std::regex_match(id, std::regex(".+:" + std::to_string(getpid()) + ":[0-9a-f]{8}")))
      << id;
  EXPECT_NE(id, LeaseKeeper::MakeMemberId());
}

TEST_F(LeaseKeeperTest, StartRenewsOnItsOwnThreadAndStopReleases) {
  auto a = Keeper("a");
  a->Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!a->Holding(kRecoveryLease) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_TRUE(a->Holding(kRecoveryLease).has_value());
  a->Stop();
  EXPECT_LE(memory_.ListLeases()->front().expires_ms, clock_.UnixMillis());
}

// Start-up: a lease a dead run left behind is awaited (it expires); a live member is not.
TEST_F(LeaseKeeperTest, AwaitLeaseWaitsOutADeadHolderButNotALiveOne) {
  auto dead = Keeper("dead");
  dead->Tick();  // then never again
  auto a = Keeper("a");
  std::thread mover([&] {  // the fake clock moves while AwaitLease waits on the real one
    for (int i = 0; i < 400 && !a->Holding(kRecoveryLease); ++i) {
      clock_.Advance(milliseconds(100));
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  EXPECT_TRUE(a->AwaitLease(kRecoveryLease, milliseconds(4500)));
  mover.join();
  EXPECT_EQ(a->Holding(kRecoveryLease)->term, 2);
  EXPECT_FALSE(a->OthersAlive());  // "dead" has not heartbeated since a started

  auto b = Keeper("b");
  b->Tick();
  clock_.Advance(milliseconds(10));
  a->Tick();  // a is alive and renews
  EXPECT_FALSE(b->AwaitLease(kRecoveryLease, milliseconds(4500)));  // returns at once
  EXPECT_TRUE(b->OthersAlive());
}

}  // namespace
}  // namespace chroma_ha
