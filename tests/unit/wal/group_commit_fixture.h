// Helpers of the group committer's tests (group_commit*_test.cc): entries, a completion
// collector to wait on (no sleeping) and a gate that holds the writer thread so that requests
// pile up behind it.
#ifndef CHROMA_HA_TESTS_UNIT_WAL_GROUP_COMMIT_FIXTURE_H_
#define CHROMA_HA_TESTS_UNIT_WAL_GROUP_COMMIT_FIXTURE_H_

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fakes/fault_store.h"
#include "fakes/memory_store.h"
#include "wal/group_commit.h"

namespace chroma_ha::group_commit_test {

inline WalEntry Entry(const std::string& body) {
  WalEntry e;
  e.tenant = "t";
  e.database = "d";
  e.collection = "c";
  e.kind = "add";
  e.method = "POST";
  e.path = "/x";
  e.body = body;
  return e;
}

// Collects completions and lets a test wait for N of them (no sleeping).
class Completions {
 public:
  GroupCommitter::Callback Callback(int id) {
    return [this, id](Status s, int64_t seq) {
      std::lock_guard<std::mutex> lock(mu_);
      results_[id] = {s, seq};
      order_.push_back(seq);
      cv_.notify_all();
    };
  }
  void WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return results_.size() >= n; });
  }
  std::map<int, std::pair<Status, int64_t>> results() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_;
  }
  std::vector<int64_t> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, std::pair<Status, int64_t>> results_;
  std::vector<int64_t> order_;  // seqs in callback order
};

// A gate the first callback waits on, so that requests pile up behind the writer.
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

class GroupCommitTest : public ::testing::Test {
 protected:
  // Submits one request whose callback holds the writer until gate_.Open(); returns once the
  // writer is held.
  uint64_t HoldWriter(GroupCommitter& committer) {
    const uint64_t id = committer.Append(Entry("hold"), [this](Status s, int64_t) {
      EXPECT_TRUE(s.ok()) << s.ToString();
      gate_.Wait();
    });
    gate_.WaitEntered();
    return id;
  }

  MemoryWalStore memory_;
  FaultStore store_{&memory_};
  Gate gate_;
};

}  // namespace chroma_ha::group_commit_test

#endif  // CHROMA_HA_TESTS_UNIT_WAL_GROUP_COMMIT_FIXTURE_H_
