// The WAL store conformance suite (fixture and backends: wal_store_fixture.h). Instantiated
// here, once, for every store; other files of this folder add cases to it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance/wal_store_fixture.h"

namespace chroma_ha::conformance {
namespace {

TEST_P(WalStoreConformance, OpenIsIdempotent) {
  ASSERT_OK(store_->Open());
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{});
}

TEST_P(WalStoreConformance, AppendAssignsStrictlyIncreasingSeqInOrder) {
  std::vector<WalEntry> batch = {Entry("a"), Entry("b"), Entry("c")};
  ASSERT_OK(store_->Append(&batch));
  EXPECT_GT(batch[0].seq, 0);
  EXPECT_LT(batch[0].seq, batch[1].seq);
  EXPECT_LT(batch[1].seq, batch[2].seq);
  const int64_t next = Append("d");
  EXPECT_GT(next, batch[2].seq);
  EXPECT_EQ(MustGet(batch[1].seq).collection, "b");
}

TEST_P(WalStoreConformance, AppendFillsCreatedMsOnlyWhenZero) {
  const int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<WalEntry> batch = {Entry("a"), Entry("b", "{}", 1234)};
  ASSERT_OK(store_->Append(&batch));
  EXPECT_GE(batch[0].created_ms, before);
  EXPECT_EQ(MustGet(batch[0].seq).created_ms, batch[0].created_ms);
  EXPECT_EQ(batch[1].created_ms, 1234);
  EXPECT_EQ(MustGet(batch[1].seq).created_ms, 1234);
}

TEST_P(WalStoreConformance, EveryFieldRoundTrips) {
  WalEntry e = Entry("docs", "{\"ids\":[\"x\"]}", 42);
  e.tenant = "t1";
  e.database = "db1";
  e.kind = "delete";
  e.method = "DELETE";
  e.path = "/api/v2/tenants/t1/databases/db1/collections/{collection}/delete";
  e.state = EntryState::kPending;
  e.origin = "primary";
  e.attempts = 3;
  e.last_error = "timeout ü";
  e.extra = R"({"document_ids":{"x":"doc-1"}})";
  e.writer = "host-1:4242:0badcafe";
  const int64_t seq = Append(e);
  const WalEntry got = MustGet(seq);
  EXPECT_EQ(got.seq, seq);
  EXPECT_EQ(got.created_ms, 42);
  EXPECT_EQ(got.tenant, "t1");
  EXPECT_EQ(got.database, "db1");
  EXPECT_EQ(got.collection, "docs");
  EXPECT_EQ(got.kind, "delete");
  EXPECT_EQ(got.method, "DELETE");
  EXPECT_EQ(got.path, e.path);
  EXPECT_EQ(got.body, e.body);
  EXPECT_EQ(got.state, EntryState::kPending);
  EXPECT_EQ(got.origin, "primary");
  EXPECT_EQ(got.attempts, 3);
  EXPECT_EQ(got.last_error, "timeout ü");
  EXPECT_EQ(got.extra, e.extra);
  EXPECT_EQ(got.writer, "host-1:4242:0badcafe");
}

TEST_P(WalStoreConformance, BodiesAreByteExact) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  std::string big(1 << 20, '\0');
  std::mt19937 rng(7);
  for (char& c : big) c = static_cast<char>(rng());
  const std::vector<std::string> bodies = {
      std::string(),
      std::string("\0", 1),
      std::string("{\"ids\":[\"a\0b\"]}", 15),
      std::string("\xff\xfe\xc3\x28 not utf-8 \x80", 17),
      std::string("\\x00 \\\\ E'\\0' ''"),
      all_bytes,
      big,
  };
  std::vector<WalEntry> batch;
  for (const std::string& b : bodies) batch.push_back(Entry("c", b));
  ASSERT_OK(store_->Append(&batch));
  for (size_t i = 0; i < bodies.size(); ++i) {
    const WalEntry got = MustGet(batch[i].seq);
    EXPECT_EQ(got.body.size(), bodies[i].size()) << "body " << i;
    EXPECT_TRUE(got.body == bodies[i]) << "body " << i;
  }
  Commit(batch[2].seq, "primary");
  Commit(batch[6].seq, "primary");  // large: the SQLite store keeps it in a file of its own
  Result<std::vector<WalEntry>> pending = store_->PendingFor("replica", 0, 10);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_TRUE((*pending)[0].body == bodies[2]);
  EXPECT_TRUE((*pending)[1].body == bodies[6]);
  Reopen();
  EXPECT_TRUE(MustGet(batch[6].seq).body == bodies[6]);
  EXPECT_TRUE(MustGet(batch[5].seq).body == bodies[5]);
}

TEST_P(WalStoreConformance, BatchIsAllOrNothing) {
  const int64_t first = Append("before");
  std::vector<WalEntry> batch = {Entry("x"), Entry("y"), Entry("z")};
  batch[2].state = static_cast<EntryState>(7);  // not a state: the store refuses it
  const Status s = store_->Append(&batch);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  Result<std::map<EntryState, int64_t>> counts = store_->CountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[EntryState::kPending], 1);
  Result<std::vector<WalEntry>> unresolved = store_->Unresolved();
  ASSERT_TRUE(unresolved.ok());
  EXPECT_EQ(Seqs(*unresolved), std::vector<int64_t>{first});
  EXPECT_GT(Append("after"), first);
}

TEST_P(WalStoreConformance, TextFieldsMustBeStorableText) {
  std::vector<WalEntry> batch = {Entry("ok"), Entry(std::string("bad\0name", 8))};
  EXPECT_EQ(store_->Append(&batch).code(), StatusCode::kInvalidArgument);
  batch = {Entry("\xff\xfe")};
  EXPECT_EQ(store_->Append(&batch).code(), StatusCode::kInvalidArgument);
  const int64_t seq = Append("c");
  EXPECT_EQ(store_->SetExtra(seq, std::string("{\0}", 3)).code(), StatusCode::kInvalidArgument);
  // Diagnostic text is sanitised, not refused.
  EXPECT_OK(store_->SetOutcome(seq, EntryState::kRejected, "primary", 1,
                               std::string("bad \xff byte \0 here", 17)));
  EXPECT_EQ(MustGet(seq).last_error, "bad ? byte ? here");
  Result<std::map<EntryState, int64_t>> counts = store_->CountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[EntryState::kRejected], 1);
  EXPECT_EQ((*counts)[EntryState::kPending], 0);
}

TEST_P(WalStoreConformance, CommittedEntryIsAppliedOnOriginAndPendingElsewhere) {
  const int64_t seq = Append("c");
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{});  // still kPending: never replayed
  Commit(seq, "primary");
  EXPECT_EQ(Pending("primary"), std::vector<int64_t>{});
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{seq});
  const WalEntry got = MustGet(seq);
  EXPECT_EQ(got.state, EntryState::kCommitted);
  EXPECT_EQ(got.origin, "primary");
  EXPECT_EQ(got.attempts, 1);
}

TEST_P(WalStoreConformance, RejectedEntriesAreNeverReplayed) {
  const int64_t a = Append("c");
  const int64_t b = Append("c");
  Reject(a, "primary");
  Commit(b, "primary");
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{b});
  EXPECT_EQ(Pending("replica2"), std::vector<int64_t>{b});
  EXPECT_EQ(MustGet(a).last_error, "400 bad");
}

// SetOutcome with `written` (recovery's): only while the entry is still pending, so an outcome
// its writer recorded first stands.
TEST_P(WalStoreConformance, SetOutcomeOnlyWhilePendingLeavesARecordedOutcome) {
  const int64_t a = Append("c");
  const int64_t b = Append("c");
  Commit(a, "primary");  // the writer's
  bool written = true;
  ASSERT_OK(store_->SetOutcome(a, EntryState::kRejected, "", 3, "superseded", Fence(), &written));
  EXPECT_FALSE(written);
  EXPECT_EQ(MustGet(a).state, EntryState::kCommitted);
  EXPECT_EQ(MustGet(a).origin, "primary");
  EXPECT_EQ(MustGet(a).attempts, 1);
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{a});
  ASSERT_OK(store_->SetOutcome(b, EntryState::kCommitted, "replica", 2, "", Fence(), &written));
  EXPECT_TRUE(written);  // still pending: recorded as without `written`
  EXPECT_EQ(MustGet(b).state, EntryState::kCommitted);
  EXPECT_EQ(Pending("primary"), std::vector<int64_t>{b});
  EXPECT_EQ(
      store_->SetOutcome(b + 1000, EntryState::kRejected, "", 1, "", Fence(), &written).code(),
      StatusCode::kNotFound);
}

TEST_P(WalStoreConformance, PendingForIsInSeqOrderWithAfterSeqAndLimit) {
  std::vector<int64_t> seqs;
  for (int i = 0; i < 6; ++i) seqs.push_back(Append(i % 2 ? "odd" : "even"));
  // Committed out of order, some from the replica (failover writes).
  for (int i : {4, 1, 5, 0, 3, 2}) Commit(seqs[i], i == 3 ? "replica" : "primary");
  EXPECT_EQ(Pending("replica"),
            (std::vector<int64_t>{seqs[0], seqs[1], seqs[2], seqs[4], seqs[5]}));
  EXPECT_EQ(Pending("primary"), std::vector<int64_t>{seqs[3]});
  EXPECT_EQ(Pending("replica", seqs[1]), (std::vector<int64_t>{seqs[2], seqs[4], seqs[5]}));
  EXPECT_EQ(Pending("replica", 0, 2), (std::vector<int64_t>{seqs[0], seqs[1]}));
  EXPECT_EQ(Pending("replica", seqs[2], 1), std::vector<int64_t>{seqs[4]});
  EXPECT_EQ(Pending("replica", seqs[5]), std::vector<int64_t>{});
  EXPECT_EQ(Pending("replica", 0, 0), std::vector<int64_t>{});
}

TEST_P(WalStoreConformance, MarkAppliedIsIdempotentAndPerInstance) {
  const int64_t a = Append("c");
  const int64_t b = Append("c");
  Commit(a, "primary");
  Commit(b, "primary");
  ASSERT_OK(store_->MarkApplied(a, "replica"));
  ASSERT_OK(store_->MarkApplied(a, "replica"));
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{b});
  EXPECT_EQ(Pending("replica2"), (std::vector<int64_t>{a, b}));
  // Marking applied before the outcome is known is remembered.
  const int64_t c = Append("c");
  ASSERT_OK(store_->MarkApplied(c, "replica"));
  Commit(c, "primary");
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{b});
}

TEST_P(WalStoreConformance, UnknownSeqIsNotFound) {
  const int64_t seq = Append("c");
  const int64_t missing = seq + 1000;
  EXPECT_EQ(store_->Get(missing).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SetOutcome(missing, EntryState::kCommitted, "primary", 1, "").code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->SetExtra(missing, "{}").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->MarkApplied(missing, "replica").code(), StatusCode::kNotFound);
}

TEST_P(WalStoreConformance, SetExtraRoundTrips) {
  const int64_t seq = Append("c");
  const std::string extra = R"({"document_ids":{"id\u0000x":"doc ü"}})";
  ASSERT_OK(store_->SetExtra(seq, extra));
  EXPECT_EQ(MustGet(seq).extra, extra);
  ASSERT_OK(store_->SetExtra(seq, ""));
  EXPECT_EQ(MustGet(seq).extra, "");
}

TEST_P(WalStoreConformance, UnresolvedListsPendingEntriesInSeqOrder) {
  const int64_t a = Append("c");
  const int64_t b = Append("c");
  const int64_t c = Append("c");
  const int64_t d = Append("c");
  Commit(b, "primary");
  Reject(d, "primary");
  Result<std::vector<WalEntry>> r = store_->Unresolved();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Seqs(*r), (std::vector<int64_t>{a, c}));
}

TEST_P(WalStoreConformance, UnresolvedListsEntriesWithoutTheirBodies) {
  WalEntry entry = Entry("c");
  entry.writer = "host-2:7:12345678";  // recovery needs it to leave a live writer's entries
  const int64_t a = Append(entry);
  Result<std::vector<WalEntry>> r = store_->Unresolved();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  const WalEntry whole = MustGet(a);
  ASSERT_FALSE(whole.body.empty());
  const WalEntry& head = (*r)[0];
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.seq, a);
  EXPECT_EQ(head.collection, whole.collection);
  EXPECT_EQ(head.kind, whole.kind);
  EXPECT_EQ(head.method, whole.method);
  EXPECT_EQ(head.path, whole.path);
  EXPECT_EQ(head.created_ms, whole.created_ms);
  EXPECT_EQ(head.state, EntryState::kPending);
  EXPECT_EQ(head.writer, "host-2:7:12345678");
}

TEST_P(WalStoreConformance, BacklogCountsAndOldest) {
  const int64_t a = Append("c", 1000);
  const int64_t b = Append("c", 3000);
  const int64_t c = Append("c", 2000);
  const int64_t d = Append("c", 500);  // stays pending: not backlog
  (void)d;
  Commit(a, "primary");
  Commit(b, "primary");
  Commit(c, "replica");
  ASSERT_OK(store_->MarkApplied(a, "replica"));
  Result<std::vector<InstanceBacklog>> r = store_->Backlog({"replica", "primary", "idle"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].instance, "replica");
  EXPECT_EQ((*r)[0].entries, 1);  // b
  EXPECT_EQ((*r)[0].oldest_created_ms, 3000);
  EXPECT_EQ((*r)[1].instance, "primary");
  EXPECT_EQ((*r)[1].entries, 1);  // c
  EXPECT_EQ((*r)[1].oldest_created_ms, 2000);
  EXPECT_EQ((*r)[2].instance, "idle");
  EXPECT_EQ((*r)[2].entries, 3);
  EXPECT_EQ((*r)[2].oldest_created_ms, 1000);
  ASSERT_OK(store_->MarkApplied(b, "replica"));
  r = store_->Backlog({"replica"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].entries, 0);
  EXPECT_EQ((*r)[0].oldest_created_ms, 0);
}

TEST_P(WalStoreConformance, CountByStateHasEveryState) {
  Result<std::map<EntryState, int64_t>> r = store_->CountByState();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::map<EntryState, int64_t>{
                    {EntryState::kPending, 0}, {EntryState::kCommitted, 0},
                    {EntryState::kRejected, 0}}));
  const int64_t a = Append("c");
  const int64_t b = Append("c");
  Append("c");
  Commit(a, "primary");
  Reject(b, "primary");
  Append("c");
  r = store_->CountByState();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::map<EntryState, int64_t>{
                    {EntryState::kPending, 2}, {EntryState::kCommitted, 1},
                    {EntryState::kRejected, 1}}));
}

TEST_P(WalStoreConformance, PruneDeletesOnlyOldEntriesAppliedEverywhereOrRejected) {
  const std::vector<std::string> instances = {"primary", "replica"};
  const int64_t applied_all = Append("c", 1000);
  const int64_t applied_some = Append("c", 1000);
  const int64_t rejected = Append("c", 1000);
  const int64_t pending = Append("c", 1000);
  const int64_t new_applied = Append("c", 9000);
  const int64_t new_rejected = Append("c", 9000);
  Commit(applied_all, "primary");
  ASSERT_OK(store_->MarkApplied(applied_all, "replica"));
  Commit(applied_some, "primary");
  Reject(rejected, "primary");
  Commit(new_applied, "primary");
  ASSERT_OK(store_->MarkApplied(new_applied, "replica"));
  Reject(new_rejected, "primary");

  Result<int64_t> pruned = store_->Prune(5000, instances);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 2);
  EXPECT_EQ(store_->Get(applied_all).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(rejected).status().code(), StatusCode::kNotFound);
  for (int64_t kept : {applied_some, pending, new_applied, new_rejected}) {
    EXPECT_TRUE(store_->Get(kept).ok()) << kept;
  }
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{applied_some});
  // Pruned entries leave no backlog behind on instances outside `instances` either.
  EXPECT_EQ(Pending("idle"), (std::vector<int64_t>{applied_some, new_applied}));
  EXPECT_EQ(BacklogOf("idle"), 2);
  pruned = store_->Prune(5000, instances);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 0);
  // Seqs are never reused after a prune.
  EXPECT_GT(Append("c"), new_rejected);
}

TEST_P(WalStoreConformance, CollectionIdentityPutReplaceRemoveLoad) {
  CollectionIdentity a{"t", "db", "alpha", "id-a1", {{"primary", "id-a1"}, {"replica", "id-a2"}}};
  CollectionIdentity b{"t", "db", "beta", "id-b1", {{"primary", "id-b1"}}};
  CollectionIdentity c{"t", "db0", "zeta", "id-c1", {}};
  ASSERT_OK(store_->PutCollection(b));
  ASSERT_OK(store_->PutCollection(a));
  ASSERT_OK(store_->PutCollection(c));
  Result<std::vector<CollectionIdentity>> r = store_->LoadCollections();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].name, "alpha");  // ordered by (tenant, database, name)
  EXPECT_EQ((*r)[0].canonical_id, "id-a1");
  EXPECT_EQ((*r)[0].ids, a.ids);
  EXPECT_EQ((*r)[1].name, "beta");
  EXPECT_EQ((*r)[2].name, "zeta");
  EXPECT_EQ((*r)[2].database, "db0");
  EXPECT_TRUE((*r)[2].ids.empty());

  // Replace: the id map is replaced as a whole, not merged.
  a.ids = {{"replica", "id-a3"}};
  a.canonical_id = "id-a9";
  ASSERT_OK(store_->PutCollection(a));
  ASSERT_OK(store_->RemoveCollection("t", "db", "beta"));
  ASSERT_OK(store_->RemoveCollection("t", "db", "absent"));
  r = store_->LoadCollections();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "alpha");
  EXPECT_EQ((*r)[0].canonical_id, "id-a9");
  EXPECT_EQ((*r)[0].ids, (std::map<std::string, std::string>{{"replica", "id-a3"}}));
  EXPECT_EQ((*r)[1].name, "zeta");
}

TEST_P(WalStoreConformance, BlockUnblockList) {
  BlockedCollection b1{"replica", "t", "db", "c1", 10, 111, "400 bad"};
  BlockedCollection b2{"replica", "t", "db", "c2", 11, 222, "422 no"};
  BlockedCollection b3{"primary", "t", "db", "c1", 12, 333, "400 other"};
  ASSERT_OK(store_->Block(b2));
  ASSERT_OK(store_->Block(b1));
  ASSERT_OK(store_->Block(b3));
  b1.seq = 20;
  b1.error = "still bad";
  ASSERT_OK(store_->Block(b1));  // replaces
  Result<std::vector<BlockedCollection>> r = store_->ListBlocked();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].instance, "primary");  // ordered by (instance, tenant, database, collection)
  EXPECT_EQ((*r)[1].collection, "c1");
  EXPECT_EQ((*r)[1].seq, 20);
  EXPECT_EQ((*r)[1].since_ms, 111);
  EXPECT_EQ((*r)[1].error, "still bad");
  EXPECT_EQ((*r)[2].collection, "c2");
  EXPECT_EQ((*r)[2].tenant, "t");
  EXPECT_EQ((*r)[2].database, "db");
  ASSERT_OK(store_->Unblock("replica", "t", "db", "c1"));
  ASSERT_OK(store_->Unblock("replica", "t", "db", "absent"));
  r = store_->ListBlocked();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].instance, "primary");
  EXPECT_EQ((*r)[1].collection, "c2");
}

TEST_P(WalStoreConformance, ClearEmptiesEverythingButNeverReusesSeq) {
  const int64_t a = Append("c");
  Commit(a, "primary");
  ASSERT_OK(store_->PutCollection({"t", "db", "c", "id", {{"primary", "id"}}}));
  ASSERT_OK(store_->Block({"replica", "t", "db", "c", a, 1, "x"}));
  ASSERT_OK(store_->Clear());
  EXPECT_EQ(store_->Get(a).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{});
  EXPECT_EQ(BacklogOf("replica"), 0);  // and the instances stay registered
  Result<std::vector<CollectionIdentity>> cols = store_->LoadCollections();
  ASSERT_TRUE(cols.ok());
  EXPECT_TRUE(cols->empty());
  Result<std::vector<BlockedCollection>> blocked = store_->ListBlocked();
  ASSERT_TRUE(blocked.ok());
  EXPECT_TRUE(blocked->empty());
  EXPECT_GT(Append("c"), a);
}

TEST_P(WalStoreConformance, EverythingSurvivesCloseAndReopen) {
  std::vector<WalEntry> batch = {Entry("c", std::string("a\0b", 3)), Entry("c"), Entry("d")};
  ASSERT_OK(store_->Append(&batch));
  Commit(batch[0].seq, "primary");
  ASSERT_OK(store_->MarkApplied(batch[0].seq, "replica"));
  Commit(batch[1].seq, "primary");
  ASSERT_OK(store_->SetExtra(batch[1].seq, "{\"k\":1}"));
  ASSERT_OK(store_->PutCollection({"t", "db", "c", "id1", {{"primary", "id1"}}}));
  ASSERT_OK(store_->Block({"replica", "t", "db", "c", 5, 6, "e"}));
  Reopen();
  EXPECT_EQ(MustGet(batch[0].seq).body, std::string("a\0b", 3));
  EXPECT_EQ(MustGet(batch[1].seq).extra, "{\"k\":1}");
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{batch[1].seq});
  Result<std::vector<WalEntry>> unresolved = store_->Unresolved();
  ASSERT_TRUE(unresolved.ok());
  EXPECT_EQ(Seqs(*unresolved), std::vector<int64_t>{batch[2].seq});
  Result<std::vector<CollectionIdentity>> cols = store_->LoadCollections();
  ASSERT_TRUE(cols.ok());
  ASSERT_EQ(cols->size(), 1u);
  EXPECT_EQ((*cols)[0].ids.at("primary"), "id1");
  Result<std::vector<BlockedCollection>> blocked = store_->ListBlocked();
  ASSERT_TRUE(blocked.ok());
  EXPECT_EQ(blocked->size(), 1u);
  EXPECT_GT(Append("c"), batch[2].seq);
}

TEST_P(WalStoreConformance, ConcurrentAppendsGetDistinctIncreasingSeqs) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 40;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread;) {
        const int n = std::min(1 + i % 3, kPerThread - i);
        std::vector<WalEntry> batch;
        for (int k = 0; k < n; ++k) {
          batch.push_back(Entry("c" + std::to_string(t), std::to_string(t) + ":" +
                                                              std::to_string(i + k)));
        }
        if (!store_->Append(&batch).ok()) {
          ++failures;
          return;
        }
        for (const WalEntry& e : batch) seqs[t].push_back(e.seq);
        i += n;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  std::set<int64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seqs[t].size(), static_cast<size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(seqs[t].begin(), seqs[t].end()));
    for (int i = 0; i < kPerThread; ++i) {
      all.insert(seqs[t][i]);
      EXPECT_EQ(MustGet(seqs[t][i]).body, std::to_string(t) + ":" + std::to_string(i));
    }
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

// Several handles on one storage (several chroma-ha processes sharing one database, §8).
TEST_P(WalStoreConformance, HandlesOnOneStorageShareOneLog) {
  std::unique_ptr<WalStore> other = backend_->Connect();
  ASSERT_OK(other->Open());
  std::vector<int64_t> seqs;
  for (int i = 0; i < 6; ++i) {
    WalStore& s = i % 2 ? *other : *store_;
    std::vector<WalEntry> batch = {Entry("c", std::to_string(i))};
    ASSERT_OK(s.Append(&batch));
    seqs.push_back(batch[0].seq);
    ASSERT_OK(s.SetOutcome(batch[0].seq, EntryState::kCommitted, "primary", 1, ""));
  }
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  EXPECT_EQ(std::set<int64_t>(seqs.begin(), seqs.end()).size(), seqs.size());
  Result<std::vector<WalEntry>> seen = other->PendingFor("replica", 0, 100);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(Seqs(*seen), seqs);
  ASSERT_OK(other->MarkApplied(seqs[0], "replica"));
  EXPECT_EQ(Pending("replica").size(), seqs.size() - 1);
}

TEST_P(WalStoreConformance, ConcurrentOpenOfFreshStorage) {
  std::unique_ptr<Backend> fresh;
  {
    Result<std::unique_ptr<Backend>> b = GetParam().make();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    fresh = std::move(b).value();
  }
  constexpr int kHandles = 4;
  std::vector<std::unique_ptr<WalStore>> handles;
  for (int i = 0; i < kHandles; ++i) handles.push_back(fresh->Connect());
  std::vector<Status> results(kHandles);
  std::vector<std::thread> threads;
  for (int i = 0; i < kHandles; ++i) {
    threads.emplace_back([&, i] { results[i] = handles[i]->Open(); });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<WalEntry> batch = {Entry("c")};
  ASSERT_OK(handles[0]->Append(&batch));
  EXPECT_TRUE(handles[kHandles - 1]->Get(batch[0].seq).ok());
}

TEST_P(WalStoreConformance, UnregisteredInstanceIsRefused) {
  Commit(Append("c"), "primary");
  EXPECT_EQ(store_->PendingFor("nobody", 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Backlog({"replica", "nobody"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RegisterInstances({std::string("bad\0name", 8)}).code(),
            StatusCode::kInvalidArgument);
  ASSERT_OK(store_->RegisterInstances({"nobody"}));
  EXPECT_EQ(BacklogOf("nobody"), 1);
}

TEST_P(WalStoreConformance, RegisteringANewInstanceBackfillsWhatItHasNotApplied) {
  const int64_t from_primary = Append("c", 1000);
  const int64_t from_late = Append("c", 2000);
  const int64_t applied_on_late = Append("c", 3000);
  const int64_t rejected = Append("c", 4000);
  const int64_t pending = Append("c", 5000);
  Commit(from_primary, "primary");
  Commit(from_late, "late");  // a failover write to the instance being registered
  Commit(applied_on_late, "primary");
  ASSERT_OK(store_->MarkApplied(applied_on_late, "late"));  // marked before it registered
  Reject(rejected, "primary");
  EXPECT_EQ(store_->PendingFor("late", 0, 10).status().code(), StatusCode::kInvalidArgument);

  ASSERT_OK(store_->RegisterInstances({"primary", "late"}));
  EXPECT_EQ(Pending("late"), std::vector<int64_t>{from_primary});
  Result<std::vector<InstanceBacklog>> b = store_->Backlog({"late"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)[0].entries, 1);
  EXPECT_EQ((*b)[0].oldest_created_ms, 1000);
  // Registering again changes nothing (the applied mark below is not undone by a backfill).
  ASSERT_OK(store_->MarkApplied(from_primary, "late"));
  ASSERT_OK(store_->RegisterInstances({"late"}));
  EXPECT_EQ(Pending("late"), std::vector<int64_t>{});
  // Entries committed from now on are pending there too; other instances are unaffected.
  Commit(pending, "primary");
  EXPECT_EQ(Pending("late"), std::vector<int64_t>{pending});
  EXPECT_EQ(Pending("replica"), (std::vector<int64_t>{from_primary, from_late, applied_on_late,
                                                      pending}));
  EXPECT_EQ(Pending("primary"), std::vector<int64_t>{from_late});
  // A registration is stored: another handle (another process) sees it without registering.
  Reopen();
  EXPECT_EQ(Pending("late"), std::vector<int64_t>{pending});
}

TEST_P(WalStoreConformance, AppendOfCommittedEntriesRecordsTheirBacklog) {
  std::vector<WalEntry> batch = {Entry("c"), Entry("c"), Entry("c")};
  batch[0].state = EntryState::kCommitted;
  batch[0].origin = "primary";
  batch[2].state = EntryState::kCommitted;
  batch[2].origin = "replica";
  ASSERT_OK(store_->Append(&batch));
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{batch[0].seq});
  EXPECT_EQ(Pending("primary"), std::vector<int64_t>{batch[2].seq});
  EXPECT_EQ(Pending("idle"), (std::vector<int64_t>{batch[0].seq, batch[2].seq}));
}

TEST_P(WalStoreConformance, OutcomeChangesMoveTheBacklog) {
  const int64_t a = Append("c");
  Commit(a, "primary");
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{a});
  // Committed again with another origin (recovery found it applied there): applied on both.
  Commit(a, "replica");
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{});
  EXPECT_EQ(Pending("primary"), std::vector<int64_t>{});
  EXPECT_EQ(Pending("idle"), std::vector<int64_t>{a});
  // No longer committed: replayed nowhere.
  Reject(a, "primary");
  EXPECT_EQ(Pending("idle"), std::vector<int64_t>{});
  EXPECT_EQ(BacklogOf("idle"), 0);
  ASSERT_OK(store_->SetOutcome(a, EntryState::kPending, "", 2, ""));
  EXPECT_EQ(Pending("idle"), std::vector<int64_t>{});
}

TEST_P(WalStoreConformance, MarkAppliedBatchIsOneAllOrNothingStep) {
  std::vector<int64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    seqs.push_back(Append("c"));
    Commit(seqs.back(), "primary");
  }
  ASSERT_OK(store_->MarkAppliedBatch({}, "replica"));
  ASSERT_OK(store_->MarkAppliedBatch({seqs[0], seqs[1], seqs[1], seqs[2]}, "replica"));
  EXPECT_EQ(Pending("replica"), (std::vector<int64_t>{seqs[3], seqs[4]}));
  EXPECT_EQ(BacklogOf("replica"), 2);
  EXPECT_EQ(Pending("replica2").size(), 5u);
  ASSERT_OK(store_->MarkAppliedBatch({seqs[2], seqs[3]}, "replica"));  // idempotent for seqs[2]
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{seqs[4]});
  // One unknown seq: kNotFound and nothing of the batch is marked.
  const Status s = store_->MarkAppliedBatch({seqs[0], seqs[4], seqs[4] + 1000}, "replica2");
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_EQ(Pending("replica2").size(), 5u);
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{seqs[4]});
  EXPECT_EQ(store_->MarkAppliedBatch({seqs[0]}, std::string("\xff")).code(),
            StatusCode::kInvalidArgument);
  // Marks before the outcome is known are remembered, as with MarkApplied.
  const int64_t later = Append("c");
  ASSERT_OK(store_->MarkAppliedBatch({later}, "replica"));
  Commit(later, "primary");
  EXPECT_EQ(Pending("replica"), std::vector<int64_t>{seqs[4]});
  EXPECT_EQ(Pending("replica2").back(), later);
}

// The backlog is what is left to do: applied entries, however many, are not visited. (A
// behavioural proxy for "PendingFor costs O(backlog)": a page after many applied entries
// starts at the first unapplied one.)
TEST_P(WalStoreConformance, PendingForSkipsAppliedEntriesWhateverTheirNumber) {
  std::vector<WalEntry> batch;
  for (int i = 0; i < 300; ++i) {
    WalEntry e = Entry("c");
    e.state = EntryState::kCommitted;
    e.origin = "primary";
    batch.push_back(e);
  }
  ASSERT_OK(store_->Append(&batch));
  std::vector<int64_t> seqs = Seqs(batch);
  ASSERT_OK(store_->MarkAppliedBatch(std::vector<int64_t>(seqs.begin(), seqs.end() - 2),
                                     "replica"));
  EXPECT_EQ(Pending("replica", 0, 1), std::vector<int64_t>{seqs[298]});
  EXPECT_EQ(BacklogOf("replica"), 2);
  EXPECT_EQ(BacklogOf("replica2"), 300);
}

INSTANTIATE_TEST_SUITE_P(Stores, WalStoreConformance, ::testing::ValuesIn(AllBackends()),
                         [](const ::testing::TestParamInfo<BackendParam>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace chroma_ha::conformance
