#include "server/sequencer.h"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace chroma_ha {

uint64_t Sequencer::Take(const std::string& key,
                         const std::function<void(uint64_t ticket)>& under_lock) {
  std::lock_guard lock(mu_);
  uint64_t ticket = lines_[key].next++;
  if (under_lock) under_lock(ticket);
  return ticket;
}

boost::asio::awaitable<void> Sequencer::WaitTurn(const std::string& key, uint64_t ticket) {
  co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void()>(
      [this, &key, ticket](auto handler) {
        std::unique_lock lock(mu_);
        Line& line = lines_[key];
        if (line.served == ticket) {
          lock.unlock();
          auto ex = boost::asio::get_associated_executor(handler);
          boost::asio::post(ex, std::move(handler));
          return;
        }
        // Wake-up: resume the waiter on its own executor.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        line.waiting.emplace(ticket, [h] {
          auto ex = boost::asio::get_associated_executor(*h);
          boost::asio::post(ex, [h]() mutable { std::move (*h)(); });
        });
      },
      boost::asio::use_awaitable);
}

void Sequencer::Done(const std::string& key, uint64_t ticket) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    auto it = lines_.find(key);
    if (it == lines_.end()) return;
    Line& line = it->second;
    // Every ticket waits for its turn before finishing, so tickets finish in order.
    line.served = ticket + 1;
    auto next = line.waiting.find(line.served);
    if (next != line.waiting.end()) {
      wake = std::move(next->second);
      line.waiting.erase(next);
    } else if (line.waiting.empty() && line.served == line.next) {
      lines_.erase(it);  // idle: forget the key
    }
  }
  if (wake) wake();
}

std::size_t Sequencer::active_keys() const {
  std::lock_guard lock(mu_);
  return lines_.size();
}

}  // namespace chroma_ha
