// The group committer under faults: one entry's permanent error fails that entry alone,
// in-doubt commits, the queue bound, cancellation and exceptions on the writer thread.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "failpoints/failpoints.h"
#include "fakes/fault_store.h"
#include "fakes/memory_store.h"
#include "unit/wal/group_commit_fixture.h"
#include "wal/group_commit.h"
#include "wal/sqlite_store.h"

namespace chroma_ha::group_commit_test {
namespace {

// Arms failpoints for one test and disarms them whatever happens.
class ArmedFailpoints {
 public:
  explicit ArmedFailpoints(const std::string& spec) {
    std::string error;
    EXPECT_TRUE(failpoints::Configure(spec, &error)) << error;
  }
  ~ArmedFailpoints() { failpoints::Configure(""); }
};

WalEntry Hostile(const std::string& body) {
  WalEntry e = Entry(body);
  e.collection = "\xff\xfe";  // not UTF-8: every store refuses it (kInvalidArgument)
  return e;
}

// 1 invalid entry among many: it fails alone; the others are written, in submission order.
void ExpectInvalidEntryFailsAlone(WalStore* store) {
  FaultStore faults(store);
  GroupCommitter committer(&faults, 100);
  Gate gate;
  committer.Append(Entry("hold"), [&gate](Status, int64_t) { gate.Wait(); });
  gate.WaitEntered();
  Completions done;
  constexpr int kBad = 7;
  for (int i = 0; i < 20; ++i) {
    committer.Append(i == kBad ? Hostile("bad") : Entry("good-" + std::to_string(i)),
                     done.Callback(i));
  }
  gate.Open();
  done.WaitFor(20);
  int64_t previous = 0;
  for (const auto& [id, result] : done.results()) {
    if (id == kBad) {
      EXPECT_EQ(result.first.code(), StatusCode::kInvalidArgument) << result.first.ToString();
      EXPECT_EQ(result.second, 0);
      continue;
    }
    ASSERT_TRUE(result.first.ok()) << "id " << id << ": " << result.first.ToString();
    EXPECT_GT(result.second, previous) << "id " << id;
    previous = result.second;
    Result<WalEntry> got = store->Get(result.second);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->body, "good-" + std::to_string(id));
  }
  const GroupCommitStats stats = committer.stats();
  EXPECT_EQ(stats.isolated_batches, 1);
  EXPECT_EQ(stats.failed_entries, 1);
  EXPECT_EQ(stats.entries, 20);  // "hold" and the 19 good ones
  // The batch of 20 failed, then 20 single writes: 1 + 1 + 20 store calls.
  EXPECT_EQ(faults.calls(WalOp::kAppend), 22);
}

TEST(GroupCommitIsolation, OneInvalidEntryInABatchFailsAloneInMemory) {
  MemoryWalStore memory;
  ExpectInvalidEntryFailsAlone(&memory);
  EXPECT_EQ(memory.size(), 20u);
}

TEST(GroupCommitIsolation, OneInvalidEntryInABatchFailsAloneInSqlite) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("chroma-ha-gc-isolation-" + std::to_string(getpid()));
  {
    SqliteWalStore sqlite((dir / "wal.sqlite3").string());
    ASSERT_TRUE(sqlite.Open().ok());
    ExpectInvalidEntryFailsAlone(&sqlite);
  }
  std::filesystem::remove_all(dir);
}

TEST_F(GroupCommitTest, InDoubtDurableAppendAnswersTimeoutWithTheStoredSeqs) {
  GroupCommitter committer(&store_, 100);
  HoldWriter(committer);
  Completions done;
  for (int i = 0; i < 3; ++i) committer.Append(Entry(std::to_string(i)), done.Callback(i));
  store_.CrashOnAppend(FaultStore::CrashMode::kInDoubtDurable);
  gate_.Open();
  done.WaitFor(3);
  for (const auto& [id, result] : done.results()) {
    EXPECT_EQ(result.first.code(), StatusCode::kTimeout) << id;
    ASSERT_GT(result.second, 0) << id;
    EXPECT_EQ(memory_.Get(result.second)->body, std::to_string(id));  // it IS durable
  }
  EXPECT_EQ(committer.stats().isolated_batches, 0);  // retryable: not written again
  EXPECT_EQ(memory_.size(), 4u);
}

TEST_F(GroupCommitTest, InDoubtLostAppendAnswersTimeoutWithSeqZero) {
  GroupCommitter committer(&store_, 100);
  HoldWriter(committer);
  Completions done;
  for (int i = 0; i < 3; ++i) committer.Append(Entry(std::to_string(i)), done.Callback(i));
  store_.CrashOnAppend(FaultStore::CrashMode::kInDoubtLost);
  gate_.Open();
  done.WaitFor(3);
  for (const auto& [id, result] : done.results()) {
    EXPECT_EQ(result.first.code(), StatusCode::kTimeout) << id;
    EXPECT_EQ(result.second, 0) << id;
  }
  EXPECT_EQ(memory_.size(), 1u);
}

TEST_F(GroupCommitTest, CommitAckLostFailpointAnswersTimeoutWithRealSeqs) {
  ArmedFailpoints armed("commit_ack_lost=error@2");  // the batch after "hold"
  GroupCommitter committer(&store_, 100);
  HoldWriter(committer);
  Completions done;
  for (int i = 0; i < 4; ++i) committer.Append(Entry(std::to_string(i)), done.Callback(i));
  gate_.Open();
  done.WaitFor(4);
  for (const auto& [id, result] : done.results()) {
    EXPECT_EQ(result.first.code(), StatusCode::kTimeout) << id;
    EXPECT_EQ(result.first.message(), "failpoint: commit acknowledgement lost");
    ASSERT_GT(result.second, 0) << id;
    EXPECT_EQ(memory_.Get(result.second)->body, std::to_string(id));
  }
}

TEST_F(GroupCommitTest, ThrowingFailpointsDoNotKillTheWriter) {
  {
    ArmedFailpoints armed("during_group_commit=throw@1");
    GroupCommitter committer(&store_, 1);  // "a" alone: a batch of several is written again
    Completions done;
    committer.Append(Entry("a"), done.Callback(0));
    committer.Append(Entry("b"), done.Callback(1));
    done.WaitFor(2);
    EXPECT_EQ(done.results().at(0).first.code(), StatusCode::kInternal);  // not written
    EXPECT_EQ(done.results().at(0).second, 0);
    EXPECT_TRUE(done.results().at(1).first.ok());  // the writer lives on
  }
  {
    ArmedFailpoints armed("commit_ack_lost=throw@1");
    GroupCommitter committer(&store_, 10);
    Completions done;
    committer.Append(Entry("c"), done.Callback(0));
    done.WaitFor(1);
    const auto [status, seq] = done.results().at(0);
    EXPECT_EQ(status.code(), StatusCode::kTimeout);  // written, but the outcome was not seen
    ASSERT_GT(seq, 0);
    EXPECT_EQ(memory_.Get(seq)->body, "c");
  }
}

TEST_F(GroupCommitTest, FullQueueRefusesAtOnceNamingTheLimit) {
  GroupCommitter committer(&store_, 100, /*queue_limit=*/3);
  HoldWriter(committer);  // taken by the writer: the queue is empty again
  Completions done;
  for (int i = 0; i < 3; ++i) EXPECT_GT(committer.Append(Entry("q"), done.Callback(i)), 0u);
  EXPECT_EQ(committer.Append(Entry("over"), done.Callback(3)), 0u);
  ASSERT_EQ(done.results().count(3), 1u);  // answered before Append returned
  const Status refused = done.results().at(3).first;
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("WAL_QUEUE_LIMIT"), std::string::npos) << refused.message();
  EXPECT_EQ(committer.stats().rejected_full, 1);
  gate_.Open();
  done.WaitFor(4);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(done.results().at(i).first.ok()) << i;
  Completions after;  // room again
  EXPECT_GT(committer.Append(Entry("after"), after.Callback(0)), 0u);
  after.WaitFor(1);
  EXPECT_TRUE(after.results().at(0).first.ok());
  EXPECT_EQ(memory_.size(), 5u);
}

TEST_F(GroupCommitTest, CancelRemovesAQueuedRequestOnly) {
  auto committer = std::make_unique<GroupCommitter>(&store_, 100);
  const uint64_t hold = HoldWriter(*committer);
  Completions done;
  const uint64_t a = committer->Append(Entry("a"), done.Callback(0));
  const uint64_t b = committer->Append(Entry("b"), done.Callback(1));
  const uint64_t c = committer->Append(Entry("c"), done.Callback(2));
  EXPECT_TRUE(a > hold && b > a && c > b);
  EXPECT_FALSE(committer->Cancel(hold));  // being written: its callback runs
  EXPECT_TRUE(committer->Cancel(b));
  EXPECT_FALSE(committer->Cancel(b));        // already cancelled
  EXPECT_FALSE(committer->Cancel(c + 100));  // unknown
  EXPECT_EQ(committer->stats().queued, 2);
  EXPECT_EQ(committer->stats().cancelled, 1);
  gate_.Open();
  committer->Stop();  // drains the queue: every callback that will ever run has run
  EXPECT_EQ(done.results().size(), 2u);
  EXPECT_EQ(done.results().count(1), 0u);  // b's callback never ran
  EXPECT_FALSE(committer->Cancel(a));      // done
  std::vector<std::string> bodies;
  for (const WalEntry& e : memory_.All()) bodies.push_back(e.body);
  EXPECT_EQ(bodies, (std::vector<std::string>{"hold", "a", "c"}));  // b never written
}

}  // namespace
}  // namespace chroma_ha::group_commit_test
