// Watchdog: one lazily re-armed timer per connection (upstream/watchdog.h).
#include "upstream/watchdog.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Runs `ioc` until `done()` or 5 s.
template <typename F>
bool RunUntil(boost::asio::io_context& ioc, F done) {
  const auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (!done() && steady_clock::now() < deadline) {
    ioc.restart();
    ioc.run_for(milliseconds(5));
  }
  return done();
}

TEST(WatchdogTest, LaterDeadlinesCostNoTimerOperation) {
  boost::asio::io_context ioc;
  int expiries = 0;
  Watchdog dog(ioc.get_executor(), [&] { ++expiries; });
  for (int i = 0; i < 100; ++i) {
    dog.Set(milliseconds(60000));  // each later than the one before
    dog.Clear();
  }
  EXPECT_EQ(dog.arms(), 1);
  EXPECT_EQ(expiries, 0);
}

TEST(WatchdogTest, ExpiresOnceWhenTheDeadlinePassesWhileSet) {
  boost::asio::io_context ioc;
  int expiries = 0;
  Watchdog dog(ioc.get_executor(), [&] { ++expiries; });
  const auto start = steady_clock::now();
  dog.Set(milliseconds(30));
  ASSERT_TRUE(RunUntil(ioc, [&] { return expiries == 1; }));
  EXPECT_GE(steady_clock::now() - start, milliseconds(30));
  EXPECT_TRUE(dog.expired());
  ioc.restart();
  ioc.run_for(milliseconds(50));
  EXPECT_EQ(expiries, 1);
  dog.Set(milliseconds(60000));
  EXPECT_FALSE(dog.expired());
}

TEST(WatchdogTest, ADeadlineMovedLaterIsWaitedFor) {
  boost::asio::io_context ioc;
  int expiries = 0;
  Watchdog dog(ioc.get_executor(), [&] { ++expiries; });
  const auto start = steady_clock::now();
  dog.Set(milliseconds(20));
  dog.Set(milliseconds(80));  // the timer still waits for 20 ms, then re-arms for the rest
  ASSERT_TRUE(RunUntil(ioc, [&] { return expiries == 1; }));
  EXPECT_GE(steady_clock::now() - start, milliseconds(80));
  EXPECT_EQ(dog.arms(), 2);
}

TEST(WatchdogTest, AnEarlierDeadlineReArmsAndAClearedOneNeverExpires) {
  boost::asio::io_context ioc;
  int expiries = 0;
  Watchdog dog(ioc.get_executor(), [&] { ++expiries; });
  dog.Set(milliseconds(60000));
  dog.Set(milliseconds(20));  // earlier: must not wait a minute
  ASSERT_TRUE(RunUntil(ioc, [&] { return expiries == 1; }));
  EXPECT_EQ(dog.arms(), 2);
  dog.Set(milliseconds(20));
  dog.Clear();
  ioc.restart();
  ioc.run_for(milliseconds(80));
  EXPECT_EQ(expiries, 1);
  EXPECT_FALSE(dog.expired());
}

TEST(WatchdogTest, NothingRunsAfterDestruction) {
  boost::asio::io_context ioc;
  int expiries = 0;
  {
    Watchdog dog(ioc.get_executor(), [&] { ++expiries; });
    dog.Set(milliseconds(1));
    const auto until = steady_clock::now() + milliseconds(20);
    while (steady_clock::now() < until) {
    }  // the timer is due (its completion not yet run) when the watchdog goes
  }
  ioc.run_for(milliseconds(50));
  EXPECT_EQ(expiries, 0);
}

}  // namespace
}  // namespace chroma_ha
