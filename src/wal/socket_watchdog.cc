#include "wal/socket_watchdog.h"

#include <sys/socket.h>

namespace chroma_ha {

SocketWatchdog::SocketWatchdog() : thread_([this] { Run(); }) {}

SocketWatchdog::~SocketWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  thread_.join();
}

void SocketWatchdog::Arm(int fd, Clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  fd_ = fd;
  deadline_ = deadline;
  fired_ = false;
  cv_.notify_all();
}

bool SocketWatchdog::Disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  fd_ = -1;
  const bool fired = fired_;
  fired_ = false;
  return fired;
}

int64_t SocketWatchdog::fired_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_count_;
}

void SocketWatchdog::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (fd_ < 0) {
      cv_.wait(lock);
      continue;
    }
    if (Clock::now() < deadline_) {
      cv_.wait_until(lock, deadline_);
      continue;  // re-check: disarmed, re-armed or stopped meanwhile
    }
    // Still armed past the deadline: cut the connection under the lock, so Disarm() (and the
    // owner's close) cannot happen between the check and the shutdown.
    ::shutdown(fd_, SHUT_RDWR);
    fd_ = -1;
    fired_ = true;
    ++fired_count_;
  }
}

SocketWatchdog::Armed::Armed(SocketWatchdog& watchdog, int fd, Clock::time_point deadline)
    : watchdog_(watchdog) {
  watchdog_.Arm(fd, deadline);
}

SocketWatchdog::Armed::~Armed() { Disarm(); }

bool SocketWatchdog::Armed::Disarm() {
  if (armed_) {
    fired_ = watchdog_.Disarm();
    armed_ = false;
  }
  return fired_;
}

}  // namespace chroma_ha
