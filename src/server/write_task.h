// WriteTask: how a client waits for its write, which is carried to its end by a task of its own
// (WritePath::Carry). Both run on the same single-threaded executor (the connection's event-loop
// worker), so the fields need no lock; every change cancels `signal` to wake the waiter.
//
// The client's waits are bounded: while the write waits for its collection's turn (an earlier
// write of the same records is still unresolved), for REQUEST_TIMEOUT at most, then 503
// "outcome unknown" (the write stays in the WAL and is still carried to its end in WAL order);
// with a WAL shared by several processes, the check that no earlier write of the collection
// from another process is pending waits on the store for WAL_APPEND_TIMEOUT_MS at most (counted
// from the first unanswered store call), then 503 "outcome unknown" likewise;
// forwarding is bounded by the upstream deadlines; once an instance answered, the client gets
// that answer when the outcome is recorded or after WAL_APPEND_TIMEOUT_MS, whichever is first
// (the outcome is then recorded in the background, in order).
#ifndef CHROMA_HA_SERVER_WRITE_TASK_H_
#define CHROMA_HA_SERVER_WRITE_TASK_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "chroma_ha/http_message.h"
#include "server/request_handler.h"

namespace chroma_ha {

// 503 ServiceUnavailable with Retry-After: the write may be sent again.
inline HttpResponse RetryLater(const std::string& message) {
  HttpResponse r = JsonError(503, "ServiceUnavailable", message);
  r.headers.push_back({"retry-after", "1"});
  return r;
}

struct WriteTask {
  enum class Phase {
    kQueued,      // appended; waiting for the collection's turn
    kForwarding,  // its turn came: being sent to an instance
    kRecording,   // an instance answered (`answer`); the outcome is being recorded
    kDone,        // `answer` is final
  };

  explicit WriteTask(const boost::asio::any_io_executor& executor) : signal(executor) {}

  // Moves to `next` (with the client's answer, if it is known now) and wakes the waiter.
  void Advance(Phase next, std::optional<HttpResponse> reply = std::nullopt) {
    phase = next;
    if (reply) answer = std::move(reply);
    if (next == Phase::kRecording) recording_since = std::chrono::steady_clock::now();
    signal.cancel();
  }

  // While the write's turn depends on a store call: `asking` when one is made (the client waits
  // for the store until `timeout` after the first call the store has not answered yet), not
  // `asking` once the store answered.
  void AwaitingStore(bool asking, std::chrono::milliseconds timeout) {
    if (!asking) {
      store_deadline = std::chrono::steady_clock::time_point::max();
    } else if (store_deadline == std::chrono::steady_clock::time_point::max()) {
      store_deadline = std::chrono::steady_clock::now() + timeout;
      signal.cancel();
    }
  }

  Phase phase = Phase::kQueued;
  std::optional<HttpResponse> answer;
  std::chrono::steady_clock::time_point recording_since;
  std::chrono::steady_clock::time_point store_deadline =
      std::chrono::steady_clock::time_point::max();
  bool answered = false;  // the client has been answered (the task goes on alone)
  boost::asio::steady_timer signal;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_WRITE_TASK_H_
