// The resync engine against two in-memory Chromas and the memory WAL store: paging, what is
// persisted, resuming from the recorded page, removal of what only the target has, the
// target's old replay backlog, and failure reasons.
#include "resync/resync_engine.h"

#include <gtest/gtest.h>

#include <set>

#include <optional>

#include "fakes/fake_clock.h"
#include "fakes/fake_instance.h"
#include "fakes/memory_store.h"
#include "mini_chroma.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;

class ResyncEngineTest : public ::testing::Test {
 protected:
  ResyncEngineTest()
      : store_({"primary", "replica", "replica2"}, &clock_),
        source_("primary"),
        target_("replica"),
        src_("p", source_),
        dst_("r", target_) {
    EXPECT_TRUE(store_.Open().ok());
  }

  ResyncRecord NewProgress() {
    ResyncRecord p;
    p.instance = "replica";
    p.source = "primary";
    p.state = kResyncRunning;
    p.tenants = {"default_tenant", "t2"};
    p.started_at_ms = clock_.UnixMillis();
    return p;
  }
  // Runs with a fence that is held for `held_steps` persisted steps (-1: always).
  Status Run(ResyncRecord& p, int held_steps = -1, int page_size = 100) {
    int steps = 0;
    ResyncEngine::Options options;
    options.page_size = page_size;
    options.retry_delay = std::chrono::milliseconds(1);
    ResyncEngine engine(
        store_, source_, target_, nullptr, options,
        [&]() -> std::optional<Fence> {
          if (held_steps >= 0 && steps++ >= held_steps) return std::nullopt;
          return Fence();
        },
        clock_);
    return engine.Run(p, nullptr);
  }
  ResyncRecord Stored() {
    auto all = store_.LoadResyncs();
    EXPECT_TRUE(all.ok());
    auto p = FromStoreText(all->at("replica"));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return *p;
  }
  void ExpectSameData() {
    std::lock_guard<std::mutex> a(src_.mu), b(dst_.mu);
    ASSERT_EQ(src_.tenants().size(), dst_.tenants().size());
    for (auto& [t, dbs] : src_.tenants()) {
      ASSERT_EQ(dbs.size(), dst_.tenants()[t].size()) << t;
      for (auto& [d, cols] : dbs) {
        auto& other = dst_.tenants()[t][d];
        ASSERT_EQ(cols.size(), other.size()) << t << "/" << d;
        for (auto& [name, c] : cols) {
          ASSERT_TRUE(other.count(name)) << name;
          EXPECT_EQ(c.metadata, other[name].metadata) << name;
          EXPECT_EQ(c.configuration, other[name].configuration) << name;
          EXPECT_EQ(c.records, other[name].records) << name;
        }
      }
    }
  }
  void Seed() {
    src_.Fill(src_.Make("default_tenant", "default_database", "big", json{{"k", "v"}}), 250);
    src_.Fill(src_.Make("default_tenant", "zdb", "small"), 7);
    src_.Make("t2", "db3", "empty", json{{"e", 1}}).configuration = {{"hnsw", {{"space", "ip"}}}};
    src_.Fill(src_.Make("t2", "db3", "other"), 100);
  }

  FakeClock clock_;
  MemoryWalStore store_;
  FakeInstance source_, target_;
  MiniChroma src_, dst_;
};

TEST_F(ResyncEngineTest, CopiesEveryTenantDatabaseCollectionAndRecordInPages) {
  Seed();
  ResyncRecord p = NewProgress();
  ASSERT_TRUE(Run(p).ok());
  EXPECT_EQ(p.state, kResyncDone);
  ExpectSameData();
  EXPECT_EQ(dst_.upserts, 3 + 1 + 1);  // 250 in pages of 100; 7; 100 (a full page, then none)
  const ResyncRecord stored = Stored();
  EXPECT_EQ(stored.state, kResyncDone);
  EXPECT_EQ(stored.collections_done(), 4);
  EXPECT_EQ(stored.collections_total(), 4);
  EXPECT_EQ(stored.records_done, 357);
  EXPECT_EQ(stored.records_total, 357);
  EXPECT_EQ(stored.records_recopied, 0);
  EXPECT_GT(stored.finished_at_ms, 0);
}

TEST_F(ResyncEngineTest, ResumesFromTheLastRecordedPage) {
  Seed();
  ResyncRecord p = NewProgress();
  // Fenced steps: the prepare (twice), then one per page and one per finished collection.
  // Stop after the prepare and two pages of "big": the third page is written, not recorded.
  ASSERT_FALSE(Run(p, 4).ok());
  const ResyncRecord stored = Stored();
  EXPECT_EQ(stored.state, kResyncRunning);
  EXPECT_EQ(stored.next, 0);
  EXPECT_EQ(stored.offset, 200);
  source_.ClearRequests();
  ResyncRecord resumed = Stored();
  ASSERT_TRUE(Run(resumed).ok());
  EXPECT_EQ(resumed.state, kResyncDone);
  ExpectSameData();
  EXPECT_EQ(resumed.records_recopied, 50);  // the unrecorded last page of "big"
  EXPECT_EQ(resumed.records_done, 357);
  for (const HttpRequest& r : source_.requests()) {
    const json body = json::parse(r.body.empty() ? "{}" : r.body);
    // (The id-only listing after the pages, include [], reads no record.)
    EXPECT_FALSE(r.target.ends_with("/get") && body.value("offset", -1) >= 0 &&
                 body.value("offset", -1) < 200 && r.target.find("/p1/") != std::string::npos &&
                 !body.value("include", json::array()).empty())
        << "recopied a recorded page: " << r.body;
  }
}

TEST_F(ResyncEngineTest, ACollectionAlreadyDoneIsNotCopiedAgain) {
  Seed();
  ResyncRecord p = NewProgress();
  ASSERT_FALSE(Run(p, 6).ok());  // prepare, 3 pages and the end of "big"
  ASSERT_EQ(Stored().next, 1);
  const int upserts = dst_.upserts;
  ResyncRecord resumed = Stored();
  ASSERT_TRUE(Run(resumed).ok());
  EXPECT_EQ(dst_.upserts - upserts, 2);  // "small" and "other" only
  EXPECT_EQ(resumed.records_recopied, 0);
  ExpectSameData();
}

TEST_F(ResyncEngineTest, RemovesWhatOnlyTheTargetHas) {
  Seed();
  dst_.Fill(dst_.Make("default_tenant", "default_database", "big"), 300);  // 50 extra records
  dst_.Make("default_tenant", "default_database", "stray");
  dst_.tenants()["t2"]["stray_db"];
  ResyncRecord p = NewProgress();
  ASSERT_TRUE(Run(p).ok());
  EXPECT_EQ(p.state, kResyncDone);
  ExpectSameData();
  EXPECT_EQ(p.extra_removed, 1 + 1 + 50);
}

// A damaged replica: records altered in ways an upsert does not undo (Chroma merges metadata
// keys and keeps a document the body does not give) end exactly as on the source.
TEST_F(ResyncEngineTest, RecordsTheTargetAlteredEndAsOnTheSource) {
  Seed();
  {
    std::lock_guard<std::mutex> a(src_.mu);
    src_.tenants()["default_tenant"]["default_database"]["big"].records[3].document = nullptr;
  }
  auto& big = dst_.Make("default_tenant", "default_database", "big", json{{"k", "v"}});
  dst_.Fill(big, 250);
  big.records[4].metadata["extra"] = "key";  // a key the source's record lacks
  ResyncRecord p = NewProgress();
  ASSERT_TRUE(Run(p).ok());
  EXPECT_EQ(p.state, kResyncDone);
  ExpectSameData();
}

// A record deleted on the source while its collection is copied shifts the offsets of the pages
// after it: the record that moved into the page already read would be skipped. The copy lists
// the ids of both sides afterwards and copies what the target lacks.
TEST_F(ResyncEngineTest, ARecordDeletedOnTheSourceDuringTheCopySkipsNoOther) {
  Seed();
  bool deleted = false;
  src_.fail = [&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (deleted || !r.target.ends_with("/get") || r.body.find("\"offset\":100") == std::string::npos) {
      return std::nullopt;
    }
    std::lock_guard<std::mutex> lock(src_.mu);
    auto& records = src_.tenants()["default_tenant"]["default_database"]["big"].records;
    records.erase(records.begin());  // r0, on the page already copied
    deleted = true;
    return std::nullopt;
  };
  ResyncRecord p = NewProgress();
  ASSERT_TRUE(Run(p).ok());
  ASSERT_TRUE(deleted);
  EXPECT_EQ(p.state, kResyncDone);
  // r0 stays on the target (its delete would come from the WAL); r100 must not be missing.
  std::lock_guard<std::mutex> a(src_.mu), b(dst_.mu);
  const auto& copied = dst_.tenants()["default_tenant"]["default_database"]["big"].records;
  std::set<std::string> ids;
  for (const auto& rec : copied) ids.insert(rec.id);
  for (const auto& rec : src_.tenants()["default_tenant"]["default_database"]["big"].records) {
    EXPECT_TRUE(ids.count(rec.id)) << rec.id << " was skipped";
  }
}

TEST_F(ResyncEngineTest, DropsTheTargetsBacklogTheCopyCarriesButNotWhatTheSourceLacks) {
  std::vector<WalEntry> batch(3);
  for (auto& e : batch) {
    e.tenant = "default_tenant";
    e.database = "default_database";
    e.collection = "c";
    e.kind = "add";
    e.method = "POST";
    e.path = "/x";
    e.body = "{}";
  }
  ASSERT_TRUE(store_.Append(&batch).ok());
  ASSERT_TRUE(store_.SetOutcome(batch[0].seq, EntryState::kCommitted, "primary", 1, "").ok());
  ASSERT_TRUE(store_.SetOutcome(batch[1].seq, EntryState::kCommitted, "replica2", 1, "").ok());
  ResyncRecord p = NewProgress();
  ASSERT_TRUE(Run(p).ok());
  EXPECT_EQ(p.start_seq, batch[2].seq);
  // The pending entry commits after the start: the replica must still get it.
  ASSERT_TRUE(store_.SetOutcome(batch[2].seq, EntryState::kCommitted, "primary", 1, "").ok());
  auto todo = store_.PendingFor("replica", 0, 100);
  ASSERT_TRUE(todo.ok());
  std::vector<int64_t> seqs;
  for (const WalEntry& e : *todo) seqs.push_back(e.seq);
  // seq 1 is on the primary (carried by the copy); seq 2 (written to replica2) is not yet.
  EXPECT_EQ(seqs, (std::vector<int64_t>{batch[1].seq, batch[2].seq}));
}

TEST_F(ResyncEngineTest, AScopedResyncCopiesOneCollectionAndDropsOnlyItsBacklog) {
  Seed();
  dst_.Fill(dst_.Make("default_tenant", "zdb", "small"), 9);  // 2 extra records
  dst_.Make("t2", "db3", "gone_on_source");
  std::vector<WalEntry> batch(2);
  const char* collections[] = {"small", "big"};
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].tenant = "default_tenant";
    batch[i].database = i == 0 ? "zdb" : "default_database";
    batch[i].collection = collections[i];
    batch[i].kind = "add";
    batch[i].method = "POST";
    batch[i].path = "/x";
    batch[i].body = "{}";
  }
  ASSERT_TRUE(store_.Append(&batch).ok());
  for (const WalEntry& e : batch) {
    ASSERT_TRUE(store_.SetOutcome(e.seq, EntryState::kCommitted, "primary", 1, "").ok());
  }
  ResyncRecord p = NewProgress();
  p.scope = ResyncCollection{"default_tenant", "zdb", "small", 0};
  ASSERT_TRUE(Run(p).ok());
  EXPECT_EQ(p.state, kResyncDone);
  EXPECT_EQ(p.collections_total(), 1);
  EXPECT_EQ(p.records_done, 7);
  {
    std::lock_guard<std::mutex> a(src_.mu), b(dst_.mu);
    EXPECT_EQ(dst_.tenants()["default_tenant"]["zdb"]["small"].records,
              src_.tenants()["default_tenant"]["zdb"]["small"].records);
    EXPECT_FALSE(dst_.tenants()["default_tenant"]["default_database"].count("big"));
  }
  auto todo = store_.PendingFor("replica", 0, 100);
  ASSERT_TRUE(todo.ok());
  ASSERT_EQ(todo->size(), 1u);
  EXPECT_EQ(todo->front().collection, "big");  // another collection's backlog stays
  // A scoped resync of a collection the source does not have deletes it on the target.
  ResyncRecord gone = NewProgress();
  gone.scope = ResyncCollection{"t2", "db3", "gone_on_source", 0};
  ASSERT_TRUE(Run(gone).ok());
  EXPECT_EQ(gone.state, kResyncDone);
  std::lock_guard<std::mutex> b(dst_.mu);
  EXPECT_FALSE(dst_.tenants()["t2"]["db3"].count("gone_on_source"));
}

TEST_F(ResyncEngineTest, ARefusalFailsTheResyncWithItsReason) {
  Seed();
  dst_.fail = [](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (!r.target.ends_with("/upsert")) return std::nullopt;
    return Result<HttpResponse>(FakeInstance::Response(
        400, R"({"error":"InvalidArgumentError","message":"dimension mismatch"})"));
  };
  ResyncRecord p = NewProgress();
  ASSERT_TRUE(Run(p).ok());
  EXPECT_EQ(p.state, kResyncFailed);
  EXPECT_NE(p.reason.find("HTTP 400 InvalidArgumentError: dimension mismatch"), std::string::npos)
      << p.reason;
  EXPECT_EQ(Stored().state, kResyncFailed);
  EXPECT_EQ(PublicJson(Stored(), 0)["reason"], p.reason);
}

TEST_F(ResyncEngineTest, AnInstanceThatStaysSilentFailsAfterTheRetries) {
  Seed();
  int calls = 0;
  src_.fail = [&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (!r.target.ends_with("/get")) return std::nullopt;
    ++calls;
    return Result<HttpResponse>(Status::Unavailable("connection refused"));
  };
  ResyncRecord p = NewProgress();
  ASSERT_TRUE(Run(p).ok());
  EXPECT_EQ(p.state, kResyncFailed);
  EXPECT_EQ(calls, 5);
  EXPECT_NE(p.reason.find("no usable answer after 5 attempts: connection refused"),
            std::string::npos)
      << p.reason;
}

TEST_F(ResyncEngineTest, ATransientErrorIsRetried) {
  Seed();
  int failures = 2;
  src_.fail = [&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (!r.target.ends_with("/get") || failures == 0) return std::nullopt;
    --failures;
    return Result<HttpResponse>(FakeInstance::Response(503, "{}"));
  };
  ResyncRecord p = NewProgress();
  ASSERT_TRUE(Run(p).ok());
  EXPECT_EQ(p.state, kResyncDone);
  ExpectSameData();
}

TEST(UpsertBodyTest, EmbeddingsGoAsExactBase64Float32sAndAllNullFieldsAreLeftOut) {
  const json got = {{"ids", {"a", "b"}},
                    {"embeddings", {{1.0, -2.5}, {0.5, 0.25}}},
                    {"documents", {"x", nullptr}},
                    {"metadatas", {nullptr, nullptr}},
                    {"uris", {nullptr, nullptr}}};
  const std::optional<json> body = UpsertBodyFromGet(got);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ((*body)["embeddings"], json({"AACAPwAAIMA=", "AAAAPwAAgD4="}));
  EXPECT_EQ((*body)["documents"], got["documents"]);
  EXPECT_FALSE(body->contains("metadatas"));
  EXPECT_FALSE(body->contains("uris"));
  EXPECT_FALSE(UpsertBodyFromGet(json{{"embeddings", json::array()}}).has_value());
}

TEST(ResyncRecordTest, RoundTripsThroughTheStoreText) {
  ResyncRecord p;
  p.instance = "replica";
  p.source = "primary";
  p.state = kResyncRunning;
  p.tenants = {"default_tenant"};
  p.plan = {{"default_tenant", "d", "c", 12}};
  p.offset = 5;
  p.records_done = 5;
  p.records_total = 12;
  auto back = FromStoreText(ToStoreText(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(ToStoreText(*back), ToStoreText(p));
  const json pub = PublicJson(p, 2.5);
  EXPECT_EQ(pub["eta_seconds"], 7 / 2.5);
  EXPECT_TRUE(pub["finished_at_ms"].is_null());
  EXPECT_FALSE(FromStoreText("{}").ok());
  p.scope = ResyncCollection{"default_tenant", "d", "c", 0};
  auto scoped = FromStoreText(ToStoreText(p));
  ASSERT_TRUE(scoped.ok());
  ASSERT_TRUE(scoped->scope.has_value());
  EXPECT_EQ(scoped->scope->name, "c");
  EXPECT_EQ(PublicJson(*scoped, 0)["collection"], "default_tenant/d/c");
}

}  // namespace
}  // namespace chroma_ha
