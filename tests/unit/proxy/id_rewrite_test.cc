#include "proxy/id_rewrite.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace chroma_ha {
namespace {

// A collection object as Chroma 1.x sends it (compact, serde order).
std::string Coll(const std::string& id, const std::string& name, const std::string& extra = "") {
  return R"({"id":")" + id + R"(","name":")" + name +
         R"(","configuration_json":{"hnsw":{"space":"l2","ef_construction":100}},)"
         R"("metadata":{"score":1.2,"tiny":1e-7,"big":12345678901234567890,"s":"caf\u00e9"},)"
         R"("dimension":null,"tenant":"default_tenant","database":"default_database",)"
         R"("log_position":0,"version":0)" +
         extra + "}";
}

// Maps instance ids to canonical ones, recording what it saw.
struct Canon {
  std::map<std::string, std::string> map;
  std::vector<SeenCollection> seen;
  CanonicalIdFn Fn() {
    return [this](const SeenCollection& s) {
      seen.push_back(s);
      auto it = map.find(s.id);
      return it == map.end() ? s.id : it->second;
    };
  }
};

TEST(IdRewriteTest, SingleObjectOnlyIdChanges) {
  std::string body = Coll("r-uuid", "docs");
  Canon canon{{{"r-uuid", "p-uuid"}}, {}};
  IdRewriteResult r = RewriteCollectionIds(&body, canon.Fn());
  EXPECT_EQ(r.collections, 1);
  EXPECT_EQ(r.rewritten, 1);
  EXPECT_EQ(body, Coll("p-uuid", "docs"));  // numbers, escapes, order all byte-exact
  ASSERT_EQ(canon.seen.size(), 1u);
  EXPECT_EQ(canon.seen[0].tenant, "default_tenant");
  EXPECT_EQ(canon.seen[0].database, "default_database");
  EXPECT_EQ(canon.seen[0].name, "docs");
  EXPECT_EQ(canon.seen[0].id, "r-uuid");
}

TEST(IdRewriteTest, ArrayOfObjects) {
  std::string body = "[" + Coll("a1", "a") + ", " + Coll("b1", "b") + ",\n" + Coll("c1", "c") + "]";
  Canon canon{{{"a1", "A"}, {"c1", "C-longer-id"}}, {}};
  IdRewriteResult r = RewriteCollectionIds(&body, canon.Fn());
  EXPECT_EQ(r.collections, 3);
  EXPECT_EQ(r.rewritten, 2);
  EXPECT_EQ(body,
            "[" + Coll("A", "a") + ", " + Coll("b1", "b") + ",\n" + Coll("C-longer-id", "c") + "]");
  ASSERT_EQ(canon.seen.size(), 3u);
  EXPECT_EQ(canon.seen[1].name, "b");
}

TEST(IdRewriteTest, UnchangedBodiesAreByteIdentical) {
  const std::string kBodies[] = {
      "",
      "   ",
      "{}",
      "[]",
      "42",
      "\"text\"",
      "not json {",
      Coll("x", "y").substr(1),  // not a JSON document
      "{\"error\":\"NotFoundError\",\"message\":\"Collection [x] does not exist\"}",
      "{\"id\":\"x\",\"name\":\"y\"}",              // no tenant/database: not a collection
      "{\"ids\":[[\"a\"]],\"distances\":[[0.1]]}",  // query result
      "{\"wrapper\":" + Coll("x", "y") + "}",       // nested objects are never touched
      "[[" + Coll("x", "y") + "]]",
      Coll("x", "y") + " trailing",
      "{\"id\":7,\"name\":\"y\",\"tenant\":\"t\",\"database\":\"d\"}",
  };
  for (const std::string& original : kBodies) {
    std::string body = original;
    RewriteCollectionIds(&body, [](const SeenCollection&) { return std::string("changed"); });
    EXPECT_EQ(body, original);
  }
  // A collection whose canonical id is its own id: nothing changes either.
  std::string body = "[ " + Coll("same", "n") + " ]\n";
  const std::string original = body;
  IdRewriteResult r = RewriteCollectionIds(&body, [](const SeenCollection& s) { return s.id; });
  EXPECT_EQ(r.collections, 1);
  EXPECT_EQ(r.rewritten, 0);
  EXPECT_EQ(body, original);
  r = RewriteCollectionIds(&body, [](const SeenCollection&) { return std::string(); });
  EXPECT_EQ(body, original);
}

TEST(IdRewriteTest, EscapesAndWhitespace) {
  std::string body =
      "{ \"name\" : \"d\\u006fcs\\\"q\" ,\n \"tenant\":\"t\", \"database\":\"d\", "
      "\"metadata\":{\"id\":\"inner\",\"arr\":[1,{\"}\":\"]\"}]}, \"\\u0069d\" : \"r\\/1\" }";
  std::vector<SeenCollection> seen = FindCollections(body);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].name, "docs\"q");
  EXPECT_EQ(seen[0].id, "r/1");
  RewriteCollectionIds(&body, [](const SeenCollection&) { return std::string("new\"id"); });
  EXPECT_EQ(body,
            "{ \"name\" : \"d\\u006fcs\\\"q\" ,\n \"tenant\":\"t\", \"database\":\"d\", "
            "\"metadata\":{\"id\":\"inner\",\"arr\":[1,{\"}\":\"]\"}]}, \"\\u0069d\" : "
            "\"new\\\"id\" }");
}

TEST(IdRewriteTest, InvalidUtf8IdDoesNotThrow) {
  std::string body = Coll("x", "y");
  EXPECT_NO_THROW(
      RewriteCollectionIds(&body, [](const SeenCollection&) { return std::string("\xff\xfe"); }));
  EXPECT_EQ(FindCollections(body).size(), 1u);
}

TEST(IdRewriteTest, ForkAndCreateResponses) {
  // PUT (modify) answers {} and carries no collection.
  EXPECT_TRUE(FindCollections("{}").empty());
  std::vector<SeenCollection> seen = FindCollections(Coll("f-1", "forked"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].name, "forked");
}

}  // namespace
}  // namespace chroma_ha
