// ScanWriteBody: validates a write body in one streaming pass and reads the ids it touches.
#include "server/write_footprint.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "text/json_scan.h"

namespace chroma_ha {
namespace {

using Ids = std::vector<std::string>;

Ids IdsOf(const ScannedBody& s) { return s.footprint ? *s.footprint : Ids{"<whole>"}; }

TEST(WriteFootprintTest, RecordWritesByIdsHaveTheirIds) {
  const std::string add = R"({"ids":["b","a"],"embeddings":[[1,2],[3,4]],"metadatas":[{"ids":["z"]},null]})";
  for (WriteKind k : {WriteKind::kAdd, WriteKind::kUpsert, WriteKind::kUpdate, WriteKind::kDelete}) {
    ScannedBody s = ScanWriteBody(add, k);
    EXPECT_TRUE(s.valid_json);
    EXPECT_EQ(IdsOf(s), (Ids{"a", "b"}));  // nested "ids" keys are not the record ids
  }
  EXPECT_EQ(IdsOf(ScanWriteBody(R"({"ids":["a"],"where":null})", WriteKind::kDelete)), Ids{"a"});
}

TEST(WriteFootprintTest, AnythingElseCoversTheWholeCollection) {
  const std::vector<std::string> bodies = {
      R"({"ids":["a"],"where":{"k":1}})",           // a delete by ids AND where
      R"({"ids":["a"],"where_document":{"$contains":"x"}})",
      R"({"where":{"k":1}})",                         // no ids
      R"({"ids":[]})",                                // empty
      R"({"ids":["a",1]})",                           // a non-string id
      R"({"ids":["a",["b"]]})",                       // nested
      R"({"ids":"a"})",                               // not an array
      R"(["a"])",                                     // not an object
  };
  for (const auto& b : bodies) {
    ScannedBody s = ScanWriteBody(b, WriteKind::kDelete);
    EXPECT_TRUE(s.valid_json) << b;
    EXPECT_EQ(s.footprint, nullptr) << b;
  }
  EXPECT_EQ(ScanWriteBody(R"({"ids":["a"]})", WriteKind::kModifyCollection).footprint, nullptr);
}

TEST(WriteFootprintTest, OtherMembersDoNotMatterAndRepeatedIdsPastTheLimitCoverAll) {
  std::string body = "{";
  for (int i = 0; i < 1000; ++i) body += "\"m" + std::to_string(i) + "\":[1,2],";
  body += "\"ids\":[\"x\"]}";
  EXPECT_EQ(IdsOf(ScanWriteBody(body, WriteKind::kAdd)), Ids{"x"});

  std::string repeated = "{";
  for (std::size_t i = 0; i <= kMaxListedMembers; ++i) repeated += "\"ids\":[\"x\"],";
  repeated.back() = '}';
  ScannedBody s = ScanWriteBody(repeated, WriteKind::kAdd);
  EXPECT_TRUE(s.valid_json);
  EXPECT_EQ(s.footprint, nullptr);
}

TEST(WriteFootprintTest, InvalidJsonIsReported) {
  for (const std::string b : {"", "{", R"({"ids":["a"]} x)", "{\"ids\":[\"\xff\"]}"}) {
    EXPECT_FALSE(ScanWriteBody(b, WriteKind::kAdd).valid_json) << b;
  }
}

// Adds and upserts leave the layout of their record columns for replay coalescing
// (sync/validated_bodies.h); other writes and invalid bodies none.
TEST(WriteFootprintTest, AddsAndUpsertsLeaveTheirLayout) {
  const std::string add = R"({"ids":["a"],"embeddings":[[1,2]],"documents":null,"x":1})";
  for (WriteKind k : {WriteKind::kAdd, WriteKind::kUpsert}) {
    ScannedBody s = ScanWriteBody(add, k);
    ASSERT_TRUE(s.layout.has_value());
    EXPECT_EQ(s.layout->size, add.size());
    EXPECT_EQ(s.layout->member_count, 4u);
    ASSERT_EQ(s.layout->columns.size(), 3u);
    EXPECT_EQ(add.substr(s.layout->columns[1].offset, s.layout->columns[1].length), "[[1,2]]");
    EXPECT_EQ(s.layout->columns[1].elements, 1u);
  }
  EXPECT_FALSE(ScanWriteBody(add, WriteKind::kUpdate).layout.has_value());
  EXPECT_FALSE(ScanWriteBody(add, WriteKind::kDelete).layout.has_value());
  EXPECT_FALSE(ScanWriteBody(R"({"ids":["a"],)", WriteKind::kAdd).layout.has_value());
}

}  // namespace
}  // namespace chroma_ha
