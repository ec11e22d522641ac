// Replay coalescing of bodies the write path validated (sync/validated_bodies.h): their
// remembered layout is used instead of a second scan, only for the seq and the exact length it
// was remembered for, with `ids` always validated again.
#include "sync/validated_bodies.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sync/coalesce.h"
#include "sync_fixture.h"
#include "text/json_scan.h"

namespace chroma_ha {
namespace {

using nlohmann::json;

WalEntry Add(int64_t seq, const std::string& body, const std::string& kind = "add") {
  return CommittedWrite(seq, kind, body, "c");
}

// The layout the write path remembers (server/write_footprint.cc lists the same members).
BodyLayout LayoutFor(const std::string& body) {
  const JsonScan scan = ScanJson(
      body, {"ids", "where", "where_document", "embeddings", "metadatas", "documents", "uris"});
  std::optional<BodyLayout> layout = LayoutOf(body, scan);
  EXPECT_TRUE(layout.has_value()) << body;
  return layout.value_or(BodyLayout{});
}

std::string Merge(const std::vector<WalEntry>& entries, const ValidatedBodies* validated) {
  WriteCoalescer c(kMaxCoalescedBytes, validated);
  if (!c.Start(entries[0])) return "<refused 0>";
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (!c.Add(entries[i])) return "<refused " + std::to_string(i) + ">";
  }
  return c.Body();
}

TEST(ValidatedBodies, LayoutOfListsTheRecordColumnsAndCountsEveryMember) {
  const std::string body =
      "\xEF\xBB\xBF"
      R"( {"i\u0064s":["a","b"], "embeddings":[[1],[2]], "documents":null, "where":null})";
  const BodyLayout l = LayoutFor(body);
  EXPECT_EQ(l.size, body.size());
  EXPECT_EQ(l.member_count, 4u);
  ASSERT_EQ(l.columns.size(), 3u);
  EXPECT_EQ(l.columns[0].key, "ids");
  EXPECT_EQ(body.substr(l.columns[0].offset, l.columns[0].length), R"(["a","b"])");
  EXPECT_EQ(l.columns[0].elements, 2u);
  EXPECT_EQ(body.substr(l.columns[1].offset, l.columns[1].length), "[[1],[2]]");
  EXPECT_EQ(body.substr(l.columns[2].offset, l.columns[2].length), "null");
  EXPECT_FALSE(LayoutOf("{\"ids\":", ScanJson("{\"ids\":")).has_value());
}

TEST(ValidatedBodies, KeepsTheNewestSeqsUpToItsCapacity) {
  ValidatedBodies v(2);
  v.Remember(1, LayoutFor(R"({"ids":["a"]})"));
  v.Remember(2, LayoutFor(R"({"ids":["b"]})"));
  v.Remember(3, LayoutFor(R"({"ids":["c"]})"));
  EXPECT_EQ(v.size(), 2u);
  EXPECT_FALSE(v.Find(1).has_value());
  EXPECT_TRUE(v.Find(2).has_value());
  EXPECT_TRUE(v.Find(3).has_value());
}

TEST(ValidatedBodies, RememberedBodiesMergeAsScannedOnesDo) {
  const std::vector<std::string> bodies = {
      R"({"ids":["a"],"embeddings":[[0.1,-1e-7,3]],"documents":["d\u00e9 \/ \"q\""],)"
      R"("metadatas":[{"k":1,"n":null,"s":"é"}],"uris":["u:1"]})",
      R"( { "uris" : [ "u:2" , "u:3" ] , "i\u0064s" : [ "b" , "c" ] , "embeddings" : )"
      R"([ [ 1E+2 , -0.0 , 1 ] , [ 0 , 2.5 , -3 ] ] , )"
      R"("documents" : [ "x" , "" ] , "metadatas" : [ null , { "ids" : [ 1 ] } ] } )",
      "\xEF\xBB\xBF"
      R"({"ids":["\ud83d\ude00"],"embeddings":[[4e-310]],"documents":["y"],"metadatas":[{}],)"
      R"("uris":["u:4"]})"};
  ValidatedBodies v;
  std::vector<WalEntry> entries;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    entries.push_back(Add(static_cast<int64_t>(i + 1), bodies[i]));
    v.Remember(entries.back().seq, LayoutFor(bodies[i]));
  }
  const std::string scanned = Merge(entries, nullptr);
  ASSERT_TRUE(json::accept(scanned)) << scanned;
  EXPECT_EQ(Merge(entries, &v), scanned);
}

// The point of the layout: a remembered body is not scanned again. Here the stored bytes hold a
// number no validator accepts ("01") where the validated body had "10": the layout is used.
TEST(ValidatedBodies, ARememberedBodyIsNotScannedAgain) {
  const std::string validated = R"({"ids":["a"],"embeddings":[[10,2]]})";
  const std::string stored = R"({"ids":["a"],"embeddings":[[01,2]]})";
  ASSERT_EQ(validated.size(), stored.size());
  ValidatedBodies v;
  v.Remember(7, LayoutFor(validated));
  EXPECT_EQ(Merge({Add(7, stored), Add(8, R"({"ids":["b"],"embeddings":[[3,4]]})")}, &v),
            R"({"embeddings":[[01,2],[3,4]],"ids":["a","b"]})");
  // Without it, the body is validated (and refused).
  EXPECT_EQ(Merge({Add(7, stored), Add(8, R"({"ids":["b"],"embeddings":[[3,4]]})")}, nullptr),
            "<refused 0>");
}

TEST(ValidatedBodies, AnythingElseIsValidatedAsBefore) {
  const std::string validated = R"({"ids":["a"],"embeddings":[[10,2]]})";
  ValidatedBodies v;
  v.Remember(7, LayoutFor(validated));
  const std::string bad_ids = std::string(R"({"ids":["a)") + '\x01' + R"("],"embeddings":[[1,2]]})";
  v.Remember(10, LayoutFor(R"({"ids":["ab"],"embeddings":[[1,2]]})"));
  const std::string good_next = R"({"ids":["z"],"embeddings":[[3,4]]})";
  struct Case {
    const char* why;
    WalEntry entry;
  };
  const Case kCases[] = {
      // Another seq: never remembered.
      {"other seq", Add(8, R"({"ids":["a"],"embeddings":[[01,2]]})")},
      // The remembered seq, but not the remembered length.
      {"other length", Add(7, R"({"ids":["a"],"embeddings":[[01,2] ]})")},
      // ids are always validated again: a raw control character in an id.
      {"bad ids", Add(10, bad_ids)},
      // The spans no longer hold arrays where the layout says they are.
      {"moved columns", Add(7, R"({"embeddings":[[10,2]],"ids":["a"]})")},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(Merge({c.entry, Add(9, good_next)}, &v), "<refused 0>") << c.why;
  }
  // A member that is not a record column, remembered: refused like a scanned one.
  ValidatedBodies w;
  const std::string with_where = R"({"ids":["a"],"embeddings":[[1,2]],"where":null})";
  w.Remember(1, LayoutFor(with_where));
  EXPECT_EQ(Merge({Add(1, with_where), Add(2, good_next)}, &w), "<refused 0>");
}

}  // namespace
}  // namespace chroma_ha
