#include "sync/replay_lanes.h"

#include <algorithm>

namespace chroma_ha {

ReplayLanes::ReplayLanes(int limit) : limit_(std::max(1, limit)) {}

ReplayLanes::~ReplayLanes() {
  for (auto& [key, thread] : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void ReplayLanes::Launch(size_t key, Job job) {
  threads_.emplace(key, std::thread([this, key, job = std::move(job)] {
                     ReplayOutcome outcome = job();
                     {
                       std::lock_guard<std::mutex> lock(mu_);
                       done_.emplace_back(key, std::move(outcome));
                     }
                     done_cv_.notify_one();
                   }));
}

std::pair<size_t, ReplayOutcome> ReplayLanes::Next() {
  std::pair<size_t, ReplayOutcome> next;
  {
    std::unique_lock<std::mutex> lock(mu_);
    // No deadline here: every job is one Replayer::Apply, whose requests have their own.
    done_cv_.wait(lock, [this] { return !done_.empty(); });
    next = std::move(done_.front());
    done_.pop_front();
  }
  auto it = threads_.find(next.first);
  if (it != threads_.end()) {
    it->second.join();
    threads_.erase(it);
  }
  return next;
}

}  // namespace chroma_ha
