// Drives coroutines on a test's own io_context without sleeping: spawn, then run handlers until
// the result (or a condition) is there, with a generous deadline so a bug fails instead of hangs.
#ifndef CHROMA_HA_TESTS_UNIT_SERVER_CO_RUN_H_
#define CHROMA_HA_TESTS_UNIT_SERVER_CO_RUN_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <stdexcept>
#include <utility>

namespace chroma_ha::testing {

inline constexpr std::chrono::seconds kDeadline{20};

// Runs `ioc` (on this thread) until `done()` holds; false if the deadline passed first.
template <typename Pred>
bool RunUntil(boost::asio::io_context& ioc, Pred done) {
  auto guard = boost::asio::make_work_guard(ioc);
  ioc.restart();
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ioc.run_one_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Runs every handler that is ready now (no waiting for timers or other threads).
inline void RunReady(boost::asio::io_context& ioc) {
  ioc.restart();
  ioc.poll();
}

// Spawns `op` on `ioc` and returns its future (drive it with RunUntil / Await).
template <typename T>
std::future<T> Spawn(boost::asio::io_context& ioc, boost::asio::awaitable<T> op) {
  return boost::asio::co_spawn(ioc, std::move(op), boost::asio::use_future);
}

template <typename T>
bool Ready(const std::future<T>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// Runs `ioc` until `f` is ready and returns its value; throws on the deadline.
template <typename T>
T Await(boost::asio::io_context& ioc, std::future<T>& f) {
  if (!RunUntil(ioc, [&] { return Ready(f); })) throw std::runtime_error("coroutine hung");
  return f.get();
}

template <typename T>
T RunCo(boost::asio::io_context& ioc, boost::asio::awaitable<T> op) {
  auto f = Spawn(ioc, std::move(op));
  return Await(ioc, f);
}

}  // namespace chroma_ha::testing

#endif  // CHROMA_HA_TESTS_UNIT_SERVER_CO_RUN_H_
