// Failpoints: parsing of CHROMA_HA_FAILPOINTS, inert when unarmed, @N, crash = _exit(137).
#include "failpoints/failpoints.h"

#include <gtest/gtest.h>

#include <string>

namespace chroma_ha::failpoints {
namespace {

class FailpointsTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(Configure("")); }
};

TEST_F(FailpointsTest, InertWhenUnarmed) {
  ASSERT_TRUE(Configure(""));
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(Hit(Point::kAfterWalCommit));
    EXPECT_FALSE(Hit(Point::kAfterForward));
    EXPECT_FALSE(Hit(Point::kAfterReplayApply));
    EXPECT_FALSE(Hit(Point::kDuringGroupCommit));
  }
  EXPECT_EQ(HitCount(Point::kAfterWalCommit), 0);  // unarmed: not even counted
}

TEST_F(FailpointsTest, ParsesNamesActionsAndCounts) {
  std::string error;
  ASSERT_TRUE(Configure("after_wal_commit=error, after_forward = error@3", &error)) << error;
  EXPECT_TRUE(Hit(Point::kAfterWalCommit));
  EXPECT_TRUE(Hit(Point::kAfterWalCommit));  // no @N: every hit
  EXPECT_FALSE(Hit(Point::kAfterReplayApply));  // not armed
  EXPECT_FALSE(Hit(Point::kDuringGroupCommit));
  EXPECT_EQ(PointName(Point::kDuringGroupCommit), "during_group_commit");
}

TEST_F(FailpointsTest, NthHitOnly) {
  ASSERT_TRUE(Configure("during_group_commit=error@3"));
  EXPECT_FALSE(Hit(Point::kDuringGroupCommit));
  EXPECT_FALSE(Hit(Point::kDuringGroupCommit));
  EXPECT_TRUE(Hit(Point::kDuringGroupCommit));
  EXPECT_FALSE(Hit(Point::kDuringGroupCommit));
  EXPECT_FALSE(Hit(Point::kDuringGroupCommit));
  EXPECT_EQ(HitCount(Point::kDuringGroupCommit), 5);
}

TEST_F(FailpointsTest, ReconfigureResetsCounts) {
  ASSERT_TRUE(Configure("after_replay_apply=error@2"));
  EXPECT_FALSE(Hit(Point::kAfterReplayApply));
  ASSERT_TRUE(Configure("after_replay_apply=error@2"));
  EXPECT_FALSE(Hit(Point::kAfterReplayApply));
  EXPECT_TRUE(Hit(Point::kAfterReplayApply));
}

TEST_F(FailpointsTest, RejectsBadSpecsAndStaysDisarmed) {
  for (const char* bad : {"nope=crash", "after_forward", "after_forward=explode",
                          "after_forward=crash@0", "after_forward=crash@x", "after_forward=crash@",
                          "after_forward=error,bogus=error"}) {
    std::string error;
    EXPECT_FALSE(Configure(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
    EXPECT_FALSE(Hit(Point::kAfterForward)) << bad;
  }
}

TEST_F(FailpointsTest, OffAndEmptyItemsAreAccepted) {
  ASSERT_TRUE(Configure(",after_forward=off,,"));
  EXPECT_FALSE(Hit(Point::kAfterForward));
}

TEST_F(FailpointsTest, FromEnvironment) {
  ASSERT_EQ(setenv("CHROMA_HA_FAILPOINTS", "after_forward=error@2", 1), 0);
  ASSERT_TRUE(ConfigureFromEnvironment());
  EXPECT_FALSE(Hit(Point::kAfterForward));
  EXPECT_TRUE(Hit(Point::kAfterForward));
  ASSERT_EQ(unsetenv("CHROMA_HA_FAILPOINTS"), 0);
  ASSERT_TRUE(ConfigureFromEnvironment());
  EXPECT_FALSE(Hit(Point::kAfterForward));
}

TEST_F(FailpointsTest, ThrowActionThrowsInjectedOnTheNthHit) {
  ASSERT_TRUE(Configure("request=throw@2, before_wal_append=error, commit_ack_lost=throw"));
  EXPECT_FALSE(Hit(Point::kRequest));
  EXPECT_THROW(Hit(Point::kRequest), Injected);
  EXPECT_FALSE(Hit(Point::kRequest));
  EXPECT_TRUE(Hit(Point::kBeforeWalAppend));
  EXPECT_THROW(Hit(Point::kCommitAckLost), Injected);
  EXPECT_EQ(HitCount(Point::kRequest), 3);
}

TEST_F(FailpointsTest, CrashExitsWith137OnTheNthHit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Configure("after_wal_commit=crash@2");
        Hit(Point::kAfterWalCommit);  // first hit: nothing
        Hit(Point::kAfterWalCommit);  // second: _exit(137)
        std::exit(0);
      },
      ::testing::ExitedWithCode(137), "failpoint crash");
}

}  // namespace
}  // namespace chroma_ha::failpoints
