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
//  - Bounded: with a queue limit, an Append that finds that many requests waiting is refused at
//    once (kUnavailable naming WAL_QUEUE_LIMIT), as is one after Stop().
//  - One entry's fault is its own: when a batch of several entries fails with a permanent
//    status (e.g. kInvalidArgument: text the store cannot hold), the writer writes them again one
//    at a time, so only the offending entry fails and every other gets OK and its seq.
//  - A retryable failure (kUnavailable) fails the whole batch: every request gets the store's
//    Status and seq 0; none of them was written.
//  - In doubt: when the store answers kTimeout (the commit's outcome is unknown), every request
//    of the batch gets kTimeout and the seq the store assigned to its entry (0 if none). So does
//    a batch that WAS written when the failpoint commit_ack_lost fires (with the real seqs).
//  - Every callback runs exactly once, except for a request cancelled while still queued
//    (Cancel() returned true): its callback never runs and its entry is never written.
//
// Thread-safety: Append, Cancel, SetMaxBatchSize and stats may be called from any thread.
// Callbacks run on the writer thread (or, for a refused Append, on the caller's), must not
// throw, should be quick (they delay the next batch) and must not call Stop(). Ownership:
// `store` is not owned and must outlive this object.
#ifndef CHROMA_HA_WAL_GROUP_COMMIT_H_
#define CHROMA_HA_WAL_GROUP_COMMIT_H_

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"

namespace chroma_ha {

// Upper bounds of the batch-size histogram buckets; a last bucket counts larger batches.
inline constexpr std::array<int64_t, 8> kBatchSizeBounds = {1, 2, 4, 8, 16, 32, 64, 128};

struct GroupCommitStats {
  int64_t batches = 0;           // store Append calls made
  int64_t entries = 0;           // entries durably written (successful batches)
  int64_t failed_batches = 0;    // store Append calls that failed
  int64_t failed_entries = 0;    // requests answered with an error
  int64_t last_batch_size = 0;   // size of the most recent batch
  int64_t max_batch_size = 0;    // largest batch so far
  int64_t queued = 0;            // requests waiting for the writer now
  int64_t rejected_full = 0;     // Appends refused because the queue held queue_limit requests
  int64_t cancelled = 0;         // requests removed from the queue by Cancel()
  int64_t isolated_batches = 0;  // failed batches written again entry by entry
  // size_histogram[i]: batches of size <= kBatchSizeBounds[i] (and above the previous bound);
  // the last element counts batches larger than every bound.
  std::array<int64_t, kBatchSizeBounds.size() + 1> size_histogram{};
};

class GroupCommitter {
 public:
  // Called once per request: OK with the assigned seq, or the error with seq 0.
  using Callback = std::function<void(Status status, int64_t seq)>;

  // Starts the writer thread. `max_batch_size` < 1 is treated as 1. `queue_limit`: the most
  // requests that may wait for the writer (WAL_QUEUE_LIMIT); 0 = unbounded.
  GroupCommitter(WalStore* store, int max_batch_size, int queue_limit = 0);
  ~GroupCommitter();  // Stop()
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Enqueues `entry` (its seq/created_ms are filled in by the store) and returns its request id
  // (> 0). Never blocks on I/O. Refused at once when the queue holds queue_limit requests
  // already, or after Stop(): then `done` has run on the calling thread with kUnavailable
  // before this returns 0.
  //
  // `body_back` (optional): once the store has the entry (written, failed or in doubt), and
  // before `done` runs, the entry's body is moved into *body_back, so the caller can forward the
  // same buffer it logged instead of a copy. It must stay valid until `done` runs (e.g. owned by
  // state the callback holds); it is left untouched when the request is refused or cancelled.
  uint64_t Append(WalEntry entry, Callback done, std::string* body_back = nullptr);

  // Removes request `id` if it is still queued (not yet taken into a batch): its entry is never
  // written and its callback never runs; returns true. Otherwise (being written, done, refused,
  // unknown) returns false, and the callback runs or ran as usual.
  bool Cancel(uint64_t id);

  // Changes the batch cap for the following batches (e.g. WAL_HIGH_VOLUME_BATCH_SIZE, or smaller
  // batches above the memory threshold).
  void SetMaxBatchSize(int max_batch_size);

  // Stops accepting, writes everything already queued (running its callbacks), joins the writer.
  // Idempotent. Must not be called from a callback.
  void Stop();

  GroupCommitStats stats() const;

 private:
  struct Request {
    uint64_t id = 0;
    WalEntry entry;
    Callback done;
    std::string* body_back = nullptr;
    // Hands the entry's body back (see Append), then runs the callback.
    void Finish(const Status& status, int64_t seq, WalEntry& written) {
      if (body_back != nullptr) *body_back = std::move(written.body);
      done(status, seq);
    }
  };

  void Run();
  // Writes one batch and runs its callbacks.
  void Commit(std::vector<Request>& batch);
  // One store Append, with the failpoints around it; never throws.
  Status StoreAppend(std::vector<WalEntry>* entries);
  // Writes the requests of a batch that failed permanently one at a time.
  void Isolate(std::vector<Request>& batch, std::vector<WalEntry>& entries);
  void Record(int64_t size, bool ok, int64_t failed_entries);

  WalStore* const store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  int max_batch_size_;
  const size_t queue_limit_;  // 0: unbounded
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  GroupCommitStats stats_;
  std::thread writer_;  // last: starts after everything above is initialised
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_GROUP_COMMIT_H_
