// WritePath under faults (issue 10): validation before the WAL, deadlines on the append and on
// the client's wait, in-doubt appends, throws at each step, outcomes that cannot be recorded, and
// recovery that never stalls. See write_harness.h; nothing sleeps "long enough": every wait is a
// condition polled with a deadline.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "failpoints/failpoints.h"
#include "server/fleet_order.h"
#include "write_harness.h"

namespace chroma_ha {
namespace {

using namespace write_test;  // NOLINT: the harness's names
using json = nlohmann::json;
using std::chrono::milliseconds;

std::string AddPath(const std::string& collection_id) {
  return std::string(kDb) + "/collections/" + collection_id + "/add";
}

WalEntry PendingAdd(const std::string& collection, const std::string& record) {
  WalEntry e;
  e.tenant = "t";
  e.database = "d";
  e.collection = collection;
  e.kind = "add";
  e.method = "POST";
  e.path = std::string(kDb) + "/collections/{collection}/add";
  e.body = AddBody(record);
  return e;
}

class WriteHardeningTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(failpoints::Configure("")); }

  std::future<HttpResponse> StartWithRoute(HttpRequest request, Route route) {
    h_.routes.push_back(std::move(route));
    return testing::Spawn(h_.ioc, h_.writes.Handle(std::move(request), h_.routes.back()));
  }
  EntryState StateOf(const std::string& body) {
    auto e = h_.EntryWithBody(body);
    EXPECT_TRUE(e.has_value()) << body;
    return e ? e->state : EntryState::kPending;
  }

  Harness h_;
};

// Item 1: what the WAL cannot store is refused with 400 before it shares a group commit.
TEST_F(WriteHardeningTest, SegmentsAndNamesTheWalCannotStoreAre400AndNeverAppended) {
  HttpRequest add;
  add.method = "POST";
  add.target = AddPath(kP1);
  add.body = AddBody("a");
  Route bad = Classify(add.method, add.target);
  bad.tenant = "t\xff\xfe";  // what a lenient classifier would hand on
  auto r1 = StartWithRoute(add, bad);
  ExpectJsonError(testing::Await(h_.ioc, r1), 400);

  auto r2 = h_.Start("POST", std::string(kDb) + "/collections", R"({"name":"a\u0000b"})");
  ExpectJsonError(testing::Await(h_.ioc, r2), 400);

  EXPECT_TRUE(h_.mem.All().empty());
  EXPECT_EQ(h_.committer.stats().batches, 0);
  EXPECT_EQ(h_.writes.stats().wal_failures, 0) << "bad input is not a WAL failure";
  EXPECT_EQ(h_.Add(kP1, "good").status, 200);
}

// Item 2: a silent store. The append in the store at the deadline is in doubt (answered 503,
// recorded rejected once the store answers); the one still queued is cancelled (never written).
// Neither is ever forwarded, and the collection works again afterwards.
TEST_F(WriteHardeningTest, AnAppendNotDurableInTimeIs503AndNeverForwarded) {
  h_.config.wal_append_timeout = milliseconds(100);
  h_.gated.GateAppends();
  auto in_store = h_.StartAdd(kP1, "in-store");
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.gated.appends_entered() == 1; }));
  auto queued = h_.StartAdd(kP1, "queued");
  HttpResponse r1 = testing::Await(h_.ioc, in_store);
  HttpResponse r2 = testing::Await(h_.ioc, queued);
  ExpectJsonError(r1, 503);
  ExpectJsonError(r2, 503);
  EXPECT_TRUE(FindHeader(r1.headers, "retry-after").has_value());
  EXPECT_EQ(h_.writes.stats().append_timeouts, 2);

  h_.gated.OpenGate();  // the store answers: the in-doubt entry turns out durable
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] {
    auto e = h_.EntryWithBody(AddBody("in-store"));
    return e && e->state == EntryState::kRejected;
  })) << "the in-doubt append was not recorded as rejected";
  EXPECT_FALSE(h_.EntryWithBody(AddBody("queued")).has_value()) << "a cancelled append was written";
  EXPECT_EQ(h_.ups.request_count(0) + h_.ups.request_count(1), 0u);
  EXPECT_EQ(h_.Add(kP1, "after").status, 200);
  EXPECT_EQ(StateOf(AddBody("after")), EntryState::kCommitted);
}

// Item 4: the store committed the batch but the acknowledgement was lost. The client is told the
// write was not applied, and it is not: recorded rejected, never forwarded or replayed.
TEST_F(WriteHardeningTest, AnInDoubtCommitIsRecordedRejectedAndNeverForwarded) {
  ASSERT_TRUE(failpoints::Configure("commit_ack_lost=error@1"));
  ExpectJsonError(h_.Add(kP1, "doubt"), 503);
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] {
    auto e = h_.EntryWithBody(AddBody("doubt"));
    return e && e->state == EntryState::kRejected;
  }));
  EXPECT_EQ(h_.writes.stats().in_doubt, 1);
  EXPECT_EQ(h_.ups.request_count(0), 0u);
  EXPECT_EQ(h_.Add(kP1, "next").status, 200);
  EXPECT_TRUE(h_.PendingFor("replica").size() == 1 &&
              h_.PendingFor("replica")[0].body == AddBody("next"));
}

// Item 3: a throw after the append answers 500 and gives the collection's turns back; recovery
// then never applies the abandoned entry after the collection's later, acknowledged write.
TEST_F(WriteHardeningTest, AThrowAfterTheAppendIs500AndTheCollectionGoesOn) {
  ASSERT_TRUE(failpoints::Configure("after_wal_commit=throw@1"));
  auto first = h_.StartShared(kP1, "first");
  ExpectJsonError(testing::Await(h_.ioc, first), 500);
  auto second = h_.StartShared(kP1, "second");
  EXPECT_EQ(testing::Await(h_.ioc, second).status, 200) << "the collection's turns were kept";
  EXPECT_EQ(StateOf(SharedBody("first")), EntryState::kPending);

  FakeInstance primary("primary");
  FakeInstance replica("replica");
  primary.AlwaysRespond(200);
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}, /*at_start=*/true).ok());
  EXPECT_EQ(primary.request_count(), 0u) << "an older write was sent after a newer one";
  EXPECT_EQ(StateOf(SharedBody("first")), EntryState::kRejected);
  EXPECT_EQ(h_.writes.stats().superseded, 1);
}

TEST_F(WriteHardeningTest, AThrowBeforeTheAppendTakesNothing) {
  ASSERT_TRUE(failpoints::Configure("before_wal_append=throw@1"));
  auto first = h_.StartAdd(kP1, "first");
  EXPECT_THROW(testing::Await(h_.ioc, first), failpoints::Injected);
  EXPECT_TRUE(h_.mem.All().empty());
  EXPECT_EQ(h_.Add(kP1, "second").status, 200);
}

// A throw once the instance answered: 500, but the outcome is still recorded from the answer, in
// order, so the replica replays it (not left for recovery to reject after the next write).
TEST_F(WriteHardeningTest, AThrowAfterTheForwardIs500AndItsOutcomeIsStillRecorded) {
  ASSERT_TRUE(failpoints::Configure("after_forward=throw@1"));
  auto first = h_.StartShared(kP1, "first");
  ExpectJsonError(testing::Await(h_.ioc, first), 500);
  auto second = h_.StartShared(kP1, "second");
  EXPECT_EQ(testing::Await(h_.ioc, second).status, 200);
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.PendingFor("replica").size() == 2; }));
  EXPECT_EQ(StateOf(SharedBody("first")), EntryState::kCommitted);
}

// Item 2: a write queued behind an earlier write whose outcome is unknown is answered 503 at
// REQUEST_TIMEOUT instead of waiting for it, and is still applied, in WAL order, once it can be.
TEST_F(WriteHardeningTest, AWriteQueuedBehindAnUnknownOutcomeIsAnsweredAtTheDeadline) {
  h_.config.request_timeout = milliseconds(200);
  h_.config.wal_retry_attempts = 0;
  std::atomic<bool> answering{false};
  std::vector<std::string> applied;  // ids[0] of each write the primary applied, in order
  std::mutex mu;
  auto handler = [&](const HttpRequest& r) -> Result<HttpResponse> {
    if (!answering) return Status::Timeout("silent instance");
    std::lock_guard lock(mu);
    applied.push_back(json::parse(r.body)["ids"][0].get<std::string>());
    return FakeUpstreams::Response(200, "{}");
  };
  h_.ups.SetHandler(0, handler);
  h_.ups.SetHandler(1, handler);
  auto first = h_.StartShared(kP1, "first");
  ExpectJsonError(testing::Await(h_.ioc, first), 503);  // outcome unknown
  auto second = h_.StartShared(kP1, "second");
  HttpResponse r = testing::Await(h_.ioc, second);
  ExpectJsonError(r, 503);
  EXPECT_NE(r.body.find("waits behind"), std::string::npos) << r.body;
  EXPECT_EQ(h_.writes.stats().turn_timeouts, 1);

  answering = true;
  ASSERT_TRUE(testing::RunUntil(
      h_.ioc, [&] { return StateOf(SharedBody("second")) == EntryState::kCommitted; }));
  std::lock_guard lock(mu);
  EXPECT_EQ(applied, (std::vector<std::string>{"first", "second"}));
}

// With a WAL several processes share, a logged write is forwarded once the store says no earlier
// write of its collection from another process is pending. A store that goes silent at that
// check gets WAL_APPEND_TIMEOUT_MS, then the client is answered 503 "outcome unknown" (it once
// waited for as long as the store did: 4 s in a fault test); the write is still carried, in
// order, once the store answers.
TEST_F(WriteHardeningTest, AFleetOrderCheckTheStoreDoesNotAnswerIsAnsweredAtTheAppendDeadline) {
  h_.config.wal_append_timeout = milliseconds(150);
  h_.config.request_timeout = milliseconds(15000);  // far beyond: not the deadline that answers
  FleetOrder order(h_.gated, h_.wal_threads, [this](int64_t s) { return h_.writes.Carrying(s); });
  h_.writes.SetFleetOrder(&order);
  h_.gated.GatePendingBefore();
  auto f = h_.StartAdd(kP1, "a");
  HttpResponse r = testing::Await(h_.ioc, f);
  ExpectJsonError(r, 503);
  EXPECT_NE(r.body.find("did not answer in time"), std::string::npos) << r.body;
  EXPECT_EQ(h_.writes.stats().order_timeouts, 1);
  EXPECT_EQ(h_.gated.pending_before_entered(), 1);  // still silent: the answer did not wait

  h_.gated.OpenGate();
  ASSERT_TRUE(
      testing::RunUntil(h_.ioc, [&] { return StateOf(AddBody("a")) == EntryState::kCommitted; }));
  EXPECT_EQ(h_.Add(kP1, "b").status, 200);  // the store answers again: no 503
  EXPECT_EQ(h_.writes.stats().order_timeouts, 1);
}

// A store that fails the check at once, again and again, is as silent as one that hangs: the
// deadline runs from the first call it did not answer, not from each failed call.
TEST_F(WriteHardeningTest, AFleetOrderCheckTheStoreKeepsFailingIsAnsweredAtTheAppendDeadline) {
  h_.config.wal_append_timeout = milliseconds(150);
  h_.config.request_timeout = milliseconds(15000);
  FleetOrder order(h_.gated, h_.wal_threads, [this](int64_t s) { return h_.writes.Carrying(s); });
  h_.writes.SetFleetOrder(&order);
  constexpr int kFailures = 40;  // about 0.7 s of polls (backing off to 20 ms)
  for (int n = 0; n < kFailures; ++n) h_.fault.FailNthCallOf(WalOp::kPendingBefore, n);
  auto f = h_.StartAdd(kP1, "a");
  HttpResponse r = testing::Await(h_.ioc, f);
  ExpectJsonError(r, 503);
  EXPECT_EQ(h_.writes.stats().order_timeouts, 1);
  EXPECT_LT(order.stats().errors, kFailures) << "answered only once the store came back";
  ASSERT_TRUE(
      testing::RunUntil(h_.ioc, [&] { return StateOf(AddBody("a")) == EntryState::kCommitted; }));
  EXPECT_EQ(order.stats().errors, kFailures);
}

// Item 4: an outcome the store refuses (permanently, once) keeps its outcome turn and is tried
// again: the collection's later outcome is never recorded first, so the replica replays both,
// in order (before, the first entry was left pending and the second replayed alone).
TEST_F(WriteHardeningTest, AnOutcomeThatCannotBeRecordedKeepsItsTurnUntilItIs) {
  h_.fault.FailNthCallOf(WalOp::kSetOutcome, 0, Status::Internal("injected permanent fault"));
  auto first = h_.StartShared(kP1, "first");
  auto second = h_.StartShared(kP1, "second");
  EXPECT_EQ(testing::Await(h_.ioc, first).status, 200);
  EXPECT_EQ(testing::Await(h_.ioc, second).status, 200);
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.PendingFor("replica").size() == 2; }));
  std::vector<std::string> replay;
  for (const auto& e : h_.PendingFor("replica")) {
    replay.push_back(json::parse(e.body)["ids"][0].get<std::string>());
  }
  EXPECT_EQ(replay, (std::vector<std::string>{"first", "second"}));
  EXPECT_GE(h_.writes.stats().outcome_retries, 1);
}

// A client is not held while its outcome is slow to record: it gets the instance's answer after
// WAL_APPEND_TIMEOUT_MS, and the outcome is recorded (in order) once the store answers.
TEST_F(WriteHardeningTest, AClientIsAnsweredWhileItsOutcomeIsStillBeingRecorded) {
  h_.config.wal_append_timeout = milliseconds(100);
  h_.gated.GateSetOutcome(1);
  auto write = h_.StartAdd(kP1, "slow-outcome");
  EXPECT_EQ(testing::Await(h_.ioc, write).status, 200);
  EXPECT_TRUE(h_.gated.entered());
  EXPECT_EQ(StateOf(AddBody("slow-outcome")), EntryState::kPending);
  h_.gated.OpenGate();
  ASSERT_TRUE(testing::RunUntil(
      h_.ioc, [&] { return StateOf(AddBody("slow-outcome")) == EntryState::kCommitted; }));
}

// Item 5: one entry no instance takes holds back only its own collection; it is listed until an
// admin rejects it.
TEST_F(WriteHardeningTest, AnUnresolvableEntryHoldsOnlyItsOwnCollection) {
  std::vector<WalEntry> entries = {PendingAdd("c", "stuck"), PendingAdd("c", "after-stuck"),
                                   PendingAdd("c2", "other")};
  ASSERT_TRUE(h_.mem.Append(&entries).ok());
  FakeInstance primary("primary");
  FakeInstance replica("replica");
  auto handler = [](const HttpRequest& r) -> Result<HttpResponse> {
    if (r.target.find(kP1) != std::string::npos || r.target.find(kR1) != std::string::npos) {
      return FakeUpstreams::Response(503, R"({"error":"busy"})");
    }
    return FakeUpstreams::Response(201, "{}");
  };
  primary.SetHandler(handler);
  replica.SetHandler(handler);
  EXPECT_FALSE(h_.writes.ResolveUnresolved({&primary, &replica}, /*at_start=*/true).ok());
  EXPECT_EQ(StateOf(AddBody("other")), EntryState::kCommitted) << "one entry stalled the others";
  EXPECT_EQ(StateOf(AddBody("after-stuck")), EntryState::kPending) << "sent before an earlier";
  auto problems = h_.writes.Unresolved();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].seq, entries[0].seq);
  EXPECT_EQ(problems[0].collection, "c");
  EXPECT_EQ(problems[0].attempts, 1);
  EXPECT_NE(problems[0].error.find("503"), std::string::npos) << problems[0].error;

  ASSERT_TRUE(h_.writes.RejectPending(entries[0].seq, "skipped by an admin").ok());
  EXPECT_EQ(StateOf(AddBody("stuck")), EntryState::kRejected);
  EXPECT_TRUE(h_.writes.Unresolved().empty());
  EXPECT_FALSE(h_.writes.RejectPending(entries[2].seq, "not pending").ok());
}

// Item 5: recovery finds an id it does not know by the collection's name, as the sync worker.
TEST_F(WriteHardeningTest, RecoveryLooksUpAnUnknownCollectionIdByName) {
  constexpr char kP3[] = "55555555-5555-5555-5555-555555555555";
  std::vector<WalEntry> entries = {PendingAdd("c3", "x")};
  ASSERT_TRUE(h_.mem.Append(&entries).ok());
  FakeInstance primary("primary");
  FakeInstance replica("replica");
  primary.SetHandler([&](const HttpRequest& r) -> Result<HttpResponse> {
    if (r.method == "GET") {
      return FakeUpstreams::Response(200, json{{"id", kP3}, {"name", "c3"}}.dump());
    }
    return FakeUpstreams::Response(201, "{}");
  });
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}, /*at_start=*/true).ok());
  ASSERT_EQ(primary.request_count(), 2u);
  EXPECT_EQ(primary.requests()[1].target, AddPath(kP3));
  EXPECT_EQ(StateOf(AddBody("x")), EntryState::kCommitted);
}

}  // namespace
}  // namespace chroma_ha
