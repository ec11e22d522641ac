// Issue 14 item 4: while a full page's requests are out, the worker reads the next page and
// commits the page before's mark (SyncWorker's "Drains"), so the replica does not wait for the
// store between its requests. Shown as "can overlap", not "happened to": each side holds its
// call (up to a deadline) until the other side's call has arrived, which without the overlap
// never happens while it waits.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fakes/forwarding_store.h"
#include "sync_fixture.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kDeadline{2000};  // a backstop: a passing test never reaches it

// Counts the replica's writes and the store's page reads and marks, and lets either side wait
// for a count of the other.
class Meeting {
 public:
  void Count(int& what) {
    std::lock_guard<std::mutex> lock(mu_);
    ++what;
    cv_.notify_all();
  }
  // Waits until `what` reaches `n`; false on the deadline.
  bool WaitFor(const int& what, int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return what >= n; });
  }
  int Get(const int& what) {
    std::lock_guard<std::mutex> lock(mu_);
    return what;
  }

  int writes = 0;  // the replica's write requests, counted as they arrive
  int reads = 0;   // PendingFor calls for the replica, counted as they start
  int marks = 0;   // MarkAppliedBatch calls, counted as they start

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

// Mark number k (1-based, k <= hold_marks) waits until the replica has received write k + 1:
// it can only see it if it commits while the next page's request is out.
class MeetingStore final : public ForwardingStore {
 public:
  MeetingStore(WalStore* base, Meeting& m) : ForwardingStore(base), m_(m) {}
  Result<std::vector<WalEntry>> PendingFor(const std::string& instance, int64_t after_seq,
                                           int limit) override {
    if (instance == "replica") m_.Count(m_.reads);
    return ForwardingStore::PendingFor(instance, after_seq, limit);
  }
  Status MarkAppliedBatch(const std::vector<int64_t>& seqs, const std::string& instance,
                          const Fence& fence) override {
    m_.Count(m_.marks);
    const int k = m_.Get(m_.marks);
    if (k <= hold_marks && !m_.WaitFor(m_.writes, k + 1)) ++mark_timeouts;
    return ForwardingStore::MarkAppliedBatch(seqs, instance, fence);
  }

  int hold_marks = 0;
  int mark_timeouts = 0;  // written by the mark's thread, read after RunOnce

 private:
  Meeting& m_;
};

// Write number k (1-based, k <= hold_writes) waits until the store has started read k + 1 (the
// page after its own): it can only see it if that page is read while the request is out.
class MeetingReplica final : public InstanceClient {
 public:
  MeetingReplica(InstanceClient& inner, Meeting& m) : inner_(inner), m_(m) {}
  const std::string& name() const override { return inner_.name(); }
  Result<HttpResponse> Send(const HttpRequest& request) override {
    if (request.method == "GET") return inner_.Send(request);
    m_.Count(m_.writes);
    const int k = m_.Get(m_.writes);
    if (on_write) on_write(request);
    if (k <= hold_writes && !m_.WaitFor(m_.reads, k + 1)) ++read_timeouts;
    return inner_.Send(request);
  }

  int hold_writes = 0;
  int read_timeouts = 0;
  std::function<void(const HttpRequest&)> on_write;

 private:
  InstanceClient& inner_;
  Meeting& m_;
};

class PipelineTest : public SyncTest {
 protected:
  PipelineTest() {
    CollectionEverywhere("c1");
    ids_.Learn(kTenant, kDatabase, "c1", "replica", replica_sim_.IdOf("c1"));
  }
  // A worker on the meeting store, whose replica is the meeting replica.
  SyncWorker& MeetingWorker() {
    meeting_worker_ = std::make_unique<SyncWorker>(
        config_, meeting_store_, std::vector<InstanceClient*>{&primary_, &meeting_replica_}, ids_,
        clock_);
    RecordApplied(*meeting_worker_);
    return *meeting_worker_;
  }
  void AppendAdds(int n) {
    for (int i = 0; i < n; ++i) AppendAdd("c1", "r" + std::to_string(i));
  }
  std::vector<int64_t> AppliedOnReplica() {
    std::vector<int64_t> out;
    for (const auto& [seq, instance] : applied_) {
      if (instance == "replica") out.push_back(seq);
    }
    return out;
  }
  static std::vector<int64_t> Seqs(int64_t first, int64_t last) {
    std::vector<int64_t> out;
    for (int64_t s = first; s <= last; ++s) out.push_back(s);
    return out;
  }

  Meeting meeting_;
  MeetingStore meeting_store_{&memory_, meeting_};
  MeetingReplica meeting_replica_{replica_, meeting_};
  std::unique_ptr<SyncWorker> meeting_worker_;
};

// 250 adds: pages of 100, 100 and 50 (WAL_BATCH_SIZE), one request each. Requests 1 and 2 each
// wait for the read of the page after theirs; marks 1 and 2 each wait for the next request.
TEST_F(PipelineTest, TheNextPageIsReadAndThePageBeforeMarkedWhileARequestIsOut) {
  AppendAdds(250);
  meeting_replica_.hold_writes = 2;
  meeting_store_.hold_marks = 2;
  ASSERT_TRUE(MeetingWorker().RunOnce().ok());
  EXPECT_EQ(meeting_replica_.read_timeouts, 0) << "a page was read only after the request before";
  EXPECT_EQ(meeting_store_.mark_timeouts, 0) << "a page was sent only after the mark before";
  EXPECT_EQ(meeting_.Get(meeting_.writes), 3);
  EXPECT_EQ(meeting_.Get(meeting_.reads), 3);  // no read after the short page
  EXPECT_EQ(meeting_.Get(meeting_.marks), 3);
  EXPECT_EQ(ReplicaAdds("c1").size(), 250u);
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(AppliedOnReplica(), Seqs(1, 250));  // every callback once, in seq order
  EXPECT_EQ(meeting_worker_->stats().replayed, 250);
  EXPECT_EQ(meeting_worker_->stats().instances.at(1).last_applied_seq, 250);
}

// Pages that are not full (a caught-up replica) go as before: read, send, mark.
TEST_F(PipelineTest, AShortPageIsMarkedBeforeTheRoundEndsAndNothingIsReadAhead) {
  AppendAdds(30);
  ASSERT_TRUE(MeetingWorker().RunOnce().ok());
  EXPECT_EQ(meeting_.Get(meeting_.reads), 1);
  EXPECT_EQ(meeting_.Get(meeting_.marks), 1);
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(AppliedOnReplica(), Seqs(1, 30));
}

// An entry that is not a batchable write (an update) is sent only after everything before it
// is marked: here the run of the page before, whose mark was committing behind.
TEST_F(PipelineTest, AnEntryThatGoesAloneFindsThePageBeforeMarked) {
  AppendAdds(100);                                         // page 1 (full)
  AppendCommitted("c1", "update", AddBody("r1", "doc2"));  // page 2 starts with it
  AppendAdd("c1", "late");
  int64_t pending_at_update = -1;
  meeting_replica_.on_write = [&](const HttpRequest& r) {
    if (r.target.find("/update") != std::string::npos) pending_at_update = Pending("replica");
  };
  ASSERT_TRUE(MeetingWorker().RunOnce().ok());
  EXPECT_EQ(pending_at_update, 2);  // the update and the add after it
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(AppliedOnReplica(), Seqs(1, 102));
}

// The mark behind fails: the round fails with it, nothing of it is counted or called back, and
// the next round re-sends what was applied but not marked (that page and the one after it) and
// marks everything once.
TEST_F(PipelineTest, AFailedMarkBehindIsCountedAndItsRunReSent) {
  faulty_ = true;
  AppendAdds(250);
  fault_.FailNthCallOf(WalOp::kMarkAppliedBatch, 0);
  EXPECT_FALSE(RunOnce().ok());
  EXPECT_TRUE(AppliedOnReplica().empty());
  EXPECT_EQ(Pending("replica"), 250);
  EXPECT_EQ(worker().stats().store_errors.at("mark_applied_batch"), 1);
  EXPECT_EQ(worker().stats().replayed, 0);
  const size_t sent_before = ReplicaAdds("c1").size();
  EXPECT_GE(sent_before, 100u);
  EXPECT_LE(sent_before, 200u);  // at most the page whose mark failed and the one after it

  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(AppliedOnReplica(), Seqs(1, 250));
  EXPECT_EQ(ReplicaAdds("c1").size(), sent_before + 250);
}

}  // namespace
}  // namespace chroma_ha
