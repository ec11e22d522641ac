#include "wal/group_commit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fakes/fault_store.h"
#include "fakes/memory_store.h"
#include "wal/postgres_store.h"
#include "wal/sqlite_store.h"
#include "fakes/test_database.h"
#include "unit/wal/group_commit_fixture.h"

namespace chroma_ha::group_commit_test {
namespace {

TEST_F(GroupCommitTest, AppendCompletesWithTheStoredSeq) {
  GroupCommitter committer(&store_, 10);
  Completions done;
  committer.Append(Entry("one"), done.Callback(0));
  done.WaitFor(1);
  const auto [status, seq] = done.results().at(0);
  ASSERT_TRUE(status.ok()) << status.ToString();
  Result<WalEntry> got = memory_.Get(seq);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->body, "one");
}

// The body the store wrote is handed back to the caller before its callback runs: the write path
// forwards the very buffer it logged (one body buffer per write, never a copy).
TEST_F(GroupCommitTest, TheBodyIsHandedBackBeforeTheCallback) {
  GroupCommitter committer(&store_, 10);
  auto back = std::make_shared<std::string>();
  std::string seen_in_callback;
  Completions done;
  auto record = done.Callback(0);
  const std::string big(1 << 20, 'x');
  const char* const buffer = [&] {
    WalEntry e = Entry(big);
    const char* data = e.body.data();
    committer.Append(std::move(e), [&, back, record](Status s, int64_t seq) {
      seen_in_callback = *back;
      record(s, seq);
    }, back.get());
    return data;
  }();
  done.WaitFor(1);
  ASSERT_TRUE(done.results().at(0).first.ok());
  EXPECT_EQ(seen_in_callback, big);
  EXPECT_EQ(back->data(), buffer) << "the body was copied, not handed back";
  EXPECT_EQ(memory_.Get(done.results().at(0).second)->body, big);
}

TEST_F(GroupCommitTest, QueuedRequestsShareOneStoreCall) {
  GroupCommitter committer(&store_, 100);
  HoldWriter(committer);
  Completions done;
  for (int i = 0; i < 20; ++i) committer.Append(Entry(std::to_string(i)), done.Callback(i));
  EXPECT_EQ(committer.stats().queued, 20);
  gate_.Open();
  done.WaitFor(20);
  EXPECT_EQ(store_.calls(WalOp::kAppend), 2);
  const GroupCommitStats stats = committer.stats();
  EXPECT_EQ(stats.batches, 2);
  EXPECT_EQ(stats.entries, 21);
  EXPECT_EQ(stats.last_batch_size, 20);
  EXPECT_EQ(stats.max_batch_size, 20);
  EXPECT_EQ(stats.size_histogram[0], 1);  // the batch of 1
  EXPECT_EQ(stats.size_histogram[5], 1);  // 17..32
  EXPECT_EQ(stats.queued, 0);
}

TEST_F(GroupCommitTest, BatchesAreCappedAtMaxBatchSize) {
  GroupCommitter committer(&store_, 10);
  HoldWriter(committer);
  Completions done;
  for (int i = 0; i < 25; ++i) committer.Append(Entry(std::to_string(i)), done.Callback(i));
  gate_.Open();
  done.WaitFor(25);
  EXPECT_EQ(store_.calls(WalOp::kAppend), 4);  // 1 + 10 + 10 + 5
  EXPECT_EQ(committer.stats().max_batch_size, 10);
  EXPECT_EQ(committer.stats().last_batch_size, 5);
}

TEST_F(GroupCommitTest, SeqFollowsSubmissionOrderAndCallbacksRunInSeqOrder) {
  GroupCommitter committer(&store_, 7);
  Completions done;
  std::mutex ordering;  // the caller's own ordering lock
  int next_id = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::lock_guard<std::mutex> lock(ordering);
        const int id = next_id++;
        committer.Append(Entry(std::to_string(id)), done.Callback(id));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  done.WaitFor(200);
  const auto results = done.results();
  int64_t previous = 0;
  for (const auto& [id, result] : results) {  // ids ascending = submission order
    ASSERT_TRUE(result.first.ok());
    EXPECT_GT(result.second, previous) << "id " << id;
    previous = result.second;
    EXPECT_EQ(memory_.Get(result.second)->body, std::to_string(id));
  }
  const std::vector<int64_t> order = done.order();
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
}

TEST_F(GroupCommitTest, StoreFailureFailsTheWholeBatch) {
  GroupCommitter committer(&store_, 100);
  HoldWriter(committer);
  Completions done;
  for (int i = 0; i < 5; ++i) committer.Append(Entry(std::to_string(i)), done.Callback(i));
  store_.FailNthCallOf(WalOp::kAppend, 1, Status::Unavailable("db down"));
  gate_.Open();
  done.WaitFor(5);
  for (const auto& [id, result] : done.results()) {
    EXPECT_EQ(result.first.code(), StatusCode::kUnavailable) << id;
    EXPECT_EQ(result.second, 0) << id;
  }
  EXPECT_EQ(memory_.size(), 1u);  // only "hold"
  const GroupCommitStats stats = committer.stats();
  EXPECT_EQ(stats.failed_batches, 1);
  EXPECT_EQ(stats.failed_entries, 5);
  EXPECT_EQ(stats.isolated_batches, 0);  // retryable: not one entry's fault
  Completions after;
  committer.Append(Entry("after"), after.Callback(0));
  after.WaitFor(1);
  EXPECT_TRUE(after.results().at(0).first.ok());
}

TEST_F(GroupCommitTest, CrashBetweenAppendAndCommitIsNeverAcknowledged) {
  for (FaultStore::CrashMode mode : {FaultStore::CrashMode::kLost, FaultStore::CrashMode::kDurable}) {
    MemoryWalStore memory;
    FaultStore store(&memory);
    GroupCommitter committer(&store, 10);
    store.CrashOnAppend(mode);
    Completions done;
    committer.Append(Entry("x"), done.Callback(0));
    done.WaitFor(1);
    EXPECT_FALSE(done.results().at(0).first.ok());
    // Durable-but-unacknowledged entries stay kPending: crash recovery (Unresolved) finds them.
    EXPECT_EQ(memory.size(), mode == FaultStore::CrashMode::kDurable ? 1u : 0u);
  }
}

TEST_F(GroupCommitTest, StopDrainsTheQueueThenRefuses) {
  auto committer = std::make_unique<GroupCommitter>(&store_, 3);
  HoldWriter(*committer);
  Completions done;
  for (int i = 0; i < 10; ++i) committer->Append(Entry(std::to_string(i)), done.Callback(i));
  std::thread stopper([&] { committer->Stop(); });
  gate_.Open();
  stopper.join();
  EXPECT_EQ(done.results().size(), 10u);
  for (const auto& [id, result] : done.results()) EXPECT_TRUE(result.first.ok()) << id;
  Completions late;
  committer->Append(Entry("late"), late.Callback(0));
  ASSERT_EQ(late.results().size(), 1u);  // ran inline
  EXPECT_EQ(late.results().at(0).first.code(), StatusCode::kUnavailable);
  EXPECT_EQ(memory_.size(), 11u);
}

// Fail the nth store call, for every n: afterwards every acknowledged request is in the store
// under its seq, and nothing unacknowledged is (a failed Append stores nothing).
TEST(GroupCommitFaultLoop, FailNthAppendForEveryN) {
  for (int n = 0;; ++n) {
    SCOPED_TRACE("n = " + std::to_string(n));
    MemoryWalStore memory;
    FaultStore store(&memory);
    store.FailNthCallOf(WalOp::kAppend, n);
    Completions done;
    constexpr int kThreads = 3;
    constexpr int kPerThread = 12;
    {
      GroupCommitter committer(&store, 4);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          for (int i = 0; i < kPerThread; ++i) {
            const int id = t * kPerThread + i;
            committer.Append(Entry("body-" + std::to_string(id)), done.Callback(id));
          }
        });
      }
      for (std::thread& t : threads) t.join();
      done.WaitFor(kThreads * kPerThread);
    }
    std::set<int64_t> acked;
    int failed = 0;
    for (const auto& [id, result] : done.results()) {
      if (!result.first.ok()) {
        ++failed;
        continue;
      }
      EXPECT_TRUE(acked.insert(result.second).second) << "seq reused: " << result.second;
      Result<WalEntry> got = memory.Get(result.second);
      ASSERT_TRUE(got.ok()) << "acknowledged entry missing: id " << id;
      EXPECT_EQ(got->body, "body-" + std::to_string(id)) << "wrong seq for id " << id;
    }
    EXPECT_EQ(memory.size(), acked.size());
    if (!store.fired()) {
      EXPECT_EQ(failed, 0);
      EXPECT_GT(n, 0);
      break;
    }
    EXPECT_GT(failed, 0);
  }
}

// Throughput against the real stores, printed for the record (asserts only correctness).
void MeasureThroughput(WalStore* store, const char* name) {
  ASSERT_TRUE(store->Open().ok());
  constexpr int kThreads = 16;
  constexpr int kPerThread = 250;
  GroupCommitter committer(store, 100);
  Completions done;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        committer.Append(Entry(std::string(512, 'x')), done.Callback(t * kPerThread + i));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  done.WaitFor(kThreads * kPerThread);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& [id, result] : done.results()) ASSERT_TRUE(result.first.ok()) << id;
  const GroupCommitStats stats = committer.stats();
  std::cout << "[ throughput ] " << name << ": " << kThreads * kPerThread << " appends in "
            << seconds << " s = " << static_cast<int>(kThreads * kPerThread / seconds)
            << " appends/s, " << stats.batches << " batches (max " << stats.max_batch_size
            << ")\n";
}

TEST(GroupCommitThroughput, Sqlite) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("chroma-ha-gc-" + std::to_string(getpid()));
  {
    SqliteWalStore store((dir / "wal.sqlite3").string());
    MeasureThroughput(&store, "sqlite");
  }
  std::filesystem::remove_all(dir);
}

TEST(GroupCommitThroughput, PostgresWhenConfigured) {
  const char* url = TestDatabaseUrlOrNull();
  if (url == nullptr) return;  // no database configured (and none required)
  // A schema of its own, so nothing else using the database is touched.
  const std::string schema = "gc_throughput_" + std::to_string(getpid());
  const auto exec = [&](const std::string& sql) {
    pqxx::connection c(url);
    pqxx::work w(c);
    w.exec(sql);
    w.commit();
  };
  exec("CREATE SCHEMA " + schema);
  {
    const std::string base = url;
    PostgresWalStore store(base + (base.find('?') == std::string::npos ? "?" : "&") +
                           "options=-csearch_path%3D" + schema);
    MeasureThroughput(&store, "postgres");
  }
  exec("DROP SCHEMA " + schema + " CASCADE");
}

}  // namespace
}  // namespace chroma_ha::group_commit_test
