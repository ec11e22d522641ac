#include "wal/group_commit.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "failpoints/failpoints.h"

namespace chroma_ha {

GroupCommitter::GroupCommitter(WalStore* store, int max_batch_size)
    : store_(store), max_batch_size_(std::max(1, max_batch_size)), writer_([this] { Run(); }) {}

GroupCommitter::~GroupCommitter() { Stop(); }

void GroupCommitter::Append(WalEntry entry, Callback done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back({std::move(entry), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(Status::Unavailable("WAL writer is stopped"), 0);
}

void GroupCommitter::SetMaxBatchSize(int max_batch_size) {
  std::lock_guard<std::mutex> lock(mu_);
  max_batch_size_ = std::max(1, max_batch_size);
}

void GroupCommitter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
}

GroupCommitStats GroupCommitter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  GroupCommitStats out = stats_;
  out.queued = static_cast<int64_t>(queue_.size());
  return out;
}

void GroupCommitter::Record(int64_t size, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.batches;
  (ok ? stats_.entries : stats_.failed_entries) += size;
  if (!ok) ++stats_.failed_batches;
  stats_.last_batch_size = size;
  stats_.max_batch_size = std::max(stats_.max_batch_size, size);
  size_t bucket = 0;
  while (bucket < kBatchSizeBounds.size() && size > kBatchSizeBounds[bucket]) ++bucket;
  ++stats_.size_histogram[bucket];
}

void GroupCommitter::Run() {
  std::vector<Request> batch;
  std::vector<WalEntry> entries;
  for (;;) {
    batch.clear();
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      const size_t n = std::min(queue_.size(), static_cast<size_t>(max_batch_size_));
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    entries.clear();
    for (Request& r : batch) entries.push_back(std::move(r.entry));
    const Status s = failpoints::Hit(failpoints::Point::kDuringGroupCommit) ? Status::Unavailable("failpoint") : store_->Append(&entries);
    Record(static_cast<int64_t>(batch.size()), s.ok());
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(s, s.ok() ? entries[i].seq : 0);
  }
}

}  // namespace chroma_ha
