// Sequencer: per-key turns in ticket order, keys independent, Done wakes exactly the next ticket.
#include "server/sequencer.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "co_run.h"

namespace chroma_ha {
namespace {

namespace asio = boost::asio;

// Records "key:ticket" in `log` once the turn came; ends the turn when `finish`.
struct Log {
  std::mutex mu;
  std::vector<std::string> entries;
  void Add(const std::string& s) {
    std::lock_guard lock(mu);
    entries.push_back(s);
  }
  std::vector<std::string> Get() {
    std::lock_guard lock(mu);
    return entries;
  }
};

asio::awaitable<void> Waiter(Sequencer& seq, std::string key, uint64_t ticket, Log* log,
                             bool finish) {
  co_await seq.WaitTurn(key, ticket);
  log->Add(key + ":" + std::to_string(ticket));
  if (finish) seq.Done(key, ticket);
}

class SequencerTest : public ::testing::Test {
 protected:
  uint64_t Take(const std::string& key) { return seq_.Take(key, nullptr); }
  void Wait(const std::string& key, uint64_t ticket, bool finish = false) {
    asio::co_spawn(ioc_, Waiter(seq_, key, ticket, &log_, finish), asio::detached);
  }
  std::vector<std::string> Ran() {
    testing::RunReady(ioc_);
    return log_.Get();
  }

  asio::io_context ioc_;
  Sequencer seq_;
  Log log_;
};

using Strings = std::vector<std::string>;

TEST_F(SequencerTest, TicketsAreHandedOutInOrderPerKeyAndUnderTheLock) {
  std::vector<uint64_t> seen;
  EXPECT_EQ(seq_.Take("a", [&](uint64_t t) { seen.push_back(t); }), 0u);
  EXPECT_EQ(seq_.Take("a", [&](uint64_t t) { seen.push_back(t); }), 1u);
  EXPECT_EQ(seq_.Take("b", [&](uint64_t t) { seen.push_back(t); }), 0u);
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 0}));
  EXPECT_EQ(seq_.active_keys(), 2u);
}

TEST_F(SequencerTest, TurnsCompleteInTicketOrderWhateverTheWaitOrder) {
  uint64_t t0 = Take("a"), t1 = Take("a"), t2 = Take("a");
  Wait("a", t2);
  Wait("a", t1);
  Wait("a", t0);
  EXPECT_EQ(Ran(), (Strings{"a:0"}));
  seq_.Done("a", t0);
  EXPECT_EQ(Ran(), (Strings{"a:0", "a:1"}));
  seq_.Done("a", t1);
  EXPECT_EQ(Ran(), (Strings{"a:0", "a:1", "a:2"}));
  seq_.Done("a", t2);
  EXPECT_EQ(seq_.active_keys(), 0u);
}

TEST_F(SequencerTest, DoneWakesExactlyTheNextTicket) {
  uint64_t t0 = Take("a"), t1 = Take("a"), t2 = Take("a"), t3 = Take("a");
  Wait("a", t0);
  Wait("a", t1);
  Wait("a", t2);
  Wait("a", t3);
  EXPECT_EQ(Ran().size(), 1u);
  seq_.Done("a", t0);
  EXPECT_EQ(Ran().size(), 2u);  // t1 only; t2 and t3 still wait
  EXPECT_EQ(log_.Get().back(), "a:1");
  seq_.Done("a", t1);
  EXPECT_EQ(Ran().size(), 3u);
  EXPECT_EQ(log_.Get().back(), "a:2");
  seq_.Done("a", t2);
  EXPECT_EQ(Ran().size(), 4u);
  EXPECT_EQ(log_.Get().back(), "a:3");
  seq_.Done("a", t3);
  EXPECT_EQ(seq_.active_keys(), 0u);
}

TEST_F(SequencerTest, ALaterWaiterWhoseTurnAlreadyCameRunsAtOnce) {
  uint64_t t0 = Take("a"), t1 = Take("a");
  Wait("a", t0, /*finish=*/true);
  EXPECT_EQ(Ran(), (Strings{"a:0"}));
  Wait("a", t1, /*finish=*/true);  // t0 is done before t1 even started waiting
  EXPECT_EQ(Ran(), (Strings{"a:0", "a:1"}));
  EXPECT_EQ(seq_.active_keys(), 0u);
}

TEST_F(SequencerTest, DifferentKeysAreIndependent) {
  uint64_t a0 = Take("a"), a1 = Take("a");
  uint64_t b0 = Take("b"), b1 = Take("b");
  Wait("a", a1);
  Wait("a", a0);  // never finished: "a" stays blocked at a1
  Wait("b", b0, /*finish=*/true);
  Wait("b", b1, /*finish=*/true);
  EXPECT_EQ(Ran(), (Strings{"a:0", "b:0", "b:1"}));
  seq_.Done("a", a0);
  EXPECT_EQ(Ran().back(), "a:1");
  seq_.Done("a", a1);
  EXPECT_EQ(seq_.active_keys(), 0u);
}

TEST_F(SequencerTest, AnIdleKeyIsForgottenAndStartsAgainAtZero) {
  uint64_t t0 = Take("a");
  Wait("a", t0, /*finish=*/true);
  Ran();
  EXPECT_EQ(seq_.active_keys(), 0u);
  uint64_t again = Take("a");
  EXPECT_EQ(again, 0u);
  Wait("a", again, /*finish=*/true);
  EXPECT_EQ(Ran(), (Strings{"a:0", "a:0"}));
}

// Footprints: writes of disjoint ids go together; one that shares an id, or covers the whole
// key, waits for every earlier overlapping ticket; a later disjoint one may pass a waiting one.
TEST_F(SequencerTest, DisjointFootprintsGoTogetherOverlappingOnesWait) {
  const uint64_t a = seq_.Take("c", MakeFootprint({"x", "y"}), nullptr);
  const uint64_t b = seq_.Take("c", MakeFootprint({"z"}), nullptr);
  const uint64_t c = seq_.Take("c", MakeFootprint({"y", "q"}), nullptr);  // shares y with a
  const uint64_t d = seq_.Take("c", MakeFootprint({"w"}), nullptr);
  const uint64_t e = seq_.Take("c", nullptr, nullptr);  // the whole collection
  const uint64_t f = seq_.Take("c", MakeFootprint({"v"}), nullptr);  // after a whole-key write
  for (uint64_t t : {a, b, c, d, e, f}) Wait("c", t);
  EXPECT_EQ(Ran(), (Strings{"c:0", "c:1", "c:3"}));  // a, b, d in flight together
  seq_.Done("c", b);
  EXPECT_EQ(Ran().size(), 3u);  // c still waits for a
  seq_.Done("c", a);
  EXPECT_EQ(Ran(), (Strings{"c:0", "c:1", "c:3", "c:2"}));
  seq_.Done("c", c);
  EXPECT_EQ(Ran().size(), 4u);  // e waits for d too
  seq_.Done("c", d);
  EXPECT_EQ(Ran().back(), "c:4");
  seq_.Done("c", e);
  EXPECT_EQ(Ran().back(), "c:5");
  seq_.Done("c", f);
  EXPECT_EQ(seq_.active_keys(), 0u);
}

// A writer whose append failed gives its ticket up before its turn came: later tickets of the key
// no longer wait for it, and nothing is woken twice.
TEST_F(SequencerTest, ATicketGivenUpBeforeItsTurnNoLongerHoldsLaterOnes) {
  const uint64_t a = Take("c");
  const uint64_t b = Take("c");
  const uint64_t c = Take("c");
  Wait("c", a);
  Wait("c", c);
  EXPECT_EQ(Ran(), (Strings{"c:0"}));
  seq_.Done("c", b);  // given up while a still runs
  EXPECT_EQ(Ran(), (Strings{"c:0"}));
  seq_.Done("c", a);
  EXPECT_EQ(Ran(), (Strings{"c:0", "c:2"}));
  seq_.Done("c", c);
  EXPECT_EQ(seq_.active_keys(), 0u);
}

// Turn: the guard that ends a ticket exactly once, on Release or when it goes out of scope (an
// early return or a throw), and moves with its owner.
TEST(TurnTest, EndsItsTicketExactlyOnceWhateverTheExit) {
  asio::io_context ioc;
  auto seq = std::make_shared<Sequencer>();
  Log log;
  const uint64_t first = seq->Take("c", nullptr);
  const uint64_t second = seq->Take("c", nullptr);
  asio::co_spawn(ioc, Waiter(*seq, "c", second, &log, /*finish=*/true), asio::detached);
  try {
    Turn turn(seq, "c", first);
    Turn moved = std::move(turn);
    EXPECT_FALSE(turn.held());  // NOLINT: checking the moved-from state on purpose
    EXPECT_TRUE(moved.held());
    throw std::runtime_error("a bug on the request path");
  } catch (const std::runtime_error&) {
  }
  testing::RunReady(ioc);
  EXPECT_EQ(log.Get(), (Strings{"c:1"})) << "the thrown-away turn was not given back";
  EXPECT_EQ(seq->active_keys(), 0u);

  Turn released(seq, "c", seq->Take("c", nullptr));
  released.Release();
  released.Release();  // idempotent
  EXPECT_EQ(seq->active_keys(), 0u);
}

TEST(FootprintTest, SortedUniqueAndEmptyMeansWholeKey) {
  EXPECT_EQ(MakeFootprint({}), nullptr);
  auto f = MakeFootprint({"b", "a", "b"});
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f, (std::vector<std::string>{"a", "b"}));
}

// Many keys, many tickets, waiters on a multi-threaded pool: each key's turns run in order.
TEST(SequencerStressTest, OrderPerKeyOnManyThreads) {
  constexpr int kKeys = 8;
  constexpr int kPerKey = 200;
  Sequencer seq;
  Log log;
  asio::thread_pool pool(4);
  std::vector<std::pair<std::string, uint64_t>> tickets;
  for (int i = 0; i < kPerKey; ++i) {
    for (int k = 0; k < kKeys; ++k) {
      std::string key = "k" + std::to_string(k);
      tickets.emplace_back(key, seq.Take(key, nullptr));
    }
  }
  // Wait in reverse order so that most waiters park before their turn comes.
  for (auto it = tickets.rbegin(); it != tickets.rend(); ++it) {
    asio::co_spawn(asio::make_strand(pool), Waiter(seq, it->first, it->second, &log, true),
                   asio::detached);
  }
  pool.join();
  std::map<std::string, std::vector<uint64_t>> by_key;
  for (const auto& e : log.Get()) {
    auto colon = e.find(':');
    by_key[e.substr(0, colon)].push_back(std::stoull(e.substr(colon + 1)));
  }
  ASSERT_EQ(by_key.size(), static_cast<std::size_t>(kKeys));
  for (const auto& [key, order] : by_key) {
    ASSERT_EQ(order.size(), static_cast<std::size_t>(kPerKey)) << key;
    for (int i = 0; i < kPerKey; ++i) EXPECT_EQ(order[i], static_cast<uint64_t>(i)) << key;
  }
  EXPECT_EQ(seq.active_keys(), 0u);
}

}  // namespace
}  // namespace chroma_ha
