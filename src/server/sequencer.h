// Per-key ordering for writes (DESIGN.md §3 step 3): writes to one collection are forwarded one
// at a time, in the order their WAL entries were appended. A writer takes a ticket (in the same
// critical section as its WAL append is queued, so ticket order == seq order), waits for its
// turn, forwards, and finishes the turn. Different keys never wait for each other.
#ifndef CHROMA_HA_SERVER_SEQUENCER_H_
#define CHROMA_HA_SERVER_SEQUENCER_H_

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace chroma_ha {

class Sequencer {
 public:
  // Takes the next ticket for `key` and runs `under_lock` (e.g. queueing the WAL append) while
  // no other writer of any key can take a ticket. Returns the ticket.
  uint64_t Take(const std::string& key, const std::function<void(uint64_t ticket)>& under_lock);
  // Completes when every earlier ticket of `key` has called Done.
  boost::asio::awaitable<void> WaitTurn(const std::string& key, uint64_t ticket);
  // Ends `ticket`'s turn. Must be called exactly once per ticket, after WaitTurn completed for
  // it (also when the writer gives up, e.g. its append failed).
  void Done(const std::string& key, uint64_t ticket);
  // Keys with tickets outstanding (diagnostics).
  std::size_t active_keys() const;

 private:
  struct Line {
    uint64_t next = 0;    // next ticket to hand out
    uint64_t served = 0;  // tickets below this are done
    std::map<uint64_t, std::function<void()>> waiting;  // ticket -> wake-up
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Line> lines_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_SEQUENCER_H_
