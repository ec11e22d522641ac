#include "verify/anti_entropy.h"

#include <gtest/gtest.h>

#include <string>

#include "fakes/fake_chroma.h"
#include "fakes/fake_clock.h"
#include "verify/digest.h"
#include "verify/repair.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;
const std::string kT = "default_tenant", kD = "default_database";

// Two fake instances holding the same 12 records in "docs", in different internal orders.
class AntiEntropyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (FakeChroma* f : {&a_, &b_}) f->AddCollection(kT, kD, "docs", {{"k", 1}});
    for (int i = 0; i < 12; ++i) {
      a_.Put(kT, kD, "docs", "r" + std::to_string(i), {float(i), 0.5f}, "doc", {{"i", i}});
    }
    for (int i = 11; i >= 0; --i) {
      b_.Put(kT, kD, "docs", "r" + std::to_string(i), {float(i), 0.5f}, "doc", {{"i", i}});
    }
  }

  AntiEntropyChecker Make(bool auto_repair) {
    std::vector<InstanceClient*> instances = {&a_.client(), &b_.client()};
    AntiEntropyChecker::Options options;
    options.auto_repair = auto_repair;
    options.page_size = 5;  // several pages per collection
    return AntiEntropyChecker(
        instances,
        [this](const std::string&, const std::string&,
               const std::string& c) -> Result<std::vector<std::string>> {
          if (c == pending_collection_) return std::vector<std::string>{"b"};
          return std::vector<std::string>{};
        },
        [] { return Result<std::vector<std::string>>(std::vector<std::string>{}); },
        MakeCollectionRepairer(instances, 5), clock_, options);
  }

  FakeChroma a_{"a"}, b_{"b"};
  FakeClock clock_;
  std::string pending_collection_;
};

TEST_F(AntiEntropyTest, SameRecordsInAnotherOrderAreNotDivergent) {
  auto checker = Make(false);
  ASSERT_TRUE(checker.RunOnce().ok());
  const AntiEntropyView v = checker.View();
  EXPECT_EQ(v.passes, 1);
  EXPECT_EQ(v.collections_checked, 1);
  EXPECT_EQ(v.digest_mismatches, 0);
  EXPECT_TRUE(v.divergent.empty());
}

TEST_F(AntiEntropyTest, AlteredAndDeletedRecordsAreFoundAndCounted) {
  b_.Remove(kT, kD, "docs", "r3");
  b_.Put(kT, kD, "docs", "r4", {4.0f, 0.25f}, "doc", {{"i", 4}});  // embedding altered
  auto checker = Make(false);
  ASSERT_TRUE(checker.RunOnce().ok());
  const AntiEntropyView v = checker.View();
  EXPECT_EQ(v.digest_mismatches, 1);
  ASSERT_EQ(v.divergent.size(), 1u);
  EXPECT_EQ(v.divergent[0].instance, "b");
  EXPECT_EQ(v.divergent[0].collection, "docs");
  EXPECT_EQ(v.divergent[0].differences, 2);
  EXPECT_FALSE(v.divergent[0].repair_attempted);
  EXPECT_EQ(b_.writes(), 0);  // no repair without auto_repair
}

TEST_F(AntiEntropyTest, CollectionWithPendingWalEntriesIsSkipped) {
  b_.Remove(kT, kD, "docs", "r3");
  pending_collection_ = "docs";
  auto checker = Make(false);
  ASSERT_TRUE(checker.RunOnce().ok());
  EXPECT_EQ(checker.View().collections_skipped, 1);
  EXPECT_EQ(checker.View().collections_checked, 0);
  EXPECT_TRUE(checker.View().divergent.empty());
}

TEST_F(AntiEntropyTest, AutoRepairMakesTheNextPassClean) {
  b_.Remove(kT, kD, "docs", "r3");
  b_.Put(kT, kD, "docs", "r5", {5.0f, 0.5f}, "changed", {{"i", 5}, {"extra", true}});
  b_.Put(kT, kD, "docs", "intruder", {1.0f, 1.0f});
  b_.AddCollection(kT, kD, "stray");
  a_.AddCollection("tenant2", "db2", "far", {{"x", 2}});
  a_.Put("tenant2", "db2", "far", "f", {1.0f, 2.0f});
  auto checker = Make(true);
  std::vector<Divergence> heard;
  checker.SetListener([&](const std::vector<Divergence>& d) { heard = d; });
  // tenant2 is not known to the tenants function: only default_tenant is walked.
  ASSERT_TRUE(checker.RunOnce().ok());
  AntiEntropyView v = checker.View();
  ASSERT_EQ(v.divergent.size(), 2u);  // docs and stray
  EXPECT_EQ(heard.size(), 2u);
  for (const auto& d : v.divergent) EXPECT_TRUE(d.repaired) << d.repair_error;
  EXPECT_EQ(v.repairs_ok_total, 2);
  EXPECT_EQ(b_.Find(kT, kD, "stray"), nullptr);
  ASSERT_TRUE(checker.RunOnce().ok());
  v = checker.View();
  EXPECT_TRUE(v.divergent.empty());
  EXPECT_EQ(v.divergences_total, 2);
  EXPECT_TRUE(heard.empty());
}

TEST_F(AntiEntropyTest, InactiveProcessDoesNotCheck) {
  b_.Remove(kT, kD, "docs", "r3");
  auto checker = Make(true);
  checker.SetActive([] { return false; });
  ASSERT_TRUE(checker.RunOnce().ok());
  EXPECT_EQ(checker.View().passes, 0);
  EXPECT_TRUE(checker.View().divergent.empty());
  EXPECT_EQ(a_.client().request_count() + b_.client().request_count(), 0u);
  EXPECT_NE(checker.View().last_error.find("recovery lease"), std::string::npos);
}

TEST(RepairerTest, CreatesTenantDatabaseAndCollectionWhereMissing) {
  FakeChroma a("a"), b("b");
  a.AddCollection("tenant2", "db2", "far", {{"x", 2}});
  a.Put("tenant2", "db2", "far", "f", {1.0f, 2.0f}, "doc");
  auto repair = MakeCollectionRepairer({&a.client(), &b.client()}, 100);
  ASSERT_TRUE(repair("b", "tenant2", "db2", "far").ok());
  FakeChroma::Collection* c = b.Find("tenant2", "db2", "far");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->metadata, json({{"x", 2}}));
  ASSERT_EQ(c->records.size(), 1u);
  EXPECT_EQ(c->records[0].second["document"], "doc");
  EXPECT_EQ(repair("nobody", "tenant2", "db2", "far").code(), StatusCode::kNotFound);
}

TEST(DigestTest, EqualForTheSameRecordsInAnyPageOrder) {
  Record r1{std::vector<float>{1.0f, 0.1f}, "d1", json{{"a", 1}}, nullptr};
  Record r2{std::vector<float>{-0.0f, 2.0f}, nullptr, nullptr, "s3://x"};
  json p1 = {{"ids", {"x", "y"}},
             {"embeddings", {{1.0, 0.1}, {-0.0, 2.0}}},
             {"documents", {"d1", nullptr}},
             {"metadatas", {{{"a", 1}}, nullptr}},
             {"uris", {nullptr, "s3://x"}}};
  json p2 = {{"ids", {"y"}},
             {"embeddings", {{0.0, 2.0}}},
             {"documents", {nullptr}},
             {"metadatas", {nullptr}},
             {"uris", {"s3://x"}}};
  json p3 = {{"ids", {"x"}},
             {"embeddings", {{1.0, 0.10000000149011612}}},
             {"documents", {"d1"}},
             {"metadatas", {{{"a", 1}}}},
             {"uris", {nullptr}}};
  CollectionDigest one, two;
  ASSERT_TRUE(AddPageToDigest(p1, &one).ok());
  ASSERT_TRUE(AddPageToDigest(p2, &two).ok());
  ASSERT_TRUE(AddPageToDigest(p3, &two).ok());
  EXPECT_EQ(one, two);
  EXPECT_EQ(one.count, 2);
  EXPECT_EQ(one.hash, RecordHash("x", r1) + RecordHash("y", r2));
}

TEST(DigestTest, EveryFieldChangesTheHash) {
  const Record base{std::vector<float>{1.0f, 2.0f}, "doc", json{{"a", 1}}, "u"};
  const uint64_t h = RecordHash("id", base);
  Record r = base;
  r.embedding->at(1) = 2.5f;
  EXPECT_NE(RecordHash("id", r), h);
  r = base;
  r.embedding.reset();
  EXPECT_NE(RecordHash("id", r), h);
  r = base;
  r.document = "doc2";
  EXPECT_NE(RecordHash("id", r), h);
  r = base;
  r.metadata = json{{"a", 2}};
  EXPECT_NE(RecordHash("id", r), h);
  r = base;
  r.uri = nullptr;
  EXPECT_NE(RecordHash("id", r), h);
  EXPECT_NE(RecordHash("id2", base), h);
  EXPECT_FALSE(AddPageToDigest(json::array(), nullptr).ok());
}

}  // namespace
}  // namespace chroma_ha
