#include "server/fleet_order.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "server/async_util.h"

namespace chroma_ha {

FleetOrder::FleetOrder(WalStore& store, boost::asio::thread_pool& store_thread,
                       std::function<bool(int64_t)> mine)
    : store_(store), store_thread_(store_thread), mine_(std::move(mine)) {}

boost::asio::awaitable<void> FleetOrder::WaitForEarlier(std::string tenant, std::string database,
                                                        std::string collection, int64_t seq,
                                                        Observer observe) {
  ++stats_.checks;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  auto delay = std::chrono::milliseconds(2);
  for (int polls = 0;; ++polls) {
    if (observe) observe(Step::kAsking);
    Result<std::vector<int64_t>> earlier = co_await RunBlocking(store_thread_, [&] {
      return store_.PendingBefore(tenant, database, collection, seq);
    });
    if (earlier.ok()) {
      if (observe) observe(Step::kAnswered);
      const bool foreign = std::any_of(earlier->begin(), earlier->end(),
                                       [&](int64_t s) { return !mine_(s); });
      if (!foreign) co_return;
      if (polls == 0) ++stats_.waits;
    } else {
      ++stats_.errors;
      if (polls == 0) {
        spdlog::warn("WAL entry {}: cannot check the earlier writes of its collection: {}; "
                     "retrying before it is forwarded",
                     seq, earlier.status().ToString());
      }
    }
    ++stats_.polls;
    timer.expires_after(delay);
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    delay = std::min(delay * 2, std::chrono::milliseconds(20));
  }
}

}  // namespace chroma_ha
