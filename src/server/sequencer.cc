#include "server/sequencer.h"

#include <algorithm>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace chroma_ha {

Footprint MakeFootprint(std::vector<std::string> ids) {
  if (ids.empty()) return nullptr;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return std::make_shared<const std::vector<std::string>>(std::move(ids));
}

bool Sequencer::Overlap(const Footprint& a, const Footprint& b) {
  if (!a || !b) return true;
  auto i = a->begin();
  auto j = b->begin();
  while (i != a->end() && j != b->end()) {
    if (*i == *j) return true;
    if (*i < *j) {
      ++i;
    } else {
      ++j;
    }
  }
  return false;
}

uint64_t Sequencer::Take(const std::string& key, Footprint footprint,
                         const std::function<void(uint64_t ticket)>& under_lock) {
  std::lock_guard lock(mu_);
  Line& line = lines_[key];
  const uint64_t ticket = line.next++;
  std::size_t blockers = 0;
  for (const auto& [t, open] : line.open) blockers += Overlap(open.footprint, footprint) ? 1 : 0;
  Ticket& self = line.open[ticket];
  self.footprint = std::move(footprint);
  self.blockers = blockers;
  if (under_lock) under_lock(ticket);
  return ticket;
}

boost::asio::awaitable<void> Sequencer::WaitTurn(const std::string& key, uint64_t ticket) {
  co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void()>(
      [this, &key, ticket](auto handler) {
        std::unique_lock lock(mu_);
        Ticket* self = nullptr;  // set when the turn has not come yet
        if (auto line = lines_.find(key); line != lines_.end()) {
          auto t = line->second.open.find(ticket);
          if (t != line->second.open.end() && t->second.blockers > 0) self = &t->second;
        }
        if (self == nullptr) {
          lock.unlock();
          auto ex = boost::asio::get_associated_executor(handler);
          boost::asio::post(ex, std::move(handler));
          return;
        }
        // Wake-up: resume the waiter on its own executor.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        self->wake = [h] {
          auto ex = boost::asio::get_associated_executor(*h);
          boost::asio::post(ex, [h]() mutable { std::move (*h)(); });
        };
      },
      boost::asio::use_awaitable);
}

void Sequencer::Done(const std::string& key, uint64_t ticket) {
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard lock(mu_);
    auto it = lines_.find(key);
    if (it == lines_.end()) return;
    Line& line = it->second;
    auto self = line.open.find(ticket);
    if (self == line.open.end()) return;
    const Footprint footprint = std::move(self->second.footprint);
    // Only later tickets can have counted this one as a blocker.
    for (auto later = line.open.erase(self); later != line.open.end(); ++later) {
      Ticket& waiting = later->second;
      if (!Overlap(footprint, waiting.footprint)) continue;
      if (--waiting.blockers == 0 && waiting.wake) {
        wakes.push_back(std::move(waiting.wake));
        waiting.wake = nullptr;
      }
    }
    if (line.open.empty()) lines_.erase(it);  // idle: forget the key
  }
  for (auto& wake : wakes) wake();
}

std::size_t Sequencer::active_keys() const {
  std::lock_guard lock(mu_);
  return lines_.size();
}

}  // namespace chroma_ha
