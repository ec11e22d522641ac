// HealthState and HealthTracker: pure hysteresis logic, table-driven.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "chroma_ha/clock.h"
#include "upstream/health.h"

namespace chroma_ha {
namespace {

// Events: 'S' active success, 'F' active failure, 's' passive success, 'f' passive failure.
// Want: the health after each event, 'U' (up) or 'D' (down).
struct Case {
  const char* name;
  int unhealthy;
  int healthy;
  std::string events;
  std::string want;
};

const Case kCases[] = {
    {"starts healthy; successes keep it up", 2, 1, "SSss", "UUUU"},
    {"two active failures mark it down", 2, 1, "FF", "UD"},
    {"an active success breaks the failure run", 2, 1, "FSF", "UUU"},
    {"one success brings it back with healthy=1", 2, 1, "FFS", "UDU"},
    {"healthy=3 needs three in a row", 2, 3, "FFSSS", "UDDDU"},
    {"a failure resets the success run", 2, 3, "FFSSFSSS", "UDDDDDDU"},
    {"threshold 1 flips on the first failure", 1, 1, "FSFS", "DUDU"},
    {"passive failures in a row mark it down", 3, 1, "fff", "UUD"},
    {"a passive success resets the passive count", 3, 1, "ffsfff", "UUUUUD"},
    {"passive success never brings it back", 2, 1, "ffsss", "UDDDD"},
    {"active success brings back a passive ejection", 2, 1, "ffS", "UDU"},
    {"active and passive counts are separate", 2, 1, "FfSs", "UUUU"},
    {"passive failures do not break an active success run", 2, 2, "FFSfS", "UDDDU"},
    {"thresholds below 1 act as 1", 0, 0, "fSFS", "DUDU"},
    {"a long outage and recovery", 3, 2, "FFFFFFSFSS", "UUDDDDDDDU"},
    {"counts restart after a change", 2, 1, "FFSFfF", "UDUUUD"},
};

TEST(HealthStateTest, Table) {
  for (const Case& c : kCases) {
    HealthState state({c.unhealthy, c.healthy});
    ASSERT_EQ(c.events.size(), c.want.size()) << c.name;
    bool was = true;
    for (size_t i = 0; i < c.events.size(); ++i) {
      const int64_t now = 1000 + static_cast<int64_t>(i);
      HealthState::Change change = HealthState::Change::kNone;
      switch (c.events[i]) {
        case 'S':
          change = state.OnActiveSuccess(now);
          break;
        case 'F':
          change = state.OnActiveFailure(now);
          break;
        case 's':
          change = state.OnPassiveSuccess(now);
          break;
        case 'f':
          change = state.OnPassiveFailure(now);
          break;
        default:
          FAIL() << "bad event in " << c.name;
      }
      const bool up = c.want[i] == 'U';
      EXPECT_EQ(state.healthy(), up) << c.name << " after event " << i;
      HealthState::Change want_change = up == was ? HealthState::Change::kNone
                                                  : (up ? HealthState::Change::kBecameHealthy
                                                        : HealthState::Change::kBecameUnhealthy);
      EXPECT_EQ(change, want_change) << c.name << " event " << i;
      if (up != was) {
        EXPECT_EQ(state.last_change_ms(), now) << c.name;
      }
      was = up;
    }
  }
}

TEST(HealthStateTest, NeverChangedHasNoChangeTime) {
  HealthState state({2, 1});
  EXPECT_EQ(state.OnActiveSuccess(5), HealthState::Change::kNone);
  EXPECT_EQ(state.last_change_ms(), 0);
}

class FixedClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override { return {}; }
  int64_t UnixMillis() const override { return ms; }
  int64_t ms = 42;
};

TEST(HealthTrackerTest, CombinesInputsAndNotifiesOnChangesOnly) {
  FixedClock clock;
  HealthTracker tracker({"primary", "replica"}, {2, 1}, clock);
  std::vector<std::pair<size_t, bool>> changes;
  tracker.SetListener([&](size_t i, bool healthy) { changes.emplace_back(i, healthy); });

  tracker.ReportPassive(1, true, "HTTP 503");
  EXPECT_TRUE(tracker.Healthy(1));
  tracker.ReportActive(1, Status::Timeout("no answer"), 1000.0);
  EXPECT_TRUE(tracker.Healthy(1));  // one passive + one active: separate counts
  tracker.ReportPassive(1, true, "HTTP 500");
  EXPECT_FALSE(tracker.Healthy(1));
  EXPECT_TRUE(tracker.Healthy(0));
  tracker.ReportPassive(1, true, "HTTP 500");  // already down: no second notification
  clock.ms = 77;
  tracker.ReportActive(1, Status::Ok(), 3.5);
  EXPECT_TRUE(tracker.Healthy(1));

  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], std::make_pair(size_t{1}, false));
  EXPECT_EQ(changes[1], std::make_pair(size_t{1}, true));
  HealthView view = tracker.View(1);
  EXPECT_TRUE(view.healthy);
  EXPECT_EQ(view.health_checks_failed, 1);
  EXPECT_DOUBLE_EQ(view.last_check_latency_ms, 3.5);
  EXPECT_EQ(view.last_change_ms, 77);
  EXPECT_EQ(view.last_error, "HTTP 500");
}

}  // namespace
}  // namespace chroma_ha
