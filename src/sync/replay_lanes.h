// Replay requests in flight at once (docs/design.md "Replay", issue 14 item 4): the sync worker
// hands a request to a lane, goes on planning and launching others (of other collections), and
// takes the answers back in the order they finish. Each job runs on a thread of its own (jobs
// are network round trips of milliseconds; a thread per job costs microseconds) and only
// computes a value: everything that touches the WAL store stays on the worker's thread.
//
// Bound: at most `limit` jobs at once (Launch requires !Full()). The destructor waits for every
// job still running (each is bounded by its client's deadline), so a lane never outlives the
// page its job points into: keep the lanes inside the scope that owns what the jobs use.
//
// Thread-safety: one thread (the worker's) calls every method; jobs run on their own threads.
#ifndef CHROMA_HA_SYNC_REPLAY_LANES_H_
#define CHROMA_HA_SYNC_REPLAY_LANES_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "sync/replay.h"

namespace chroma_ha {

class ReplayLanes {
 public:
  using Job = std::function<ReplayOutcome()>;

  explicit ReplayLanes(int limit);
  ~ReplayLanes();  // waits for the jobs still running; their outcomes are dropped
  ReplayLanes(const ReplayLanes&) = delete;
  ReplayLanes& operator=(const ReplayLanes&) = delete;

  size_t running() const { return threads_.size(); }
  bool Full() const { return static_cast<int>(threads_.size()) >= limit_; }

  // Starts `job` under `key` (the caller's name for it; unique among running jobs).
  void Launch(size_t key, Job job);
  // Waits for the next job to finish and returns its key and outcome. Requires running() > 0.
  std::pair<size_t, ReplayOutcome> Next();

 private:
  const int limit_;
  std::map<size_t, std::thread> threads_;  // running or finished but not yet taken by Next()
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::deque<std::pair<size_t, ReplayOutcome>> done_;  // guarded by mu_
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_REPLAY_LANES_H_
