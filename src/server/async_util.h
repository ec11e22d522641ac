// Small bridges between the event loop and blocking work.
#ifndef CHROMA_HA_SERVER_ASYNC_UTIL_H_
#define CHROMA_HA_SERVER_ASYNC_UTIL_H_

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>
#include <utility>

namespace chroma_ha {

// Runs the blocking callable `f` on `pool` (never on an event-loop thread) and resumes the
// awaiting coroutine on its own executor with f's result.
template <typename F, typename R = std::invoke_result_t<F>>
boost::asio::awaitable<R> RunBlocking(boost::asio::thread_pool& pool, F f) {
  auto result = co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                                      void(std::optional<R>)>(
      [&pool](auto handler, F fn) {
        boost::asio::post(pool, [handler = std::move(handler), fn = std::move(fn)]() mutable {
          std::optional<R> r(fn());
          auto ex = boost::asio::get_associated_executor(handler);
          boost::asio::dispatch(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      boost::asio::use_awaitable, std::move(f));
  co_return std::move(*result);
}

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_ASYNC_UTIL_H_
