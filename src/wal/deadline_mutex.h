// DeadlineMutex: a mutex whose lock can wait with a deadline (Lockable, plus try_lock_until, so
// std::unique_lock and std::lock_guard work with it), built on std::mutex and a condition variable.
//
// std::timed_mutex would do, but libstdc++ 12 implements its try_lock_until with
// pthread_mutex_clocklock, which GCC 12's ThreadSanitizer does not intercept: TSan then sees
// every unlock of a lock taken that way as "unlock of an unlocked mutex" (and misses real races).
// Waiting on a condition variable (pthread_cond_clockwait) is intercepted.
#ifndef CHROMA_HA_WAL_DEADLINE_MUTEX_H_
#define CHROMA_HA_WAL_DEADLINE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace chroma_ha {

class DeadlineMutex {
 public:
  void lock() {
    std::unique_lock guard(mu_);
    free_.wait(guard, [this] { return !held_; });
    held_ = true;
  }
  bool try_lock() {
    std::lock_guard guard(mu_);
    if (held_) return false;
    held_ = true;
    return true;
  }
  template <typename Clock, typename Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    std::unique_lock guard(mu_);
    if (!free_.wait_until(guard, deadline, [this] { return !held_; })) return false;
    held_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard guard(mu_);
      held_ = false;
    }
    free_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable free_;
  bool held_ = false;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_DEADLINE_MUTEX_H_
