#include "upstream/watchdog.h"

#include <utility>

namespace chroma_ha {

namespace asio = boost::asio;

struct Watchdog::State {
  State(asio::io_context::executor_type executor, std::function<void()> expiry)
      : timer(executor), on_expiry(std::move(expiry)) {}
  asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, asio::io_context::executor_type>
      timer;
  std::function<void()> on_expiry;                         // emptied by ~Watchdog
  Clock::time_point deadline = Clock::time_point::max();   // max: none
  Clock::time_point armed_for = Clock::time_point::max();  // max: the timer is not waiting
  bool expired = false;
  int arms = 0;
};

Watchdog::Watchdog(asio::io_context::executor_type executor, std::function<void()> on_expiry)
    : state_(std::make_shared<State>(executor, std::move(on_expiry))) {}

Watchdog::~Watchdog() {
  state_->on_expiry = nullptr;  // a firing already queued finds nothing to call
  state_->deadline = Clock::time_point::max();
  state_->timer.cancel();
}

void Watchdog::Set(Clock::duration timeout) {
  state_->expired = false;
  state_->deadline = Clock::now() + timeout;
  // A timer waiting for an earlier moment re-arms itself when it fires; only a later one (or
  // none) must be moved.
  if (state_->deadline < state_->armed_for) Arm(state_, state_->deadline);
}

void Watchdog::Clear() { state_->deadline = Clock::time_point::max(); }

bool Watchdog::expired() const { return state_->expired; }

int Watchdog::arms() const { return state_->arms; }

void Watchdog::Arm(const std::shared_ptr<State>& state, Clock::time_point at) {
  state->armed_for = at;
  ++state->arms;
  state->timer.expires_at(at);  // cancels a wait already armed (its handler sees it is stale)
  state->timer.async_wait([state, at](const boost::system::error_code&) {
    if (state->armed_for != at) return;  // re-armed since: a newer wait owns the timer
    state->armed_for = Clock::time_point::max();
    if (state->deadline == Clock::time_point::max() || !state->on_expiry) return;
    if (Clock::now() < state->deadline) {
      Arm(state, state->deadline);  // moved later since this wait was armed
      return;
    }
    state->expired = true;
    state->deadline = Clock::time_point::max();
    state->on_expiry();
  });
}

}  // namespace chroma_ha
