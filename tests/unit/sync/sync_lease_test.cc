// Replay under the replay lease (sync_worker.h "Leases"; docs/design.md "Fleet"), on a fake
// clock: a worker replays to an instance only while its process holds that instance's lease,
// a holder paused past its lease (another process took over meanwhile) marks nothing, two
// workers on one store never replay the same entries, and a clean stop hands the lease over
// at once.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "fakes/forwarding_store.h"
#include "sync/lease_keeper.h"
#include "sync_fixture.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kTtl{3000};
const std::string kReplicaLease = "replay/replica";

// The replica, with a hook run before each request is passed on (a pause of the sender).
class HookedInstance final : public InstanceClient {
 public:
  HookedInstance(InstanceClient& base, std::function<void()> hook)
      : base_(base), hook_(std::move(hook)) {}
  const std::string& name() const override { return base_.name(); }
  Result<HttpResponse> Send(const HttpRequest& request) override {
    if (request.method != "GET") hook_();
    return base_.Send(request);
  }

 private:
  InstanceClient& base_;
  std::function<void()> hook_;
};

// Counts the marks that have returned, so a test can wait for one (a mark may commit on a thread
// of its own while a backlog drains).
class MarkCountingStore final : public ForwardingStore {
 public:
  explicit MarkCountingStore(WalStore* base) : ForwardingStore(base) {}
  Status MarkAppliedBatch(const std::vector<int64_t>& seqs, const std::string& instance,
                          const Fence& fence) override {
    Status s = ForwardingStore::MarkAppliedBatch(seqs, instance, fence);
    std::lock_guard<std::mutex> lock(mu_);
    ++returned_;
    cv_.notify_all();
    return s;
  }
  // Waits (real time, with a deadline) until `n` marks have returned; false on the deadline.
  bool WaitForMarks(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return returned_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int returned_ = 0;
};

class SyncLeaseTest : public SyncTest {
 protected:
  SyncLeaseTest() {
    CollectionEverywhere("c1");
    ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  }
  std::unique_ptr<LeaseKeeper> Keeper(const std::string& member) {
    return std::make_unique<LeaseKeeper>(
        memory_, member, std::vector<std::string>{"replay/primary", kReplicaLease}, kTtl, clock_);
  }
  std::unique_ptr<SyncWorker> WorkerWith(LeaseKeeper& keeper) {
    std::unique_ptr<SyncWorker> w = NewWorker();
    w->SetLeases(&keeper);
    return w;
  }
  size_t ReplicaAddsOf(const std::string& id) {
    const std::vector<std::string> adds = ReplicaAdds("c1");
    return static_cast<size_t>(std::count(adds.begin(), adds.end(), id));
  }
};

TEST_F(SyncLeaseTest, ReplaysOnlyWhileHoldingTheInstancesLease) {
  ASSERT_TRUE(memory_.AcquireLease(kReplicaLease, "other", kTtl.count())->HeldBy("other"));
  auto keeper = Keeper("me");
  keeper->Tick();
  EXPECT_FALSE(keeper->Holding(kReplicaLease).has_value());
  auto w = WorkerWith(*keeper);
  AppendAdd("c1", "a");
  ASSERT_TRUE(w->RunOnce().ok());
  EXPECT_TRUE(ReplicaWritesSent().empty());
  EXPECT_EQ(Pending("replica"), 1);
  EXPECT_FALSE(w->stats().instances.at(1).replay_lease_held);

  clock_.Advance(kTtl);  // "other" stopped renewing: expired
  keeper->Tick();
  ASSERT_TRUE(keeper->Holding(kReplicaLease).has_value());
  EXPECT_EQ(keeper->Holding(kReplicaLease)->term, 2);
  ASSERT_TRUE(w->RunOnce().ok());
  EXPECT_EQ(ReplicaAddsOf("a"), 1u);
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_TRUE(w->stats().instances.at(1).replay_lease_held);
}

TEST_F(SyncLeaseTest, AHolderPausedPastItsLeaseMarksNothingAndTheNewHolderReplays) {
  auto a = Keeper("a");
  a->Tick();
  ASSERT_TRUE(a->Holding(kReplicaLease).has_value());
  AppendAdd("c1", "x");
  // While A's request is in flight, A is "paused" past its lease and B takes over.
  auto b = Keeper("b");
  bool paused = false;
  HookedInstance pausing(replica_, [&] {
    if (paused) return;
    paused = true;
    clock_.Advance(kTtl);
    b->Tick();
  });
  SyncWorker wa_worker(config_, memory_, {&primary_, &pausing}, ids_, clock_);
  wa_worker.SetLeases(a.get());
  RecordApplied(wa_worker);
  SyncWorker* wa = &wa_worker;
  (void)wa->RunOnce();
  EXPECT_EQ(ReplicaAddsOf("x"), 1u);               // the request went out before the pause
  EXPECT_EQ(Pending("replica"), 1);                // but A's mark was refused by its fence
  EXPECT_EQ(wa->stats().fenced, 1);
  EXPECT_TRUE(wa->stats().store_errors.empty());   // not a store failure: no store backoff
  EXPECT_TRUE(applied_.empty());                   // nothing counted as applied by A
  EXPECT_FALSE(a->Holding(kReplicaLease).has_value());
  ASSERT_TRUE(b->Holding(kReplicaLease).has_value());
  EXPECT_EQ(b->Holding(kReplicaLease)->term, 2);

  // A's next round sends nothing; B's replays (again: re-applying an add is harmless).
  const size_t sent = ReplicaWritesSent().size();
  ASSERT_TRUE(wa->RunOnce().ok());
  EXPECT_EQ(ReplicaWritesSent().size(), sent);
  auto wb = WorkerWith(*b);
  ASSERT_TRUE(wb->RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 0);
}

// The same while a backlog drains (pages of 100, each marked behind the next page's request):
// A loses its lease while page 2 is out, once page 1's mark has been stored. Page 2's mark,
// committing behind, is refused by its fence; A sends nothing more, and B replays from page 2.
TEST_F(SyncLeaseTest, AMarkBehindRefusedByItsFenceCountsNothingAndTheNewHolderGoesOn) {
  auto a = Keeper("a");
  a->Tick();
  for (int i = 0; i < 250; ++i) AppendAdd("c1", "r" + std::to_string(i));
  MarkCountingStore marks(&memory_);
  auto b = Keeper("b");
  int requests = 0;
  bool marked_in_time = true;
  HookedInstance pausing(replica_, [&] {
    if (++requests != 2) return;
    marked_in_time = marks.WaitForMarks(1);  // page 1's mark, committing beside this request
    clock_.Advance(kTtl);
    b->Tick();
  });
  SyncWorker wa(config_, marks, {&primary_, &pausing}, ids_, clock_);
  wa.SetLeases(a.get());
  RecordApplied(wa);
  (void)wa.RunOnce();
  EXPECT_TRUE(marked_in_time);
  EXPECT_EQ(requests, 2);              // nothing after the lease was lost
  EXPECT_EQ(Pending("replica"), 150);  // page 1 marked, page 2 refused
  EXPECT_EQ(wa.stats().fenced, 1);
  EXPECT_TRUE(wa.stats().store_errors.empty());
  EXPECT_EQ(wa.stats().replayed, 100);
  ASSERT_EQ(applied_.size(), 100u);  // page 1's callbacks only, in seq order
  for (size_t i = 0; i < applied_.size(); ++i) EXPECT_EQ(applied_[i].first, int64_t(i) + 1);
  EXPECT_FALSE(a->Holding(kReplicaLease).has_value());

  auto wb = WorkerWith(*b);
  ASSERT_TRUE(wb->RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(ReplicaAddsOf("r200"), 1u);  // page 3: sent by B only
  EXPECT_EQ(ReplicaAddsOf("r100"), 2u);  // page 2: by A (refused mark) and again by B
  EXPECT_EQ(ReplicaAddsOf("r0"), 1u);    // page 1: marked by A
}

TEST_F(SyncLeaseTest, TwoWorkersOnOneStoreReplayEachEntryOnce) {
  auto a = Keeper("a");
  auto b = Keeper("b");
  a->Tick();
  b->Tick();  // everything is A's already
  auto wa = WorkerWith(*a);
  auto wb = WorkerWith(*b);
  for (int i = 0; i < 30; ++i) {
    AppendAdd("c1", "r" + std::to_string(i));
    ASSERT_TRUE((i % 2 ? wa : wb)->RunOnce().ok());
  }
  for (int i = 0; i < 30; ++i) EXPECT_EQ(ReplicaAddsOf("r" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(wb->stats().replayed, 0);
  EXPECT_EQ(wa->stats().replayed, 30);
}

TEST_F(SyncLeaseTest, AStoppedKeeperHandsItsLeasesOverAtOnce) {
  auto a = Keeper("a");
  a->Tick();
  ASSERT_TRUE(a->Holding(kReplicaLease).has_value());
  a->Stop();
  EXPECT_FALSE(a->Holding(kReplicaLease).has_value());
  auto b = Keeper("b");
  b->Tick();  // no clock advance: the lease was released, not left to expire
  ASSERT_TRUE(b->Holding(kReplicaLease).has_value());
  EXPECT_EQ(b->Holding(kReplicaLease)->term, 2);
}

}  // namespace
}  // namespace chroma_ha
