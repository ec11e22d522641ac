// A deadline for the I/O of one connection, kept on one lazily re-armed timer.
//
// Beast's basic_stream arms and cancels a timer around every read and write: on the request path
// that is a timer-queue insert, a removal and a cancelled completion handler per operation, four
// of each per proxied request upstream. A Watchdog instead keeps its timer armed across requests:
// Set() with a deadline later than the one armed costs no timer operation (when the timer fires
// early it re-arms itself for the deadline set since), only an earlier deadline re-arms it.
// When the deadline passes while set, `on_expiry` runs on the timer's executor (e.g. to cancel
// the connection's socket) and expired() turns true until the next Set().
//
//   Watchdog dog(executor, [&socket] { socket.cancel(); });
//   dog.Set(timeout);   // before the request is written
//   ... co_await the write and the read ...
//   if (ec == operation_aborted && dog.expired()) -> timed out, else cancelled by the caller
//   dog.Clear();        // idle: the next firing finds nothing to do and stops
//
// Single-threaded: every call, and the destruction, on the executor's thread. The destructor
// cancels the timer; `on_expiry` never runs after it.
#ifndef CHROMA_HA_UPSTREAM_WATCHDOG_H_
#define CHROMA_HA_UPSTREAM_WATCHDOG_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace chroma_ha {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  Watchdog(boost::asio::io_context::executor_type executor, std::function<void()> on_expiry);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // The deadline is now + `timeout`; clears expired().
  void Set(Clock::duration timeout);
  // No deadline.
  void Clear();
  // The deadline passed while set (and `on_expiry` ran) since the last Set().
  bool expired() const;
  // Timer arms so far (for tests: a run of Set()s with later deadlines arms it once).
  int arms() const;

 private:
  struct State;
  static void Arm(const std::shared_ptr<State>& state, Clock::time_point at);
  std::shared_ptr<State> state_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_WATCHDOG_H_
