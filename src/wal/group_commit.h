// GroupCommitter: turns many concurrent single-entry appends into few durable store writes.
//
// Callers enqueue one WalEntry with a completion callback and return at once (no blocking).
// A dedicated writer thread takes everything queued so far (up to the max batch size) and
// writes it with ONE WalStore::Append (one transaction, one fsync). Then it runs the batch's
// callbacks, in seq order, on the writer thread.
//
// Guarantees:
//  - FIFO: if Append(A) returns before Append(B) is called (e.g. the caller holds its own ordering
//    lock around both), then seq(A) < seq(B).
//  - All or nothing per batch: if the store fails, every request of that batch gets the store's
//    Status and seq 0; none of them was acknowledged as written.
//  - Every callback runs exactly once: with the outcome, or with kUnavailable if Append is
//    called after Stop().
//
// Thread-safety: Append, SetMaxBatchSize and stats may be called from any thread. Callbacks run on
// the writer thread, must not throw, should be quick (they delay the next batch) and must not call
// Stop(). Ownership: `store` is not owned and must outlive this object.
#ifndef CHROMA_HA_WAL_GROUP_COMMIT_H_
#define CHROMA_HA_WAL_GROUP_COMMIT_H_

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"

namespace chroma_ha {

// Upper bounds of the batch-size histogram buckets; a last bucket counts larger batches.
inline constexpr std::array<int64_t, 8> kBatchSizeBounds = {1, 2, 4, 8, 16, 32, 64, 128};

struct GroupCommitStats {
  int64_t batches = 0;          // store Append calls made
  int64_t entries = 0;          // entries durably written (successful batches)
  int64_t failed_batches = 0;   // store Append calls that failed
  int64_t failed_entries = 0;   // requests answered with an error
  int64_t last_batch_size = 0;  // size of the most recent batch
  int64_t max_batch_size = 0;   // largest batch so far
  int64_t queued = 0;           // requests waiting for the writer now
  // size_histogram[i]: batches of size <= kBatchSizeBounds[i] (and above the previous bound);
  // the last element counts batches larger than every bound.
  std::array<int64_t, kBatchSizeBounds.size() + 1> size_histogram{};
};

class GroupCommitter {
 public:
  // Called once per request: OK with the assigned seq, or the error with seq 0.
  using Callback = std::function<void(Status status, int64_t seq)>;

  // Starts the writer thread. `max_batch_size` < 1 is treated as 1.
  GroupCommitter(WalStore* store, int max_batch_size);
  ~GroupCommitter();  // Stop()
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Enqueues `entry` (its seq/created_ms are filled in by the store). Never blocks on I/O.
  // After Stop(), `done` runs at once on the calling thread with kUnavailable.
  void Append(WalEntry entry, Callback done);

  // Changes the batch cap for the following batches (e.g. WAL_HIGH_VOLUME_BATCH_SIZE, or smaller
  // batches above the memory threshold).
  void SetMaxBatchSize(int max_batch_size);

  // Stops accepting, writes everything already queued (running its callbacks), joins the writer.
  // Idempotent. Must not be called from a callback.
  void Stop();

  GroupCommitStats stats() const;

 private:
  struct Request {
    WalEntry entry;
    Callback done;
  };

  void Run();
  void Record(int64_t size, bool ok);

  WalStore* const store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  int max_batch_size_;
  bool stopping_ = false;
  GroupCommitStats stats_;
  std::thread writer_;  // last: starts after everything above is initialised
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_GROUP_COMMIT_H_
