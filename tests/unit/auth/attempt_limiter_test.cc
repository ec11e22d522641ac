// The per-address failed-attempt budget (auth/attempt_limiter.h), on a fake clock.
#include "auth/attempt_limiter.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(AttemptLimiterTest, AnAddressMayFailItsBudgetThenWaits) {
  FakeClock clock;
  FailedAttemptLimiter limiter(clock, /*per_minute=*/6);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1"), 0) << i;
    limiter.RecordFailure("10.0.0.1");
  }
  // Budget spent: one failure comes back every 10 s.
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1"), 10);
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.2"), 0);  // other addresses are not affected
  clock.Advance(seconds(4));
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1"), 6);
  clock.Advance(seconds(6));
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1"), 0);
  limiter.RecordFailure("10.0.0.1");
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1"), 10);
  // A long quiet spell refills the whole budget, no more.
  clock.Advance(seconds(3600));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1"), 0) << i;
    limiter.RecordFailure("10.0.0.1");
  }
  EXPECT_GT(limiter.RetryAfterSeconds("10.0.0.1"), 0);
}

TEST(AttemptLimiterTest, RetryAfterIsAtLeastOneSecond) {
  FakeClock clock;
  FailedAttemptLimiter limiter(clock, 600);  // one back every 100 ms
  for (int i = 0; i < 600; ++i) limiter.RecordFailure("a");
  EXPECT_EQ(limiter.RetryAfterSeconds("a"), 1);
  clock.Advance(milliseconds(100));
  EXPECT_EQ(limiter.RetryAfterSeconds("a"), 0);
}

TEST(AttemptLimiterTest, ZeroMeansNoLimit) {
  FakeClock clock;
  FailedAttemptLimiter limiter(clock, 0);
  for (int i = 0; i < 1000; ++i) limiter.RecordFailure("a");
  EXPECT_EQ(limiter.RetryAfterSeconds("a"), 0);
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(AttemptLimiterTest, TheTableIsBoundedAndDropsTheLeastRecentlyFailed) {
  FakeClock clock;
  FailedAttemptLimiter limiter(clock, 1, /*max_addresses=*/3);
  limiter.RecordFailure("a");
  limiter.RecordFailure("b");
  limiter.RecordFailure("c");
  limiter.RecordFailure("a");  // a is the most recent now: b is the oldest
  EXPECT_EQ(limiter.size(), 3u);
  limiter.RecordFailure("d");
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_EQ(limiter.RetryAfterSeconds("b"), 0);  // dropped: starts again with a full budget
  EXPECT_GT(limiter.RetryAfterSeconds("a"), 0);
  EXPECT_GT(limiter.RetryAfterSeconds("c"), 0);
  EXPECT_GT(limiter.RetryAfterSeconds("d"), 0);
  for (int i = 0; i < 10000; ++i) limiter.RecordFailure("x" + std::to_string(i));
  EXPECT_EQ(limiter.size(), 3u);
}

}  // namespace
}  // namespace chroma_ha
