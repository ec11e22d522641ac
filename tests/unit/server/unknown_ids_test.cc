// The negative cache for unknown collection ids (issue 10 item 7): requests naming an id that
// no instance knows cost one lookup round (a listing of the database on every healthy
// instance) per TTL instead of one per request; a collection that becomes known is never
// hidden by it; an incomplete round is not cached; the cache is bounded.
#include "server/unknown_ids.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "co_run.h"
#include "collections/collection_map.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_upstreams.h"
#include "server/collection_resolver.h"

namespace chroma_ha {
namespace {

using std::chrono::milliseconds;

constexpr char kUnknown[] = "99999999-9999-9999-9999-999999999999";
constexpr char kNew[] = "33333333-3333-3333-3333-333333333333";
constexpr char kCollectionsPrefix[] = "/api/v2/tenants/t/databases/d/collections";

Config MakeConfig() {
  Config c;
  c.instances = {{"primary", "http://p:1", "p", 1, false, true},
                 {"replica", "http://r:2", "r", 2, false, false}};
  c.request_timeout = milliseconds(1000);
  return c;
}

std::string CollectionJson(const std::string& id, const std::string& name) {
  return nlohmann::json{{"id", id}, {"name", name}, {"tenant", "t"}, {"database", "d"}}.dump();
}

Route ById(const std::string& id) {
  Route r;
  r.cls = RouteClass::kRead;
  r.tenant = "t";
  r.database = "d";
  r.collection = id;
  r.ref = CollectionRef::kId;
  return r;
}

class UnknownIdsTest : public ::testing::Test {
 protected:
  UnknownIdsTest()
      : config_(MakeConfig()),
        ups_({"primary", "replica"}),
        resolver_(config_, ups_, map_, nullptr) {
    for (std::size_t i = 0; i < 2; ++i) ups_.AlwaysRespond(i, 200, "[]");  // empty databases
    UnknownIdCache::Options options;
    options.ttl = milliseconds(5000);
    options.max_entries = 10000;
    resolver_.EnableUnknownIdCache(clock_, options);
  }

  std::optional<CollectionKey> KeyOf(const std::string& id) {
    return testing::RunCo(ioc_, resolver_.KeyOf(ById(id)));
  }
  // Listing requests (GET .../collections?limit=...) both instances received so far.
  std::size_t Listings() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < 2; ++i) {
      for (const auto& r : ups_.requests(i)) {
        if (r.method == "GET" && r.target.rfind(std::string(kCollectionsPrefix) + "?", 0) == 0) ++n;
      }
    }
    return n;
  }

  boost::asio::io_context ioc_;
  Config config_;
  FakeClock clock_;
  FakeUpstreams ups_;
  CollectionMap map_;
  CollectionResolver resolver_;
};

TEST_F(UnknownIdsTest, RepeatedRequestsForOneUnknownIdCostOneLookupRoundPerTtl) {
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(KeyOf(kUnknown).has_value());
  EXPECT_EQ(Listings(), 2u) << "one listing per instance, for 20 requests";
  EXPECT_EQ(resolver_.unknown_ids()->hits(), 19);
  clock_.Advance(milliseconds(4999));
  EXPECT_FALSE(KeyOf(kUnknown).has_value());
  EXPECT_EQ(Listings(), 2u);
  clock_.Advance(milliseconds(1));  // the TTL is over: look again
  EXPECT_FALSE(KeyOf(kUnknown).has_value());
  EXPECT_EQ(Listings(), 4u);
}

TEST_F(UnknownIdsTest, ACollectionCreatedThroughTheProxyIsNotHidden) {
  EXPECT_FALSE(KeyOf(kNew).has_value());  // unknown now, and remembered as unknown
  // The client creates it: the primary answers with the id the cache remembered.
  HttpRequest create{"POST", kCollectionsPrefix, {}, R"({"name":"fresh"})"};
  Route route;
  route.cls = RouteClass::kWrite;
  route.write = WriteKind::kCreateCollection;
  route.tenant = "t";
  route.database = "d";
  HttpResponse response = FakeUpstreams::Response(200, CollectionJson(kNew, "fresh"));
  testing::RunCo(ioc_, resolver_.OnResponse(create, route, 0, response));
  auto key = KeyOf(kNew);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->name, "fresh");
  EXPECT_EQ(resolver_.unknown_ids()->size(), 0u);
}

TEST_F(UnknownIdsTest, ACollectionCreatedAroundTheProxyIsFoundAfterTheTtl) {
  EXPECT_FALSE(KeyOf(kNew).has_value());
  ups_.AlwaysRespond(0, 200, "[" + CollectionJson(kNew, "around") + "]");
  EXPECT_FALSE(KeyOf(kNew).has_value());  // within the TTL: still remembered as unknown
  clock_.Advance(milliseconds(5000));
  auto key = KeyOf(kNew);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->name, "around");
}

TEST_F(UnknownIdsTest, AnIncompleteRoundIsNotCached) {
  ups_.AlwaysFail(1, Status::Unavailable("no answer"));  // healthy, but its listing fails
  EXPECT_FALSE(KeyOf(kUnknown).has_value());
  EXPECT_FALSE(KeyOf(kUnknown).has_value());
  EXPECT_EQ(ups_.request_count(0), 2u) << "each request looked again";
  EXPECT_EQ(resolver_.unknown_ids()->size(), 0u);
}

TEST_F(UnknownIdsTest, KeysAreScopedToTenantAndDatabase) {
  UnknownIdCache cache(clock_);
  cache.Remember("t", "d", "x");
  EXPECT_TRUE(cache.IsUnknown("t", "d", "x"));
  EXPECT_FALSE(cache.IsUnknown("t", "d2", "x"));
  EXPECT_FALSE(cache.IsUnknown("t1", ":d", "x"));
  cache.Forget("t", "d", "x");
  EXPECT_FALSE(cache.IsUnknown("t", "d", "x"));
}

TEST_F(UnknownIdsTest, TheCacheIsBounded) {
  UnknownIdCache::Options options;
  options.ttl = milliseconds(5000);
  options.max_entries = 3;
  UnknownIdCache cache(clock_, options);
  for (int i = 0; i < 3; ++i) cache.Remember("t", "d", std::to_string(i));
  clock_.Advance(milliseconds(5000));  // all three expired
  cache.Remember("t", "d", "3");       // full: the expired ones go
  EXPECT_EQ(cache.size(), 1u);
  for (int i = 4; i < 6; ++i) cache.Remember("t", "d", std::to_string(i));
  cache.Remember("t", "d", "6");  // full of live entries: cleared
  EXPECT_LE(cache.size(), 3u);
  EXPECT_TRUE(cache.IsUnknown("t", "d", "6"));
  for (int i = 0; i < 100; ++i) cache.Remember("t", "d", "many" + std::to_string(i));
  EXPECT_LE(cache.size(), 3u);
}

}  // namespace
}  // namespace chroma_ha
