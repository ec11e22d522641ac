// Per-key ordering for writes (DESIGN.md §3 step 3): writes to one collection are forwarded in
// the order their WAL entries were appended, as far as they conflict. A writer takes a ticket
// (in the same critical section as its WAL append is queued, so ticket order == seq order)
// together with its footprint: the record ids it writes, or the whole key. It waits for its
// turn, forwards, and finishes the turn. A turn comes once every earlier unfinished ticket of
// the key is disjoint from it: two writes of different ids commute (applied in either order
// they leave the same records), so they may be in flight together, while a write that shares an
// id with an earlier one, or covers the whole key, waits for it. Different keys never wait for
// each other.
//
// Cost: each ticket counts, when taken, the earlier open tickets of its key that it overlaps
// (its blockers); Done visits only the later tickets of the same key. Both are O(open tickets
// of the key), never a scan of every waiter against every other.
//
// Thread-safety: every member may be called from any thread. Wake-ups are posted to the waiter's
// own executor.
#ifndef CHROMA_HA_SERVER_SEQUENCER_H_
#define CHROMA_HA_SERVER_SEQUENCER_H_

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace chroma_ha {

// The record ids a write touches, sorted and unique; a null footprint is the whole key.
using Footprint = std::shared_ptr<const std::vector<std::string>>;

// A footprint for `ids` (sorted, duplicates removed); null when `ids` is empty.
Footprint MakeFootprint(std::vector<std::string> ids);

class Sequencer {
 public:
  // Takes the next ticket for `key` with `footprint` (null: the whole key) and runs `under_lock`
  // (e.g. queueing the WAL append) while no other writer of any key can take a ticket. Returns
  // the ticket.
  uint64_t Take(const std::string& key, Footprint footprint,
                const std::function<void(uint64_t ticket)>& under_lock);
  // The whole key: turns strictly in ticket order.
  uint64_t Take(const std::string& key, const std::function<void(uint64_t ticket)>& under_lock) {
    return Take(key, nullptr, under_lock);
  }
  // Completes when every earlier ticket of `key` that overlaps this one has called Done.
  boost::asio::awaitable<void> WaitTurn(const std::string& key, uint64_t ticket);
  // Ends `ticket`'s turn, or gives it up before it came (a writer whose append failed): later
  // tickets no longer wait for it. Must be called exactly once per ticket; use Turn below.
  void Done(const std::string& key, uint64_t ticket);
  // Keys with tickets outstanding (diagnostics).
  std::size_t active_keys() const;

 private:
  struct Ticket {
    Footprint footprint;
    std::size_t blockers = 0;    // earlier open tickets of the key that overlap this one
    std::function<void()> wake;  // set while its writer waits
  };
  struct Line {
    uint64_t next = 0;                 // next ticket to hand out
    std::map<uint64_t, Ticket> open;   // taken, not done
  };
  static bool Overlap(const Footprint& a, const Footprint& b);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Line> lines_;
};

// A ticket's turn, ended (Sequencer::Done) exactly once by whoever holds it last: by Release(),
// or when it is destroyed (an early co_return, a throw, a coroutine frame dropped at shutdown,
// which may come after the sequencer's owner is gone: the turn shares the sequencer).
// Movable, not copyable.
class Turn {
 public:
  Turn() = default;
  Turn(std::shared_ptr<Sequencer> sequencer, std::string key, uint64_t ticket)
      : sequencer_(std::move(sequencer)), key_(std::move(key)), ticket_(ticket) {}
  Turn(Turn&& other) noexcept { *this = std::move(other); }
  Turn& operator=(Turn&& other) noexcept {
    if (this != &other) {
      Release();
      sequencer_ = std::move(other.sequencer_);
      key_ = std::move(other.key_);
      ticket_ = other.ticket_;
    }
    return *this;
  }
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;
  ~Turn() { Release(); }

  bool held() const { return sequencer_ != nullptr; }
  uint64_t ticket() const { return ticket_; }
  const std::string& key() const { return key_; }
  // Waits for the turn (see Sequencer::WaitTurn).
  boost::asio::awaitable<void> Wait() { return sequencer_->WaitTurn(key_, ticket_); }
  // Ends the turn now (idempotent).
  void Release() {
    if (sequencer_ != nullptr) std::exchange(sequencer_, nullptr)->Done(key_, ticket_);
  }

 private:
  std::shared_ptr<Sequencer> sequencer_;
  std::string key_;
  uint64_t ticket_ = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_SEQUENCER_H_
