// WritePath: WAL first, then forward in WAL order per collection, then record the outcome.
// See write_harness.h for the harness. Nothing sleeps: requests can be held and released.
#include "server/write_path.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sync/validated_bodies.h"
#include "write_harness.h"

namespace chroma_ha {
namespace {

using namespace write_test;  // NOLINT: the harness's names
using json = nlohmann::json;

class WritePathTest : public ::testing::Test {
 protected:
  // Two adds of collection t/d/c ("first", "second") appended straight to the store and left
  // pending, as a crash (or a writer still carrying them) leaves them; by `writer` (a member
  // id), `age` ago (0: now).
  std::vector<WalEntry> AppendPendingAdds(const std::string& writer = "",
                                          std::chrono::milliseconds age = {}) {
    std::vector<WalEntry> entries(2);
    for (int i = 0; i < 2; ++i) {
      entries[i].writer = writer;
      if (age.count() != 0) entries[i].created_ms = UnixNow() - age.count();
      entries[i].tenant = "t";
      entries[i].database = "d";
      entries[i].collection = "c";
      entries[i].kind = "add";
      entries[i].method = "POST";
      entries[i].path = std::string(kDb) + "/collections/{collection}/add";
      entries[i].body = AddBody(i == 0 ? "first" : "second");
    }
    EXPECT_TRUE(h_.mem.Append(&entries).ok());
    return entries;
  }

  static int64_t UnixNow() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  Harness h_;
};

// (a)
TEST_F(WritePathTest, AppendsBeforeForwardingThenCommitsOnThePrimary) {
  bool seen_in_wal = false;
  h_.ups.SetHandler(0, [&](const HttpRequest& r) -> Result<HttpResponse> {
    auto all = h_.mem.All();
    seen_in_wal = all.size() == 1 && all[0].body == r.body && all[0].kind == "add" &&
                  all[0].state == EntryState::kPending;
    return FakeUpstreams::Response(201, "{}");
  });
  HttpResponse r = h_.Add(kP1, "a");
  EXPECT_EQ(r.status, 201);
  EXPECT_TRUE(seen_in_wal) << "the write reached the primary before its WAL entry existed";
  ASSERT_EQ(h_.ups.request_count(0), 1u);
  EXPECT_EQ(h_.ups.requests(0)[0].target, std::string(kDb) + "/collections/" + kP1 + "/add");
  EXPECT_EQ(h_.ups.request_count(1), 0u);

  auto all = h_.mem.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, EntryState::kCommitted);
  EXPECT_EQ(all[0].origin, "primary");
  EXPECT_EQ(all[0].collection, "c");  // a name, never a UUID
  EXPECT_EQ(all[0].path, std::string(kDb) + "/collections/{collection}/add");
  EXPECT_EQ(all[0].body, AddBody("a"));
  EXPECT_EQ(h_.PendingFor("replica").size(), 1u);
  EXPECT_TRUE(h_.PendingFor("primary").empty());
  EXPECT_EQ(h_.notified, 1);
  EXPECT_EQ(h_.writes.stats().appended, 1);
  EXPECT_EQ(h_.writes.stats().committed, 1);
}

// (b)
TEST_F(WritePathTest, NoWalNoWrite) {
  h_.fault.SetDown(true);
  ExpectJsonError(h_.Add(kP1, "a"), 503);
  EXPECT_EQ(h_.ups.request_count(0), 0u);
  EXPECT_EQ(h_.ups.request_count(1), 0u);
  EXPECT_EQ(h_.mem.size(), 0u);
  EXPECT_EQ(h_.writes.stats().wal_failures, 1);
  EXPECT_EQ(h_.notified, 0);
  // The next write works again once the store is back.
  h_.fault.SetDown(false);
  EXPECT_EQ(h_.Add(kP1, "b").status, 200);
}

// (c)
TEST_F(WritePathTest, A4xxFromThePrimaryIsRejectedAndNeverReplayed) {
  h_.ups.AlwaysRespond(0, 422, R"({"error":"InvalidArgumentError","message":"bad"})");
  HttpResponse r = h_.Add(kP1, "a");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, R"({"error":"InvalidArgumentError","message":"bad"})");
  auto all = h_.mem.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, EntryState::kRejected);
  EXPECT_EQ(all[0].origin, "primary");
  EXPECT_TRUE(h_.PendingFor("replica").empty());
  EXPECT_EQ(h_.ups.request_count(1), 0u);
  EXPECT_EQ(h_.writes.stats().rejected, 1);
  EXPECT_EQ(h_.notified, 0);
}

// (d)
TEST_F(WritePathTest, PrimaryDownTheReplicaTakesTheWrite) {
  h_.ups.SetHealthy(0, false);
  EXPECT_EQ(h_.Add(kP1, "a").status, 200);
  EXPECT_EQ(h_.ups.request_count(0), 0u);
  ASSERT_EQ(h_.ups.request_count(1), 1u);
  EXPECT_EQ(h_.ups.requests(1)[0].target, std::string(kDb) + "/collections/" + kR1 + "/add");
  auto all = h_.mem.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, EntryState::kCommitted);
  EXPECT_EQ(all[0].origin, "replica");
  auto pending = h_.PendingFor("primary");
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].seq, all[0].seq);
  EXPECT_TRUE(h_.PendingFor("replica").empty());
  EXPECT_EQ(h_.writes.stats().write_failovers, 1);
}

// (e)
TEST_F(WritePathTest, BothDownIs503AndNothingIsAppended) {
  h_.ups.SetHealthy(0, false);
  h_.ups.SetHealthy(1, false);
  ExpectJsonError(h_.Add(kP1, "a"), 503);
  EXPECT_EQ(h_.mem.size(), 0u);
  EXPECT_EQ(h_.fault.calls(WalOp::kAppend), 0);
  EXPECT_EQ(h_.ups.request_count(0) + h_.ups.request_count(1), 0u);
}

// (f)
TEST_F(WritePathTest, MalformedJsonIs400AndNothingIsAppended) {
  for (const char* body : {"{not json", "", "{\"ids\": [\"a\"]", "\xff\xfe"}) {
    ExpectJsonError(
        h_.Write("POST", std::string(kDb) + "/collections/" + kP1 + "/add", body), 400);
  }
  EXPECT_EQ(h_.mem.size(), 0u);
  EXPECT_EQ(h_.ups.request_count(0) + h_.ups.request_count(1), 0u);
}

TEST_F(WritePathTest, UnknownCollectionIdIs404AndNothingIsAppended) {
  h_.ups.AlwaysRespond(0, 200, "[]");
  h_.ups.AlwaysRespond(1, 200, "[]");
  HttpResponse r = h_.Add("55555555-5555-5555-5555-555555555555", "a");
  ExpectJsonError(r, 404);
  EXPECT_EQ(h_.mem.size(), 0u);
}

// (g) Writes of one collection reach the primary one at a time, in seq order, even when the
// fake answers the most recent request first; another collection is not held up behind them.
TEST_F(WritePathTest, ConflictingWritesOfOneCollectionAreForwardedInSeqOrder) {
  constexpr int kWrites = 6;
  std::mutex mu;
  std::vector<std::string> applied;  // record ids, in the order the primary applied them
  h_.ups.SetHandler(0, [&](const HttpRequest& r) -> Result<HttpResponse> {
    std::lock_guard lock(mu);
    applied.push_back(json::parse(r.body)["ids"][0].get<std::string>());
    return FakeUpstreams::Response(200);
  });
  h_.ups.Hold(0, true);
  std::vector<std::future<HttpResponse>> futures;
  for (int i = 0; i < kWrites; ++i) futures.push_back(h_.StartShared(kP1, "r" + std::to_string(i)));
  auto all_done = [&] {
    return std::all_of(futures.begin(), futures.end(),
                       [](const auto& f) { return testing::Ready(f); });
  };
  std::size_t max_in_flight = 0;
  while (!all_done()) {
    ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.ups.held(0) > 0 || all_done(); }));
    // Let every appended write get as far as it can before answering anything.
    ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.mem.size() == kWrites; }));
    testing::RunReady(h_.ioc);
    max_in_flight = std::max(max_in_flight, h_.ups.held(0));
    h_.ups.ReleaseOne(0, /*newest=*/true);  // out of order whenever more than one is held
  }
  EXPECT_EQ(max_in_flight, 1u);
  // Seq order of the WAL entries == order applied on the primary.
  std::vector<std::string> by_seq;
  for (const auto& e : h_.mem.All()) {
    by_seq.push_back(json::parse(e.body)["ids"][0].get<std::string>());
    EXPECT_EQ(e.state, EntryState::kCommitted);
  }
  EXPECT_EQ(applied, by_seq);
  for (auto& f : futures) EXPECT_EQ(f.get().status, 200);
}

TEST_F(WritePathTest, AnotherCollectionIsNotBlockedBehindAHeldOne) {
  h_.ups.Hold(0, true);
  auto c_first = h_.StartShared(kP1, "c-1");
  auto c_second = h_.StartShared(kP1, "c-2");
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.ups.held(0) == 1 && h_.mem.size() == 2; }));
  auto other = h_.StartAdd(kP2, "c2-1");
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.ups.held(0) == 2; }));
  EXPECT_EQ(h_.ups.requests(0).back().target, std::string(kDb) + "/collections/" + kP2 + "/add");
  h_.ups.ReleaseOne(0, /*newest=*/true);  // c2's write completes while c's first is still held
  EXPECT_EQ(testing::Await(h_.ioc, other).status, 200);
  EXPECT_FALSE(testing::Ready(c_first));
  EXPECT_FALSE(testing::Ready(c_second));
  h_.ups.Hold(0, false);
  h_.ups.ReleaseAll(0);
  EXPECT_EQ(testing::Await(h_.ioc, c_first).status, 200);
  EXPECT_EQ(testing::Await(h_.ioc, c_second).status, 200);
}

// Writes of one collection whose ids are disjoint commute: they are forwarded together (each
// keeps its own WAL entry; outcomes are still recorded in seq order).
TEST_F(WritePathTest, DisjointWritesOfOneCollectionAreForwardedTogether) {
  h_.ups.Hold(0, true);
  std::vector<std::future<HttpResponse>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(h_.StartAdd(kP1, "d" + std::to_string(i)));
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.ups.held(0) == 4; }))
      << "held: " << h_.ups.held(0);
  h_.ups.Hold(0, false);
  while (h_.ups.ReleaseOne(0, /*newest=*/true)) {
  }
  for (auto& f : futures) EXPECT_EQ(testing::Await(h_.ioc, f).status, 200);
  std::vector<std::string> replay;
  for (const auto& e : h_.PendingFor("replica")) {
    replay.push_back(json::parse(e.body)["ids"][0].get<std::string>());
  }
  EXPECT_EQ(replay, (std::vector<std::string>{"d0", "d1", "d2", "d3"}));
}

// (h)
TEST_F(WritePathTest, DeleteByIdsStoresTheDocumentIdsReadFromThePrimaryFirst) {
  h_.ups.SetHandler(0, [](const HttpRequest& r) -> Result<HttpResponse> {
    if (r.target.ends_with("/get")) {
      return FakeUpstreams::Response(
          200, R"({"ids":["a","b","c"],"metadatas":[{"document_id":"doc-a"},)"
               R"({"document_id":"doc-b"},{"other":1}]})");
    }
    return FakeUpstreams::Response(200);
  });
  const std::string body = R"({"ids":["a","b","c"]})";
  EXPECT_EQ(h_.Write("POST", std::string(kDb) + "/collections/" + kP1 + "/delete", body).status,
            200);
  auto reqs = h_.ups.requests(0);
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, std::string(kDb) + "/collections/" + kP1 + "/get");
  auto get = json::parse(reqs[0].body);
  EXPECT_EQ(get["ids"], json::parse(R"(["a","b","c"])"));
  EXPECT_EQ(reqs[1].target, std::string(kDb) + "/collections/" + kP1 + "/delete");
  EXPECT_EQ(reqs[1].body, body);
  auto all = h_.mem.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].kind, "delete");
  EXPECT_EQ(all[0].state, EntryState::kCommitted);
  ASSERT_FALSE(all[0].extra.empty());
  EXPECT_EQ(json::parse(all[0].extra),
            json::parse(R"({"document_ids":{"a":"doc-a","b":"doc-b"}})"));
}

TEST_F(WritePathTest, DeleteByWhereStoresNoExtra) {
  EXPECT_EQ(h_.Write("POST", std::string(kDb) + "/collections/" + kP1 + "/delete",
                     R"({"where":{"k":"v"}})")
                .status,
            200);
  EXPECT_EQ(h_.ups.request_count(0), 1u);
  ASSERT_EQ(h_.mem.size(), 1u);
  EXPECT_TRUE(h_.mem.All()[0].extra.empty());
}

// (i)
TEST_F(WritePathTest, FreshReadsPreferThePrimaryUntilTheReplicaApplied) {
  const Route read_c = Classify("POST", std::string(kDb) + "/collections/" + kP1 + "/get");
  const Route read_c_by_name = Classify("GET", std::string(kDb) + "/collections/c");
  const Route read_c2 = Classify("POST", std::string(kDb) + "/collections/" + kP2 + "/get");
  const Route list = Classify("GET", std::string(kDb) + "/collections");
  EXPECT_EQ(h_.writes.FreshReadOrder(read_c, {1, 0}), (Order{1, 0}));

  EXPECT_EQ(h_.Add(kP1, "a").status, 200);
  EXPECT_EQ(h_.writes.FreshReadOrder(read_c, {1, 0}), (Order{0, 1}));
  EXPECT_EQ(h_.writes.FreshReadOrder(read_c_by_name, {1, 0}), (Order{0, 1}));
  EXPECT_EQ(h_.writes.FreshReadOrder(list, {1, 0}), (Order{0, 1}));  // the database is stale
  EXPECT_EQ(h_.writes.FreshReadOrder(read_c2, {1, 0}), (Order{1, 0}));
  // A read planned for the replica that now goes to the primary was redirected.
  EXPECT_GE(h_.writes.stats().fresh_reads_redirected, 1);

  h_.config.read_consistency = ReadConsistency::kEventual;
  EXPECT_EQ(h_.writes.FreshReadOrder(read_c, {1, 0}), (Order{1, 0}));
  h_.config.read_consistency = ReadConsistency::kFresh;

  auto pending = h_.PendingFor("replica");
  ASSERT_EQ(pending.size(), 1u);
  h_.writes.OnApplied(pending[0], "replica");
  EXPECT_EQ(h_.writes.FreshReadOrder(read_c, {1, 0}), (Order{1, 0}));
  EXPECT_EQ(h_.writes.FreshReadOrder(list, {1, 0}), (Order{1, 0}));
}

TEST_F(WritePathTest, FreshReadsAfterAFailoverWriteAvoidThePrimary) {
  const Route read_c = Classify("POST", std::string(kDb) + "/collections/" + kP1 + "/get");
  h_.ups.SetHealthy(0, false);
  EXPECT_EQ(h_.Add(kP1, "a").status, 200);
  h_.ups.SetHealthy(0, true);
  EXPECT_EQ(h_.writes.FreshReadOrder(read_c, {0, 1}), (Order{1, 0}));
}

// (j)
TEST_F(WritePathTest, NoAnswerIsRetriedOnTheSameInstanceThenFailsOver) {
  h_.ups.AlwaysFail(0, Status::Timeout("no answer"));
  EXPECT_EQ(h_.Add(kP1, "a").status, 200);
  EXPECT_EQ(h_.ups.request_count(0), 1u + h_.config.wal_retry_attempts);
  for (const auto& r : h_.ups.requests(0)) EXPECT_EQ(r.body, AddBody("a"));
  EXPECT_EQ(h_.ups.request_count(1), 1u);
  EXPECT_EQ(h_.writes.stats().forward_retries, h_.config.wal_retry_attempts);
  auto all = h_.mem.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, EntryState::kCommitted);
  EXPECT_EQ(all[0].origin, "replica");
  EXPECT_EQ(all[0].attempts, 1 + h_.config.wal_retry_attempts + 1);
}

TEST_F(WritePathTest, RefusedEverywhereIsRejectedAnd503) {
  h_.ups.AlwaysFail(0, Status::Unavailable("refused"));
  h_.ups.AlwaysFail(1, Status::Unavailable("refused"));
  ExpectJsonError(h_.Add(kP1, "a"), 503);
  EXPECT_EQ(h_.ups.request_count(0), 1u);  // never reached: no retry on the same instance
  EXPECT_EQ(h_.ups.request_count(1), 1u);
  auto all = h_.mem.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, EntryState::kRejected);
  EXPECT_TRUE(h_.PendingFor("primary").empty());
  EXPECT_TRUE(h_.PendingFor("replica").empty());
  EXPECT_EQ(h_.notified, 0);
}

TEST_F(WritePathTest, NoAnswerAnywhereLeavesTheEntryPendingForRecovery) {
  h_.ups.AlwaysFail(0, Status::Timeout("no answer"));
  h_.ups.AlwaysFail(1, Status::Timeout("no answer"));
  ExpectJsonError(h_.Add(kP1, "a"), 503);
  auto unresolved = h_.mem.Unresolved();
  ASSERT_TRUE(unresolved.ok());
  ASSERT_EQ(unresolved->size(), 1u);
  EXPECT_EQ(h_.writes.stats().unknown, 1);
}

// A write whose outcome is unknown (no instance answered; it may have been applied) keeps its
// collection's turn: it is sent again until an instance answers, and only then does the
// collection's next write go. Resolved later (by recovery, after the next write), it would be
// applied after a later acknowledged write of the same record and undo it, on every instance.
TEST_F(WritePathTest, AnUnknownOutcomeIsResolvedBeforeTheCollectionsNextWrite) {
  h_.ups.AlwaysFail(0, Status::Timeout("no answer"));
  h_.ups.AlwaysFail(1, Status::Timeout("no answer"));
  auto first = h_.StartShared(kP1, "first");
  ExpectJsonError(testing::Await(h_.ioc, first), 503);
  auto second = h_.StartShared(kP1, "second");
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.mem.size() == 2; }));
  const std::size_t sent_before = h_.ups.request_count(0);
  // The primary answers again: the first write is sent again and settled, then the second goes.
  h_.ups.AlwaysRespond(0, 200);
  EXPECT_EQ(testing::Await(h_.ioc, second).status, 200);
  std::vector<std::string> sent;
  auto requests = h_.ups.requests(0);
  for (std::size_t i = sent_before; i < requests.size(); ++i) {
    sent.push_back(json::parse(requests[i].body)["ids"][0].get<std::string>());
  }
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back(), "second");
  EXPECT_EQ(sent.front(), "first") << "the second write went before the first was resolved";
  for (const auto& e : h_.mem.All()) EXPECT_EQ(e.state, EntryState::kCommitted) << e.body;
  std::vector<std::string> replay;
  for (const auto& e : h_.PendingFor("replica")) {
    replay.push_back(json::parse(e.body)["ids"][0].get<std::string>());
  }
  EXPECT_EQ(replay, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(h_.writes.stats().recovered, 1);
}

// (k) Fail the nth store call, for every n, during a sequence of writes (two to the primary,
// then two failed over to the replica). Afterwards: every write acknowledged with 2xx is in the
// WAL, committed, with the instance that took it as origin; no write refused because its append
// failed reached an instance.
TEST(WritePathFaultLoopTest, EveryAcknowledgedWriteIsCommittedAndNoRefusedWriteIsForwarded) {
  constexpr int kWrites = 4;
  auto run = [&](int64_t fail_at, int64_t* calls_made) {
    Harness h(/*wal_thread_count=*/1);
    if (fail_at >= 0) h.fault.FailNthCall(fail_at);
    for (int i = 0; i < kWrites; ++i) {
      const bool to_replica = i >= kWrites / 2;
      h.ups.SetHealthy(0, !to_replica);
      const std::string record = "r" + std::to_string(i);
      const std::size_t before0 = h.ups.request_count(0), before1 = h.ups.request_count(1);
      HttpResponse r = h.Add(kP1, record);
      const bool forwarded =
          h.ups.request_count(0) != before0 || h.ups.request_count(1) != before1;
      auto entry = h.EntryWithBody(AddBody(record));
      SCOPED_TRACE("fail_at=" + std::to_string(fail_at) + " write " + record);
      if (r.status >= 200 && r.status < 300) {
        ASSERT_TRUE(entry.has_value()) << "acknowledged but not in the WAL";
        EXPECT_STREQ(EntryStateName(entry->state), "committed") << "acknowledged write";
        EXPECT_EQ(entry->origin, to_replica ? "replica" : "primary");
      } else {
        EXPECT_EQ(r.status, 503);
        EXPECT_FALSE(entry.has_value()) << "refused but in the WAL";
        EXPECT_FALSE(forwarded) << "refused (no WAL) but forwarded";
      }
    }
    // Nothing is committed that the client was not told about.
    for (const auto& e : h.mem.All()) EXPECT_NE(e.state, EntryState::kRejected);
    *calls_made = h.fault.calls();
  };
  int64_t total = 0;
  run(-1, &total);
  ASSERT_GE(total, 2 * kWrites);  // an append and an outcome per write
  for (int64_t n = 0; n < total; ++n) {
    int64_t ignored = 0;
    run(n, &ignored);
  }
}

// Pipelining: the next write of a collection is forwarded while the previous write's outcome is
// being made durable, but its own outcome is recorded (and it is acknowledged) only after the
// previous one's. Otherwise the WAL could show the later entry committed (replayable) while the
// earlier one is still pending, and the sync worker would replay them to the replica in the
// opposite order from the one the primary applied.
TEST_F(WritePathTest, NextWriteIsForwardedWhileThePreviousOutcomeIsRecordedAndCommitsAfterIt) {
  h_.gated.GateSetOutcome(1);  // the first entry's outcome is slow to record
  auto first = h_.StartShared(kP1, "first");
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.gated.entered(); }));
  auto second = h_.StartShared(kP1, "second");
  ASSERT_TRUE(testing::RunUntil(h_.ioc, [&] { return h_.ups.request_count(0) == 2; }))
      << "the second write waited for the first one's outcome to be recorded";
  // Give the second write's outcome every chance to overtake (bounded: it never may).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < deadline && !testing::Ready(second)) {
    h_.ioc.restart();
    h_.ioc.run_one_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(testing::Ready(second)) << "acknowledged before the earlier write's outcome";
  ASSERT_TRUE(h_.EntryWithBody(SharedBody("second")).has_value());
  EXPECT_EQ(h_.EntryWithBody(SharedBody("second"))->state, EntryState::kPending);
  EXPECT_TRUE(h_.PendingFor("replica").empty()) << "a later entry is replayable before an earlier";
  h_.gated.OpenGate();
  EXPECT_EQ(testing::Await(h_.ioc, first).status, 200);
  EXPECT_EQ(testing::Await(h_.ioc, second).status, 200);
  std::vector<std::string> replay;
  for (const auto& e : h_.PendingFor("replica")) {
    replay.push_back(json::parse(e.body)["ids"][0].get<std::string>());
  }
  EXPECT_EQ(replay, (std::vector<std::string>{"first", "second"}));
}

// A crash after both writes were applied on the primary but before either outcome was durable
// leaves both entries pending: recovery at start re-sends them in seq order and commits both
// (applying a collection's suffix again in order leaves the same records).
TEST_F(WritePathTest, RecoveryReSendsPendingEntriesInSeqOrder) {
  std::vector<WalEntry> entries = AppendPendingAdds();
  FakeInstance primary("primary");
  FakeInstance replica("replica");
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}, /*at_start=*/true).ok());
  ASSERT_EQ(primary.request_count(), 2u);
  EXPECT_EQ(primary.requests()[0].body, AddBody("first"));
  EXPECT_EQ(primary.requests()[1].body, AddBody("second"));
  EXPECT_EQ(primary.requests()[0].target, std::string(kDb) + "/collections/" + kP1 + "/add");
  EXPECT_EQ(replica.request_count(), 0u);
  std::vector<std::string> replay;
  for (const auto& e : h_.PendingFor("replica")) {
    replay.push_back(json::parse(e.body)["ids"][0].get<std::string>());
  }
  EXPECT_EQ(replay, (std::vector<std::string>{"first", "second"}));
}

// In a fleet, recovery resolves every pending entry older than kRecoveryMinAgeMs, and a live
// process slower than that may still be carrying one: its client may even have been answered
// (after WAL_APPEND_TIMEOUT_MS, the outcome recorded in the background). When that writer
// records the outcomes of the collection's entries while recovery works through its listing,
// recovery leaves them as recorded. It used to see the second one resolved, record the first
// rejected as "superseded" over the writer's committed outcome, and so never replay an
// acknowledged write to the other instances (tests/e2e/fleet.test.mjs lost one on a slow
// machine).
TEST_F(WritePathTest, RecoveryLeavesTheOutcomesALiveWriterRecordedMeanwhile) {
  std::vector<WalEntry> entries = AppendPendingAdds();
  // The writer, after recovery listed both entries as pending: both answered by the primary,
  // their outcomes recorded in seq order.
  h_.gated.BeforeNext(WalOp::kResolvedAfter, [&] {
    for (const WalEntry& e : entries) {
      ASSERT_TRUE(h_.mem.SetOutcome(e.seq, EntryState::kCommitted, "primary", 1, "").ok());
    }
  });
  FakeInstance primary("primary");
  FakeInstance replica("replica");
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}, /*at_start=*/true).ok());
  for (const WalEntry& e : entries) {
    Result<WalEntry> now = h_.mem.Get(e.seq);
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(now->state, EntryState::kCommitted) << "seq " << e.seq;
    EXPECT_EQ(now->origin, "primary") << "seq " << e.seq;
  }
  EXPECT_EQ(h_.writes.stats().superseded, 0);
  EXPECT_EQ(h_.writes.stats().recovered, 0);
  std::vector<std::string> replay;
  for (const auto& e : h_.PendingFor("replica")) {
    replay.push_back(json::parse(e.body)["ids"][0].get<std::string>());
  }
  EXPECT_EQ(replay, (std::vector<std::string>{"first", "second"}));
}

// Every entry records the member that appended it, so that recovery can tell whose it is.
TEST_F(WritePathTest, EntriesRecordTheMemberThatAppendedThem) {
  h_.writes.SetMember("host:1:aaaaaaaa", std::chrono::milliseconds(2000));
  EXPECT_EQ(h_.Add(kP1, "a").status, 200);
  const std::vector<WalEntry> all = h_.mem.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].writer, "host:1:aaaaaaaa");
}

// In a fleet, another process's forward can outlast kRecoveryMinAgeMs (a slow primary). If
// recovery sent its entry too, the later writes of the collection (which wait for it to be
// resolved) could be forwarded before the slow original lands, which would then undo them on
// that instance. So an entry whose writer still heartbeats is left to it, however old; once the
// writer has been silent for the lease TTL it is resolved like a crashed one.
TEST_F(WritePathTest, RecoveryLeavesALiveMembersEntriesToItAndResolvesThemOnceItIsSilent) {
  h_.writes.SetMember("host:1:aaaaaaaa", std::chrono::milliseconds(2000));
  ASSERT_TRUE(h_.mem.Heartbeat("host:2:bbbbbbbb").ok());
  std::vector<WalEntry> entries =
      AppendPendingAdds("host:2:bbbbbbbb", std::chrono::milliseconds(10'000));
  FakeInstance primary("primary");
  FakeInstance replica("replica");
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}).ok());
  EXPECT_EQ(primary.request_count(), 0u);
  EXPECT_EQ(h_.mem.Unresolved()->size(), 2u);
  EXPECT_TRUE(h_.writes.Unresolved().empty()) << "carried by a live writer: not a problem";

  h_.mem.SetLastSeen("host:2:bbbbbbbb", UnixNow() - 2'500);  // silent for longer than the TTL
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}).ok());
  ASSERT_EQ(primary.request_count(), 2u);
  EXPECT_EQ(primary.requests()[0].body, AddBody("first"));
  EXPECT_EQ(primary.requests()[1].body, AddBody("second"));
  EXPECT_TRUE(h_.mem.Unresolved()->empty());
  EXPECT_EQ(h_.writes.stats().recovered, 2);
}

// A writer that is no member at all (a run forgotten by the store, or the store's only
// record of it gone) is dead; an entry without a writer (an older build's) goes by its age
// alone; and at start, when no other process is alive, a writer's last heartbeat is a dead
// run's: all of them are resolved.
TEST_F(WritePathTest, RecoveryResolvesTheEntriesOfUnknownWritersAndAtStart) {
  h_.writes.SetMember("host:1:aaaaaaaa", std::chrono::milliseconds(2000));
  AppendPendingAdds("host:3:cccccccc", std::chrono::milliseconds(10'000));
  FakeInstance primary("primary");
  FakeInstance replica("replica");
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}).ok());
  EXPECT_EQ(primary.request_count(), 2u);

  AppendPendingAdds("", std::chrono::milliseconds(10'000));
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}).ok());
  EXPECT_EQ(primary.request_count(), 4u);

  ASSERT_TRUE(h_.mem.Heartbeat("host:4:dddddddd").ok());
  AppendPendingAdds("host:4:dddddddd");
  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}, /*at_start=*/true).ok());
  EXPECT_EQ(primary.request_count(), 6u);
  EXPECT_TRUE(h_.mem.Unresolved()->empty());
}

// Since the lease holder leaves a live member's entries to it, every process resolves its own
// entries that it no longer carries (ResolveOwnUnresolved, every WAL_SYNC_INTERVAL where the
// recovery lease is not held). Only its own: another writer's entries, dead or alive, are the
// holder's or their writer's, and they hold back the later entries of their collection.
TEST_F(WritePathTest, AProcessResolvesItsOwnEntriesOnlyAndInCollectionOrder) {
  h_.writes.SetMember("host:1:aaaaaaaa", std::chrono::milliseconds(2000));
  FakeInstance primary("primary");
  FakeInstance replica("replica");
  AppendPendingAdds("host:1:aaaaaaaa", std::chrono::milliseconds(10'000));
  ASSERT_TRUE(h_.writes.ResolveOwnUnresolved({&primary, &replica}).ok());
  EXPECT_EQ(primary.request_count(), 2u);
  EXPECT_TRUE(h_.mem.Unresolved()->empty());

  AppendPendingAdds("host:2:bbbbbbbb", std::chrono::milliseconds(10'000));  // a dead writer's
  AppendPendingAdds("host:1:aaaaaaaa", std::chrono::milliseconds(10'000));  // after them
  ASSERT_TRUE(h_.writes.ResolveOwnUnresolved({&primary, &replica}).ok());
  EXPECT_EQ(primary.request_count(), 2u) << "sent another's entry, or its own after it";
  EXPECT_EQ(h_.mem.Unresolved()->size(), 4u);

  ASSERT_TRUE(h_.writes.ResolveUnresolved({&primary, &replica}).ok());  // the lease holder's pass
  EXPECT_EQ(primary.request_count(), 6u);
  EXPECT_TRUE(h_.mem.Unresolved()->empty());
}

// Recovery under the recovery lease (docs/design.md "Fleet"): a former holder's outcomes are
// refused by the store, and its pass stops at the first refusal; the current holder resolves.
TEST_F(WritePathTest, RecoveryWithAStaleFenceWritesNoOutcomeAndStops) {
  std::vector<WalEntry> entries = AppendPendingAdds();
  Result<Lease> now_held = h_.mem.AcquireLease("recovery", "new", 60'000);
  ASSERT_TRUE(now_held.ok());
  FakeInstance primary("primary");
  FakeInstance replica("replica");
  const Status stale = h_.writes.ResolveUnresolved({&primary, &replica}, /*at_start=*/true,
                                                   Fence{"recovery", "old", now_held->term});
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition) << stale.ToString();
  EXPECT_EQ(primary.request_count(), 1u);  // sent before the refusal; the pass stopped there
  EXPECT_EQ(h_.mem.Unresolved()->size(), 2u);
  ASSERT_TRUE(h_.writes
                  .ResolveUnresolved({&primary, &replica}, /*at_start=*/true,
                                     Fence{"recovery", "new", now_held->term})
                  .ok());
  EXPECT_TRUE(h_.mem.Unresolved()->empty());
}

// An add's body is validated once: its layout is remembered under its seq for the replay
// (sync/validated_bodies.h), before the entry is committed; a delete leaves none.
TEST_F(WritePathTest, AnAddsLayoutIsRememberedForReplay) {
  ValidatedBodies validated;
  h_.writes.SetValidatedBodies(&validated);
  std::size_t remembered_at_forward = 0;
  h_.ups.SetHandler(0, [&](const HttpRequest&) -> Result<HttpResponse> {
    remembered_at_forward = validated.size();
    return FakeUpstreams::Response(201, "{}");
  });
  EXPECT_EQ(h_.Add(kP1, "a").status, 201);
  EXPECT_EQ(remembered_at_forward, 1u);
  auto all = h_.mem.All();
  ASSERT_EQ(all.size(), 1u);
  std::optional<BodyLayout> layout = validated.Find(all[0].seq);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->size, all[0].body.size());
  ASSERT_EQ(layout->columns.size(), 2u);
  EXPECT_EQ(layout->columns[1].key, "ids");  // AddBody: {"embeddings":...,"ids":...}
  EXPECT_EQ(all[0].body.substr(layout->columns[1].offset, layout->columns[1].length),
            R"(["a"])");
  EXPECT_EQ(h_.Write("POST", std::string(kDb) + "/collections/" + kP1 + "/delete",
                     R"({"ids":["a"]})")
                .status,
            201);
  EXPECT_EQ(validated.size(), 1u);
}

}  // namespace
}  // namespace chroma_ha
