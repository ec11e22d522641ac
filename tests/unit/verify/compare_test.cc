#include "verify/compare.h"

#include <gtest/gtest.h>

#include <string>

namespace chroma_ha {
namespace {

using json = nlohmann::json;

// A get response page with one record per id: embeddings, documents, metadatas, uris.
json Page(const json& ids, const json& embeddings, const json& documents, const json& metadatas) {
  json uris = json::array();
  for (std::size_t i = 0; i < ids.size(); ++i) uris.push_back(nullptr);
  return {{"ids", ids},
          {"embeddings", embeddings},
          {"documents", documents},
          {"metadatas", metadatas},
          {"uris", uris},
          {"include", {"embeddings", "documents", "metadatas", "uris"}}};
}

const json kBase = Page({"a", "b"}, {{1.0, 0.5}, {0.25, 0.0}}, {"doc a", "doc b"},
                        {{{"n", 1}, {"tag", "x"}}, nullptr});

RecordSet Records(const json& page) {
  RecordSet out;
  auto n = AddGetPage(page, &out);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return out;
}

Differences CompareRecordPages(const json& a, const json& b) {
  Differences d;
  CompareRecords("t/d/c", Records(a), Records(b), "A", "B", &d);
  return d;
}

TEST(VerifyCompareTest, IdenticalRecordsConverge) {
  Differences d = CompareRecordPages(kBase, kBase);
  EXPECT_TRUE(d.empty());
}

TEST(VerifyCompareTest, MissingIdIsNamed) {
  json b = Page({"a"}, {{1.0, 0.5}}, {"doc a"}, {{{"n", 1}, {"tag", "x"}}});
  Differences d = CompareRecordPages(kBase, b);
  ASSERT_EQ(d.count(), 1);
  EXPECT_EQ(d.lines()[0], "t/d/c id \"b\" only on A");
}

TEST(VerifyCompareTest, DifferentDocument) {
  json b = kBase;
  b["documents"][1] = "doc B";
  Differences d = CompareRecordPages(kBase, b);
  ASSERT_EQ(d.count(), 1);
  EXPECT_NE(d.lines()[0].find("id \"b\" document"), std::string::npos) << d.lines()[0];
}

TEST(VerifyCompareTest, Float32EqualEmbeddingsAreEqual) {
  json a = Page({"a"}, {{0.1, 0.2}}, {"d"}, {nullptr});
  json b = json::parse(R"({"ids":["a"],"embeddings":[[0.10000000149011612, 0.20000000298023224]],
                           "documents":["d"],"metadatas":[null],"uris":[null]})");
  EXPECT_TRUE(CompareRecordPages(a, b).empty());
  // A difference that survives float32 rounding is reported.
  json c = Page({"a"}, {{0.1, 0.2001}}, {"d"}, {nullptr});
  Differences d = CompareRecordPages(a, c);
  ASSERT_EQ(d.count(), 1);
  EXPECT_NE(d.lines()[0].find("embedding"), std::string::npos);
}

TEST(VerifyCompareTest, Base64EmbeddingsEqualNumberArrays) {
  // 1.0f = 00 00 80 3f, 0.5f = 00 00 00 3f (little-endian) -> "AACAPwAAAD8="
  json a = Page({"a"}, {{1.0, 0.5}}, {"d"}, {nullptr});
  json b = Page({"a"}, {"AACAPwAAAD8="}, {"d"}, {nullptr});
  EXPECT_TRUE(CompareRecordPages(a, b).empty());
  RecordSet bad;
  EXPECT_FALSE(AddGetPage(Page({"a"}, {"AAC"}, {"d"}, {nullptr}), &bad).ok());
}

TEST(VerifyCompareTest, MetadataKeyOrderIgnoredValuesCompared) {
  json a = json::parse(R"({"ids":["a"],"metadatas":[{"x":1,"y":"z"}]})");
  json b = json::parse(R"({"ids":["a"],"metadatas":[{"y":"z","x":1}]})");
  EXPECT_TRUE(CompareRecordPages(a, b).empty());
  json c = json::parse(R"({"ids":["a"],"metadatas":[{"y":"z","x":2}]})");
  Differences d = CompareRecordPages(a, c);
  ASSERT_EQ(d.count(), 1);
  EXPECT_NE(d.lines()[0].find("metadata"), std::string::npos);
}

TEST(VerifyCompareTest, UriAndNulBytesCompared) {
  json a = json::parse(R"({"ids":["a\u0000b"],"documents":["x\u0000y"],"uris":["s3://a"]})");
  json b = a;
  EXPECT_TRUE(CompareRecordPages(a, b).empty());
  b["uris"][0] = "s3://b";
  b["documents"][0] = "x\u0000z";
  EXPECT_EQ(CompareRecordPages(a, b).count(), 2);
}

TEST(VerifyCompareTest, DimensionDifference) {
  json a = Page({"a"}, {{1.0, 0.5}}, {"d"}, {nullptr});
  json b = Page({"a"}, {{1.0, 0.5, 0.0}}, {"d"}, {nullptr});
  Differences d = CompareRecordPages(a, b);
  EXPECT_EQ(d.count(), 2);  // the dimension and the embedding
  EXPECT_NE(d.lines()[0].find("dimension: A 2 vs B 3"), std::string::npos) << d.lines()[0];
}

TEST(VerifyCompareTest, CollectionMissingOnOneSide) {
  Differences d;
  CompareNames("collection", "t/d", {"c1", "c2"}, {"c1"}, "primary", "replica", &d);
  ASSERT_EQ(d.count(), 1);
  EXPECT_EQ(d.lines()[0], "collection t/d/c2 only on primary");
}

TEST(VerifyCompareTest, ExtraDatabase) {
  Differences d;
  CompareNames("database", "t", {"default_database"}, {"default_database", "extra"}, "primary",
               "replica", &d);
  ASSERT_EQ(d.count(), 1);
  EXPECT_EQ(d.lines()[0], "database t/extra only on replica");
}

TEST(VerifyCompareTest, CollectionObjectsIgnoreIdsAndKeyOrder) {
  json a = json::parse(R"({"id":"1","name":"c","metadata":{"p":1,"q":[1,2]},
      "configuration_json":{"hnsw":{"space":"l2","ef_search":100}},"log_position":3,"version":1})");
  json b = json::parse(R"({"id":"2","name":"c","metadata":{"q":[1,2],"p":1.0},
      "configuration_json":{"hnsw":{"ef_search":100,"space":"l2"}},"log_position":0,"version":0})");
  Differences d;
  CompareCollectionObjects("t/d/c", a, b, "A", "B", &d);
  EXPECT_TRUE(d.empty()) << d.lines()[0];
  b["metadata"]["p"] = 2;
  b["configuration_json"]["hnsw"]["space"] = "cosine";
  CompareCollectionObjects("t/d/c", a, b, "A", "B", &d);
  EXPECT_EQ(d.count(), 2);
}

TEST(VerifyCompareTest, NullAndEmptyCollectionMetadataAreEqual) {
  Differences d;
  CompareCollectionObjects("t/d/c", json::parse(R"({"metadata":null})"),
                           json::parse(R"({"metadata":{}})"), "A", "B", &d);
  EXPECT_TRUE(d.empty());
}

TEST(VerifyCompareTest, DifferencesAreBoundedButCounted) {
  Differences d(3);
  for (int i = 0; i < 10; ++i) d.Add("diff " + std::to_string(i));
  EXPECT_EQ(d.count(), 10);
  EXPECT_EQ(d.lines().size(), 3u);
}

TEST(VerifyCompareTest, NotAGetResponse) {
  RecordSet r;
  EXPECT_FALSE(AddGetPage(json::parse(R"({"error":"x"})"), &r).ok());
  EXPECT_FALSE(AddGetPage(json::parse(R"([1,2])"), &r).ok());
  EXPECT_FALSE(AddGetPage(json::parse(R"({"ids":[1]})"), &r).ok());
}

}  // namespace
}  // namespace chroma_ha
