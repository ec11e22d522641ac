// SocketWatchdog: puts a deadline on a blocking call that waits on a socket it does not control
// (libpq waits for the server's answer with no timeout of its own: a silent server, e.g. one
// frozen by SIGSTOP or behind a partition that still ACKs TCP, would block it forever).
//
// Arm(fd, deadline) before the call; if Disarm() has not been called by `deadline`, the
// watchdog's thread calls shutdown(fd, SHUT_RDWR), which makes the blocked call fail at once
// (the peer "closed the connection"). The socket is not closed, so its descriptor cannot be
// reused under the watchdog; after a firing it is unusable and its owner must drop it.
//
// One call at a time: Arm replaces an earlier arming. Thread-safe. After Disarm() returns, the
// watchdog will not touch the descriptor again, so the owner may close it.
#ifndef CHROMA_HA_WAL_SOCKET_WATCHDOG_H_
#define CHROMA_HA_WAL_SOCKET_WATCHDOG_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace chroma_ha {

class SocketWatchdog {
 public:
  using Clock = std::chrono::steady_clock;

  SocketWatchdog();   // starts the thread
  ~SocketWatchdog();  // stops and joins it (nothing armed is shut down)
  SocketWatchdog(const SocketWatchdog&) = delete;
  SocketWatchdog& operator=(const SocketWatchdog&) = delete;

  void Arm(int fd, Clock::time_point deadline);
  // Disarms; returns true if the watchdog shut the socket down since the last Arm.
  bool Disarm();
  int64_t fired_count() const;  // firings since construction

  // Arms on construction, disarms on destruction (or at Disarm(), whichever comes first).
  class Armed {
   public:
    Armed(SocketWatchdog& watchdog, int fd, Clock::time_point deadline);
    ~Armed();
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;
    bool Disarm();  // idempotent; returns whether it fired

   private:
    SocketWatchdog& watchdog_;
    bool armed_ = true;
    bool fired_ = false;
  };

 private:
  void Run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int fd_ = -1;  // -1: not armed
  Clock::time_point deadline_{};
  bool fired_ = false;
  int64_t fired_count_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_SOCKET_WATCHDOG_H_
