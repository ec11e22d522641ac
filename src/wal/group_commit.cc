#include "wal/group_commit.h"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "failpoints/failpoints.h"

namespace chroma_ha {
namespace {

// The seq a request is answered with: the stored one when the entry was written or may have
// been (in doubt), 0 when it was not.
int64_t SeqFor(const Status& s, const WalEntry& e) {
  return s.ok() || s.code() == StatusCode::kTimeout ? e.seq : 0;
}

}  // namespace

GroupCommitter::GroupCommitter(WalStore* store, int max_batch_size, int queue_limit)
    : store_(store),
      max_batch_size_(std::max(1, max_batch_size)),
      queue_limit_(static_cast<size_t>(std::max(0, queue_limit))),
      writer_([this] { Run(); }) {}

GroupCommitter::~GroupCommitter() { Stop(); }

uint64_t GroupCommitter::Append(WalEntry entry, Callback done, std::string* body_back) {
  Status refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      refused = Status::Unavailable("WAL writer is stopped");
    } else if (queue_limit_ > 0 && queue_.size() >= queue_limit_) {
      ++stats_.rejected_full;
      refused = Status::Unavailable(
          "the WAL queue is full: " + std::to_string(queue_.size()) +
          " appends are waiting (WAL_QUEUE_LIMIT=" + std::to_string(queue_limit_) + ")");
    } else {
      const uint64_t id = next_id_++;
      queue_.push_back({id, std::move(entry), std::move(done), body_back});
      cv_.notify_one();
      return id;
    }
  }
  done(refused, 0);
  return 0;
}

bool GroupCommitter::Cancel(uint64_t id) {
  Callback dropped;  // destroyed after the lock is released
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Ids are handed out in queue order, so the queue is sorted by id.
    auto it = std::lower_bound(queue_.begin(), queue_.end(), id,
                               [](const Request& r, uint64_t v) { return r.id < v; });
    if (it == queue_.end() || it->id != id) return false;
    dropped = std::move(it->done);
    queue_.erase(it);
    ++stats_.cancelled;
  }
  return true;
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

void GroupCommitter::Record(int64_t size, bool ok, int64_t failed_entries) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.batches;
  if (ok) stats_.entries += size;
  stats_.failed_entries += failed_entries;
  if (!ok) ++stats_.failed_batches;
  stats_.last_batch_size = size;
  stats_.max_batch_size = std::max(stats_.max_batch_size, size);
  size_t bucket = 0;
  while (bucket < kBatchSizeBounds.size() && size > kBatchSizeBounds[bucket]) ++bucket;
  ++stats_.size_histogram[bucket];
}

// The failpoints' `throw` action (or a store breaking its no-throw contract) must not end the
// writer thread: an exception before the store call means nothing was written (kInternal), one
// from or after it leaves the outcome unknown (kTimeout).
Status GroupCommitter::StoreAppend(std::vector<WalEntry>* entries) {
  for (WalEntry& e : *entries) e.seq = 0;
  try {
    if (failpoints::Hit(failpoints::Point::kDuringGroupCommit)) {
      return Status::Unavailable("failpoint: WAL append failed");
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("WAL append not tried: ") + e.what());
  }
  Status s;
  try {
    s = store_->Append(entries);
    if (s.ok() && failpoints::Hit(failpoints::Point::kCommitAckLost)) {
      return Status::Timeout("failpoint: commit acknowledgement lost");
    }
  } catch (const std::exception& e) {
    return Status::Timeout(std::string("WAL append outcome unknown: ") + e.what());
  } catch (...) {
    return Status::Timeout("WAL append outcome unknown: unknown exception");
  }
  return s;
}

void GroupCommitter::Isolate(std::vector<Request>& batch, std::vector<WalEntry>& entries) {
  for (size_t i = 0; i < batch.size(); ++i) {
    std::vector<WalEntry> one;
    one.push_back(std::move(entries[i]));
    const Status s = StoreAppend(&one);
    Record(1, s.ok(), s.ok() ? 0 : 1);
    batch[i].Finish(s, SeqFor(s, one[0]), one[0]);
  }
}

void GroupCommitter::Commit(std::vector<Request>& batch) {
  std::vector<WalEntry> entries;
  entries.reserve(batch.size());
  for (Request& r : batch) entries.push_back(std::move(r.entry));
  const Status s = StoreAppend(&entries);
  const auto size = static_cast<int64_t>(batch.size());
  if (!s.ok() && !s.retryable() && batch.size() > 1) {
    // A permanent error may be one entry's fault (e.g. text the store cannot hold): nothing
    // was written, so write them one by one and let only the offending one fail.
    Record(size, false, 0);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.isolated_batches;
    }
    Isolate(batch, entries);
    return;
  }
  Record(size, s.ok(), s.ok() ? 0 : size);
  for (size_t i = 0; i < batch.size(); ++i) batch[i].Finish(s, SeqFor(s, entries[i]), entries[i]);
}

void GroupCommitter::Run() {
  std::vector<Request> batch;
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
    Commit(batch);
  }
}

}  // namespace chroma_ha
