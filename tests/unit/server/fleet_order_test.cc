// FleetOrder: a write waits for the earlier pending entries of its collection that another
// process appended, and only for those (issue 11 item 3). In-memory store behind a fault
// wrapper; the test's own io_context.
#include "server/fleet_order.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <set>
#include <string>
#include <vector>

#include "co_run.h"
#include "fakes/fault_store.h"
#include "fakes/memory_store.h"

namespace chroma_ha {
namespace {

class FleetOrderTest : public ::testing::Test {
 protected:
  FleetOrderTest()
      : fault_(&memory_), order_(fault_, pool_, [this](int64_t s) { return mine_.count(s) != 0; }) {
    EXPECT_TRUE(memory_.Open().ok());
    EXPECT_TRUE(memory_.RegisterInstances({"primary", "replica"}).ok());
  }
  ~FleetOrderTest() override { pool_.join(); }

  int64_t Append(const std::string& collection) {
    std::vector<WalEntry> batch(1);
    batch[0].tenant = "t";
    batch[0].database = "d";
    batch[0].collection = collection;
    batch[0].kind = "add";
    batch[0].method = "POST";
    batch[0].path = "/x";
    EXPECT_TRUE(memory_.Append(&batch).ok());
    return batch[0].seq;
  }
  std::future<void> Wait(const std::string& collection, int64_t seq) {
    return testing::Spawn(ioc_, order_.WaitForEarlier("t", "d", collection, seq));
  }

  boost::asio::io_context ioc_;
  boost::asio::thread_pool pool_{1};
  MemoryWalStore memory_;
  FaultStore fault_;
  std::set<int64_t> mine_;
  FleetOrder order_;
};

TEST_F(FleetOrderTest, NothingEarlierOrOnlyOwnOrOtherCollectionsEntriesPendingGoesAtOnce) {
  const int64_t own = Append("c");
  mine_.insert(own);
  (void)Append("other");  // another process's write of another collection
  const int64_t seq = Append("c");
  auto f = Wait("c", seq);
  testing::Await(ioc_, f);
  EXPECT_EQ(order_.stats().waits, 0);
  EXPECT_EQ(fault_.calls(WalOp::kPendingBefore), 1);
}

TEST_F(FleetOrderTest, WaitsUntilAnotherProcesssEarlierEntryIsResolved) {
  const int64_t foreign = Append("c");
  const int64_t seq = Append("c");
  auto f = Wait("c", seq);
  ASSERT_TRUE(testing::RunUntil(ioc_, [&] { return fault_.calls(WalOp::kPendingBefore) >= 3; }));
  EXPECT_FALSE(testing::Ready(f));
  ASSERT_TRUE(memory_.SetOutcome(foreign, EntryState::kCommitted, "primary", 1, "").ok());
  testing::Await(ioc_, f);
  EXPECT_EQ(order_.stats().waits, 1);
}

TEST_F(FleetOrderTest, AStoreErrorIsRetriedNotTakenForNothingPending) {
  const int64_t foreign = Append("c");
  const int64_t seq = Append("c");
  fault_.SetDown(true);
  auto f = Wait("c", seq);
  ASSERT_TRUE(testing::RunUntil(ioc_, [&] { return order_.stats().errors >= 2; }));
  EXPECT_FALSE(testing::Ready(f));
  fault_.SetDown(false);
  ASSERT_TRUE(testing::RunUntil(ioc_, [&] { return order_.stats().polls >= 4; }));
  EXPECT_FALSE(testing::Ready(f));  // the store answers again: the foreign entry is pending
  ASSERT_TRUE(memory_.SetOutcome(foreign, EntryState::kRejected, "primary", 1, "").ok());
  testing::Await(ioc_, f);
}

}  // namespace
}  // namespace chroma_ha
