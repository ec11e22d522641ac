// Coalescing of replayed adds/upserts (sync/coalesce.h): which entries may share a request,
// the merged body, and the worker sending one request per collection run.
#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sync/coalesce.h"
#include "sync_fixture.h"

namespace chroma_ha {
namespace {

using nlohmann::json;

// Entries live until the test binary ends: a coalescer keeps views of their bodies.
const WalEntry& Write(const std::string& kind, const std::string& body,
                      const std::string& collection = "c1") {
  static std::deque<WalEntry> entries;
  return entries.emplace_back(CommittedWrite(0, kind, body, collection));
}

TEST(WriteCoalescer, MergesColumnsInEntryOrder) {
  WriteCoalescer c;
  ASSERT_TRUE(c.Start(Write("add", R"({"ids":["a"],"embeddings":[[1,2]],"documents":["x"]})")));
  ASSERT_TRUE(c.Add(Write("add", R"({"ids":["b","c"],"embeddings":[[3,4],[5,6]],)"
                                 R"("documents":["y","z"],"metadatas":null})")));
  EXPECT_EQ(c.entries(), 2u);
  EXPECT_EQ(json::parse(c.Body()),
            json::parse(R"({"ids":["a","b","c"],"embeddings":[[1,2],[3,4],[5,6]],)"
                        R"("documents":["x","y","z"]})"));
}

// What the coalescer built before it spliced text: every body parsed, each non-null column's
// elements appended to one array, the object dumped.
json ParsedMerge(const std::vector<std::string>& bodies) {
  json merged = json::object();
  for (const std::string& text : bodies) {
    const json body = json::parse(text);
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (it->is_null()) continue;
      json& out = merged[it.key()];
      if (!out.is_array()) out = json::array();
      for (const json& v : *it) out.push_back(v);
    }
  }
  return json::parse(merged.dump());
}

TEST(WriteCoalescer, SplicedBodyMeansWhatTheParsedMergeMeant) {
  struct Group {
    const char* kind;
    std::vector<std::string> bodies;
  };
  const Group kGroups[] = {
      {"add",
       {R"({"ids":["a"],"embeddings":[[0.1,-1e-7,3]],"documents":["d\u00e9 \/ \"q\""],)"
        R"("metadatas":[{"k":1,"n":null,"s":"é"}],"uris":["u:1"]})",
        R"( { "uris" : [ "u:2" , "u:3" ] , "ids" : [ "b" , "c" ] , "embeddings" : )"
        R"([ [ 1E+2 , -0.0 , 12345678901234567890 ] , [ 0 , 2.5 , -3 ] ] , )"
        R"("documents" : [ "x" , "" ] , "metadatas" : [ null , { "nested" : { "a" : [ 1 , true ] } } ] } )"}},
      {"upsert",
       {R"({"ids":["a","b"],"embeddings":[[1],[2]],"documents":null,"metadatas":null,"uris":null})",
        R"({"i\u0064s":["c"],"embeddings":[[3]],"documents":null})",
        "\xEF\xBB\xBF"
        R"({"ids":["\ud83d\ude00"],"embeddings":[[4e-310]]})"}},
      {"add", {R"({"ids":["only"],"metadatas":[{"x":"y"}]})"}},
  };
  for (const Group& g : kGroups) {
    WriteCoalescer c;
    ASSERT_TRUE(c.Start(Write(g.kind, g.bodies[0]))) << g.bodies[0];
    for (std::size_t i = 1; i < g.bodies.size(); ++i) {
      ASSERT_TRUE(c.Add(Write(g.kind, g.bodies[i]))) << g.bodies[i];
    }
    EXPECT_EQ(c.entries(), g.bodies.size());
    const std::string body = c.Body();
    ASSERT_TRUE(json::accept(body)) << body;
    EXPECT_EQ(json::parse(body), ParsedMerge(g.bodies)) << body;
  }
  // Spliced, not re-serialised: numbers and escapes keep the client's spelling.
  WriteCoalescer c;
  ASSERT_TRUE(c.Start(Write("add", kGroups[0].bodies[0])));
  ASSERT_TRUE(c.Add(Write("add", kGroups[0].bodies[1])));
  EXPECT_NE(c.Body().find("-1e-7"), std::string::npos);
  EXPECT_NE(c.Body().find("1E+2"), std::string::npos);
  EXPECT_NE(c.Body().find(R"(d\u00e9 \/)"), std::string::npos);
}

TEST(WriteCoalescer, DeletesAndInvalidBodiesStartNoGroup) {
  WriteCoalescer c;
  EXPECT_FALSE(c.Start(Write("delete", R"({"ids":["a"]})")));
  EXPECT_FALSE(c.Start(Write("update", R"({"ids":["a"],"embeddings":[[1]]})")));
  EXPECT_FALSE(c.Start(Write("add", R"({"ids":["a"],"embeddings":[[1]]})"
                                    "x")));
  EXPECT_FALSE(c.Start(Write("add", R"({"ids":["a"],"embeddings":[[1e999]]})")));
  EXPECT_FALSE(c.Start(Write("add", R"({"ids":["a"],"ids":["b"]})")));  // a repeated key
  EXPECT_EQ(c.Body(), "{}");
}

TEST(WriteCoalescer, RefusesWhatWouldChangeTheResult) {
  const std::string base = R"({"ids":["a"],"embeddings":[[1,2]]})";
  struct Case {
    const char* why;
    WalEntry next;
  };
  WalEntry other_path = Write("add", R"({"ids":["b"],"embeddings":[[1,2]]})");
  other_path.path += "x";
  WalEntry with_extra = Write("add", R"({"ids":["b"],"embeddings":[[1,2]]})");
  with_extra.extra = "{}";
  const Case kCases[] = {
      {"same id again", Write("add", R"({"ids":["a"],"embeddings":[[3,4]]})")},
      {"other columns", Write("add", R"({"ids":["b"],"embeddings":[[1,2]],"documents":["x"]})")},
      {"fewer columns", Write("add", R"({"ids":["b"]})")},
      {"other kind", Write("upsert", R"({"ids":["b"],"embeddings":[[1,2]]})")},
      {"other collection", Write("add", R"({"ids":["b"],"embeddings":[[1,2]]})", "c2")},
      {"other path", other_path},
      {"extra", with_extra},
      {"column length", Write("add", R"({"ids":["b","c"],"embeddings":[[1,2]]})")},
      {"not a column", Write("add", R"({"ids":["b"],"embeddings":[[1,2]],"where":{}})")},
      {"id not a string", Write("add", R"({"ids":[7],"embeddings":[[1,2]]})")},
      {"duplicate inside", Write("add", R"({"ids":["b","b"],"embeddings":[[1,2],[1,2]]})")},
      {"not json", Write("add", "nope")},
  };
  for (const Case& c : kCases) {
    WriteCoalescer coalescer;
    ASSERT_TRUE(coalescer.Start(Write("add", base)));
    EXPECT_FALSE(coalescer.Add(c.next)) << c.why;
    EXPECT_EQ(coalescer.entries(), 1u) << c.why;
    EXPECT_EQ(json::parse(coalescer.Body()), json::parse(base)) << c.why;
  }
  WriteCoalescer small(base.size() + 10);
  ASSERT_TRUE(small.Start(Write("add", base)));
  EXPECT_FALSE(small.Add(Write("add", R"({"ids":["b"],"embeddings":[[1,2]]})"))) << "size cap";
  for (const WalEntry& first : {Write("update", base), Write("delete", R"({"ids":["a"]})"),
                                Write("add", R"({"ids":[]})"), Write("add", "[]")}) {
    WriteCoalescer c;
    EXPECT_FALSE(c.Start(first)) << first.kind << " " << first.body;
    EXPECT_FALSE(c.Add(Write("add", base)));
  }
}

TEST(WriteCoalescer, Barriers) {
  EXPECT_TRUE(IsReplayBarrier(Write("create_database", "{}", "")));
  EXPECT_TRUE(IsReplayBarrier(Write("modify_collection", R"({"new_name":"x"})")));
  EXPECT_FALSE(IsReplayBarrier(Write("add", "{}")));
  EXPECT_FALSE(IsReplayBarrier(Write("delete_collection", "")));
}

class CoalesceTest : public SyncTest {
 protected:
  CoalesceTest() {
    for (const char* c : {"c1", "c2"}) {
      CollectionEverywhere(c);
      ids_.Learn(kTenant, kDatabase, c, "replica", replica_sim_.IdOf(c));
    }
  }
  std::vector<std::string> ReplicaWriteOps() {
    std::vector<std::string> out;
    for (const auto& w : replica_sim_.writes()) out.push_back(w.collection + ":" + w.op);
    return out;
  }
};

TEST_F(CoalesceTest, EachCollectionsRunGoesInOneRequest) {
  AppendAdd("c1", "a1");
  AppendAdd("c2", "b1");
  AppendAdd("c1", "a2");
  AppendAdd("c2", "b2");
  AppendAdd("c1", "a3");
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaWritesSent().size(), 2u);
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_EQ(ReplicaAdds("c2"), (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(worker().stats().replayed, 5);
  EXPECT_EQ(worker().stats().coalesced_requests, 2);
  EXPECT_EQ(applied_.size(), 5u);
  EXPECT_EQ(ReplicaStats().last_applied_seq, 5);  // the highest, though c2's run came last
}

TEST_F(CoalesceTest, RunsEndAtBarriersAndAtEntriesThatCannotJoin) {
  AppendAdd("c1", "a1");
  AppendCommitted("c2", "modify_collection", R"({"new_name":"c3"})");  // a barrier
  AppendAdd("c1", "a2");
  AppendAdd("c1", "a3");
  AppendCommitted("c1", "update", AddBody("a2", "doc2"));  // same collection: ends the run
  AppendAdd("c1", "a4");
  AppendAdd("c1", "a4");  // an id already in the run: ends it
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaWriteOps(), (std::vector<std::string>{"c1:add", "c2:modify", "c1:add",
                                                         "c1:update", "c1:add", "c1:add"}));
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a1", "a2", "a3", "a4", "a4"}));
  EXPECT_EQ(Pending("replica"), 0);
  EXPECT_EQ(worker().stats().replayed, 7);
}

TEST_F(CoalesceTest, RefusedRequestIsReplayedOneByOne) {
  AppendAdd("c1", "a1");
  AppendAdd("c1", "a2");
  AppendAdd("c1", "a3");
  replica_.QueueResponse(400, R"({"error":"InvalidArgumentError","message":"x"})");
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaWritesSent().size(), 4u);  // the merged request, then each entry
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_TRUE(Blocked().empty());
  EXPECT_EQ(Pending("replica"), 0);
}

TEST_F(CoalesceTest, OnlyTheEntryAtFaultBlocksItsCollection) {
  const int64_t a1 = AppendAdd("c1", "a1");
  AppendAdd("c2", "b1");
  AppendAdd("c1", "a2");
  replica_sim_.RefuseNext("a1", 400, R"({"error":"InvalidArgumentError","message":"merged"})");
  replica_sim_.RefuseNext("a1", 400, R"({"error":"InvalidArgumentError","message":"a1"})");
  ASSERT_TRUE(RunOnce().ok());
  ASSERT_EQ(Blocked().size(), 1u);
  EXPECT_EQ(Blocked()[0].collection, "c1");
  EXPECT_EQ(Blocked()[0].seq, a1);
  EXPECT_TRUE(ReplicaAdds("c1").empty());  // a2 is held back behind the blocked a1
  EXPECT_EQ(ReplicaAdds("c2"), std::vector<std::string>{"b1"});
  EXPECT_EQ(Pending("replica"), 2);
}

TEST_F(CoalesceTest, NoAnswerToTheRequestRetriesTheWholeRunLater) {
  AppendAdd("c1", "a1");
  AppendAdd("c1", "a2");
  replica_.QueueFailure(Status::Timeout("no answer"));
  EXPECT_FALSE(RunOnce().ok());
  EXPECT_EQ(Pending("replica"), 2);
  clock_.Advance(std::chrono::minutes(5));
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(ReplicaAdds("c1"), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(Pending("replica"), 0);
}

}  // namespace
}  // namespace chroma_ha
