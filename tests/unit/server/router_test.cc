// Router: read/write instance order (pure, table-driven), then Router::Handle against fake
// upstreams: failover, 503s, unknown and invalid routes, own endpoints and collection id
// translation. No network: FakeUpstreams answers on the test's io_context.
#include "server/router.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "co_run.h"
#include "collections/collection_map.h"
#include "failpoints/failpoints.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_upstreams.h"
#include "server/collection_resolver.h"
#include "server/own_endpoints.h"

namespace chroma_ha {
namespace {

using Order = std::vector<std::size_t>;
using json = nlohmann::json;

Config MakeConfig(Strategy strategy = Strategy::kOptimizedReadReplica, double ratio = 1.0,
                  int replicas = 1) {
  Config c;
  c.instances.push_back({"primary", "http://p:1", "p", 1, false, true});
  for (int i = 1; i <= replicas; ++i) {
    std::string name = i == 1 ? "replica" : "replica" + std::to_string(i);
    c.instances.push_back({name, "http://r:" + std::to_string(i + 1), "r",
                           static_cast<uint16_t>(i + 1), false, false});
  }
  c.strategy = strategy;
  c.read_replica_ratio = ratio;
  c.request_timeout = std::chrono::milliseconds(1234);
  return c;
}

// --- ReadOrder / WriteOrder ----------------------------------------------------------------------

struct ReadCase {
  const char* name;
  Strategy strategy;
  double ratio;
  std::vector<bool> healthy;
  uint64_t ticket;
  double draw;
  Order want;
};

constexpr auto kOpt = Strategy::kOptimizedReadReplica;
constexpr auto kPrim = Strategy::kPrimaryOnly;
constexpr auto kRr = Strategy::kRoundRobin;

const ReadCase kReadCases[] = {
    {"opt: replica first", kOpt, 1.0, {true, true}, 0, 0.5, {1, 0}},
    {"opt: replica down -> primary", kOpt, 1.0, {true, false}, 0, 0.5, {0, 1}},
    {"opt: primary down", kOpt, 1.0, {false, true}, 0, 0.5, {1, 0}},
    {"opt: both down keeps the order", kOpt, 1.0, {false, false}, 0, 0.5, {1, 0}},
    {"opt: only a primary", kOpt, 1.0, {true}, 7, 0.1, {0}},
    {"opt: two replicas rotate (0)", kOpt, 1.0, {true, true, true}, 0, 0.2, {1, 2, 0}},
    {"opt: two replicas rotate (1)", kOpt, 1.0, {true, true, true}, 1, 0.2, {2, 1, 0}},
    {"opt: two replicas rotate (2)", kOpt, 1.0, {true, true, true}, 2, 0.2, {1, 2, 0}},
    {"opt: unhealthy replica last", kOpt, 1.0, {true, false, true}, 0, 0.2, {2, 0, 1}},
    {"opt: ratio 1, draw near 1", kOpt, 1.0, {true, true}, 0, 0.999999, {1, 0}},
    {"opt: ratio 0, draw 0", kOpt, 0.0, {true, true}, 0, 0.0, {0, 1}},
    {"opt: ratio 0, draw 0.9", kOpt, 0.0, {true, true}, 3, 0.9, {0, 1}},
    {"opt: ratio 0, primary down", kOpt, 0.0, {false, true}, 0, 0.3, {1, 0}},
    {"opt: ratio .5, draw below", kOpt, 0.5, {true, true}, 0, 0.49, {1, 0}},
    {"opt: ratio .5, draw at", kOpt, 0.5, {true, true}, 0, 0.5, {0, 1}},
    {"opt: ratio .5, draw above", kOpt, 0.5, {true, true}, 0, 0.51, {0, 1}},
    {"primary_only", kPrim, 1.0, {true, true}, 5, 0.5, {0, 1}},
    {"primary_only: primary down", kPrim, 1.0, {false, true}, 5, 0.5, {1, 0}},
    {"primary_only: three", kPrim, 1.0, {true, true, true}, 1, 0.5, {0, 1, 2}},
    {"primary_only: replica down", kPrim, 1.0, {true, false, true}, 1, 0.5, {0, 2, 1}},
    {"round_robin 0", kRr, 1.0, {true, true, true}, 0, 0.5, {0, 1, 2}},
    {"round_robin 1", kRr, 1.0, {true, true, true}, 1, 0.5, {1, 2, 0}},
    {"round_robin 2", kRr, 1.0, {true, true, true}, 2, 0.5, {2, 0, 1}},
    {"round_robin 3 wraps", kRr, 1.0, {true, true, true}, 3, 0.5, {0, 1, 2}},
    {"round_robin: unhealthy last", kRr, 1.0, {true, false, true}, 1, 0.5, {2, 0, 1}},
    {"round_robin: two", kRr, 1.0, {true, true}, 1, 0.5, {1, 0}},
    {"no instances", kOpt, 1.0, {}, 0, 0.5, {}},
};

TEST(ReadOrderTest, Table) {
  for (const auto& c : kReadCases) {
    Config config = MakeConfig(c.strategy, c.ratio);
    EXPECT_EQ(ReadOrder(config, c.healthy, c.ticket, c.draw), c.want) << c.name;
  }
}

TEST(ReadOrderTest, RoundRobinVisitsEveryInstanceFirstEquallyOften) {
  Config config = MakeConfig(kRr, 1.0, 2);
  std::vector<int> first(3);
  for (uint64_t t = 0; t < 30; ++t) ++first[ReadOrder(config, {true, true, true}, t, 0.5)[0]];
  EXPECT_EQ(first, (std::vector<int>{10, 10, 10}));
}

struct WriteCase {
  std::vector<bool> healthy;
  Order want;
};

TEST(WriteOrderTest, Table) {
  const WriteCase kCases[] = {
      {{true, true}, {0, 1}},
      {{false, true}, {1, 0}},
      {{true, false}, {0, 1}},
      {{false, false}, {0, 1}},
      {{false, true, true}, {1, 2, 0}},
      {{false, false, true}, {2, 0, 1}},
      {{false, true, false, true}, {1, 3, 0, 2}},  // both halves keep their order
      {{true}, {0}},
      {{}, {}},
  };
  for (const auto& c : kCases) {
    std::string label;
    for (bool h : c.healthy) label += h ? "U" : "D";
    EXPECT_EQ(WriteOrder(c.healthy), c.want) << label;
  }
}

// --- Router::Handle ------------------------------------------------------------------------------

constexpr char kDb[] = "/api/v2/tenants/t/databases/d";
constexpr char kPrimaryId[] = "11111111-1111-1111-1111-111111111111";
constexpr char kReplicaId[] = "22222222-2222-2222-2222-222222222222";

std::string CollectionJson(const std::string& id, const std::string& name = "c") {
  return json{{"id", id},        {"name", name},        {"tenant", "t"},
              {"database", "d"}, {"metadata", nullptr}, {"dimension", 3}}
      .dump();
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest()
      : config_(MakeConfig()),
        ups_({"primary", "replica"}),
        resolver_(config_, ups_, map_, nullptr),
        own_(config_, ups_, clock_),
        router_(config_, ups_, resolver_, own_, nullptr) {
    own_.SetStats(&router_.stats(), nullptr);
  }

  HttpResponse Send(std::string method, std::string target, std::string body = "") {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.body = std::move(body);
    if (!request.body.empty()) request.headers.push_back({"content-type", "application/json"});
    return testing::RunCo(ioc_, router_.Handle(std::move(request)));
  }
  HttpResponse Get(std::string target) { return Send("GET", std::move(target)); }

  // The instance answers like a server holding collection "c" with `id`.
  void ServesCollection(std::size_t index, std::string id) {
    ups_.SetHandler(index, [id](const HttpRequest& r) -> Result<HttpResponse> {
      const std::string list = std::string(kDb) + "/collections";
      if (r.method == "GET" && r.target.rfind(list + "?", 0) == 0) {
        return FakeUpstreams::Response(200, "[" + CollectionJson(id) + "]");
      }
      if (r.method == "GET" && r.target == list + "/c") {
        return FakeUpstreams::Response(200, CollectionJson(id));
      }
      if (r.target == list + "/" + id + "/count") return FakeUpstreams::Response(200, "7");
      return FakeUpstreams::Response(404, R"({"error":"NotFoundError","message":"nope"})");
    });
  }

  void LearnBoth() {
    (void)map_.Learn({"t", "d", "c"}, "primary", kPrimaryId);
    (void)map_.Learn({"t", "d", "c"}, "replica", kReplicaId);
  }

  static void ExpectJsonError(const HttpResponse& r, int status) {
    EXPECT_EQ(r.status, status);
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_TRUE(j.contains("error") && j["error"].is_string()) << r.body;
    EXPECT_TRUE(j.contains("message") && j["message"].is_string()) << r.body;
    EXPECT_EQ(FindHeader(r.headers, "content-type").value_or(""), "application/json");
  }

  boost::asio::io_context ioc_;
  Config config_;
  FakeUpstreams ups_;
  CollectionMap map_;
  CollectionResolver resolver_;
  FakeClock clock_;
  OwnEndpoints own_;
  Router router_;
};

TEST_F(RouterTest, ReadGoesToTheReplica) {
  ups_.AlwaysRespond(1, 200, "[]");
  HttpResponse r = Get(std::string(kDb) + "/collections");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "[]");
  EXPECT_EQ(ups_.request_count(0), 0u);
  ASSERT_EQ(ups_.request_count(1), 1u);
  EXPECT_EQ(ups_.requests(1)[0].target, std::string(kDb) + "/collections");
  EXPECT_EQ(ups_.timeouts(1)[0], config_.request_timeout);
  EXPECT_EQ(router_.stats().reads, 1);
  EXPECT_EQ(router_.stats().read_failovers, 0);
}

TEST_F(RouterTest, SystemReadGoesToTheReplicaToo) {
  EXPECT_EQ(Get("/api/v2/heartbeat").status, 200);
  EXPECT_EQ(ups_.request_count(1), 1u);
  EXPECT_EQ(ups_.request_count(0), 0u);
}

TEST_F(RouterTest, ReplicaUnhealthyReadGoesToThePrimaryWithoutError) {
  ups_.SetHealthy(1, false);
  EXPECT_EQ(Get("/api/v2/heartbeat").status, 200);
  EXPECT_EQ(ups_.request_count(0), 1u);
  EXPECT_EQ(ups_.request_count(1), 0u);
  EXPECT_EQ(router_.stats().read_failovers, 0);
}

TEST_F(RouterTest, ReplicaNotAnsweringFailsOverToThePrimary) {
  ups_.AlwaysFail(1, Status::Unavailable("connection refused"));
  ups_.AlwaysRespond(0, 200, R"({"nanosecond heartbeat":1})");
  HttpResponse r = Get("/api/v2/heartbeat");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"nanosecond heartbeat":1})");
  EXPECT_EQ(ups_.request_count(1), 1u);
  EXPECT_EQ(ups_.request_count(0), 1u);
  EXPECT_EQ(router_.stats().read_failovers, 1);
}

TEST_F(RouterTest, ReplicaTimeoutOrGatewayErrorFailsOverToThePrimary) {
  ups_.AlwaysFail(1, Status::Timeout("no answer"));
  EXPECT_EQ(Get("/api/v2/heartbeat").status, 200);
  EXPECT_EQ(ups_.request_count(0), 1u);
  ups_.AlwaysRespond(1, 503, "busy");
  EXPECT_EQ(Get("/api/v2/heartbeat").status, 200);
  EXPECT_EQ(ups_.request_count(0), 2u);
  EXPECT_EQ(router_.stats().read_failovers, 2);
}

TEST_F(RouterTest, ADefiniteAnswerIsNotFailedOver) {
  ups_.AlwaysRespond(1, 404, R"({"error":"NotFoundError","message":"x"})");
  EXPECT_EQ(Get(std::string(kDb) + "/collections/nope").status, 404);
  EXPECT_EQ(ups_.request_count(0), 0u);
}

TEST_F(RouterTest, BothDownIs503Json) {
  ups_.AlwaysFail(0, Status::Unavailable("refused"));
  ups_.AlwaysFail(1, Status::Unavailable("refused"));
  ExpectJsonError(Get("/api/v2/heartbeat"), 503);
  EXPECT_EQ(router_.stats().unavailable, 1);
  ups_.SetHealthy(0, false);
  ups_.SetHealthy(1, false);
  ExpectJsonError(Get("/api/v2/heartbeat"), 503);
  EXPECT_EQ(router_.stats().unavailable, 2);
}

TEST_F(RouterTest, LastInstanceGatewayErrorIsPassedThrough) {
  ups_.AlwaysFail(1, Status::Unavailable("refused"));
  ups_.AlwaysRespond(0, 502, "bad gateway");
  EXPECT_EQ(Get("/api/v2/heartbeat").status, 502);
}

TEST_F(RouterTest, WritesWithoutAWalGoToThePrimary) {
  HttpResponse r = Send("POST", std::string(kDb) + "/collections", R"({"name":"c"})");
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(ups_.request_count(0), 1u);
  EXPECT_EQ(ups_.requests(0)[0].body, R"({"name":"c"})");
  EXPECT_EQ(ups_.request_count(1), 0u);
  EXPECT_EQ(router_.stats().writes, 1);
}

TEST_F(RouterTest, WritesWithoutAWalGoToTheReplicaWhenThePrimaryIsDown) {
  ups_.SetHealthy(0, false);
  ups_.AlwaysFail(0, Status::Unavailable("refused"));
  EXPECT_EQ(Send("POST", std::string(kDb) + "/collections", R"({"name":"c"})").status, 200);
  EXPECT_EQ(ups_.request_count(0), 0u);
  EXPECT_EQ(ups_.request_count(1), 1u);
}

TEST_F(RouterTest, WritesFailOverWhenThePrimaryRefusesTheConnection) {
  ups_.AlwaysFail(0, Status::Unavailable("refused"));
  EXPECT_EQ(Send("POST", std::string(kDb) + "/collections", R"({"name":"c"})").status, 200);
  EXPECT_EQ(ups_.request_count(0), 1u);
  EXPECT_EQ(ups_.request_count(1), 1u);
}

TEST_F(RouterTest, UnknownReadRouteGoesToThePrimaryAndIsCounted) {
  EXPECT_EQ(Get("/api/v1/heartbeat").status, 200);
  EXPECT_EQ(ups_.request_count(0), 1u);
  EXPECT_EQ(ups_.request_count(1), 0u);
  EXPECT_EQ(router_.stats().unknown_routes, 1);
  EXPECT_EQ(Send("HEAD", "/api/v3/whatever").status, 200);
  EXPECT_EQ(ups_.request_count(0), 2u);
  EXPECT_EQ(router_.stats().unknown_routes, 2);
  EXPECT_EQ(router_.stats().unknown_writes_refused, 0);
}

// A mutating request to a route the classifier does not know would change the primary alone,
// unlogged: the instances would diverge. It is refused by default (issue 12 item 4).
TEST_F(RouterTest, UnknownWriteRouteIsRefused501NamingTheRouteAndNotForwarded) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"PATCH", std::string(kDb) + "/collections"},  // a new method on a known path
      {"POST", std::string(kDb) + "/collections/c/rewind?x=secret"},  // a newer route
      {"DELETE", "/api/v2/heartbeat"},
      {"post", "/api/v2/tenants/t/databases/d/collections/c/add"},  // methods are case-sensitive
      {"PUT", "/api/v1/collections"},
  };
  for (const auto& [method, target] : cases) {
    HttpResponse r = Send(method, target, "{}");
    EXPECT_EQ(r.status, 501) << method << " " << target;
    json body = json::parse(r.body);
    EXPECT_EQ(body["error"], "NotImplementedError");
    const std::string path = target.substr(0, target.find('?'));
    EXPECT_NE(body["message"].get<std::string>().find(method + " " + path), std::string::npos)
        << body.dump();
    EXPECT_EQ(body["message"].get<std::string>().find("secret"), std::string::npos);
  }
  EXPECT_EQ(ups_.request_count(0), 0u);
  EXPECT_EQ(ups_.request_count(1), 0u);
  EXPECT_EQ(router_.stats().unknown_routes, 5);
  EXPECT_EQ(router_.stats().unknown_writes_refused, 5);
  EXPECT_EQ(router_.stats().unknown_writes_forwarded, 0);
}

TEST_F(RouterTest, UnknownWriteRouteGoesToThePrimaryWhenConfigured) {
  config_.unknown_write_routes = UnknownWriteRoutes::kPrimary;
  EXPECT_EQ(Send("PATCH", std::string(kDb) + "/collections").status, 200);
  EXPECT_EQ(ups_.request_count(0), 1u);
  EXPECT_EQ(ups_.request_count(1), 0u);
  EXPECT_EQ(router_.stats().unknown_writes_forwarded, 1);
  EXPECT_EQ(router_.stats().unknown_writes_refused, 0);
}

TEST_F(RouterTest, InvalidPathIs400JsonAndNotForwarded) {
  for (const char* target : {"/api/v2/tenants/../heartbeat", "/api/v2/tenants/%zz/databases",
                             "/api/v2/tenants/t/databases/%2e%2e"}) {
    ExpectJsonError(Get(target), 400);
  }
  EXPECT_EQ(ups_.request_count(0) + ups_.request_count(1), 0u);
  EXPECT_EQ(router_.stats().invalid_requests, 3);
}

// --- MAX_CONCURRENT_REQUESTS and the exception barrier ----------------------------------------

TEST_F(RouterTest, OverTheConcurrencyCapIs503WithRetryAfter) {
  config_.max_concurrent_requests = 1;
  ups_.Hold(1, true);
  HttpRequest held{"GET", "/api/v2/heartbeat", {}, ""};
  auto first = testing::Spawn(ioc_, router_.Handle(std::move(held)));
  ASSERT_TRUE(testing::RunUntil(ioc_, [&] { return ups_.held(1) == 1; }));
  EXPECT_EQ(router_.in_flight(), 1);
  HttpResponse over = Get("/api/v2/heartbeat");
  ExpectJsonError(over, 503);
  EXPECT_EQ(FindHeader(over.headers, "retry-after").value_or(""), "1");
  // An invalid request is answered without I/O: it takes no slot and is not refused for one.
  ExpectJsonError(Get("/api/v2/tenants/%FF"), 400);
  ups_.ReleaseAll(1);
  EXPECT_EQ(testing::Await(ioc_, first).status, 200);
  EXPECT_EQ(router_.in_flight(), 0);
}

TEST_F(RouterTest, AThrowWhileHandlingIs500JsonAndReleasesTheSlot) {
  config_.max_concurrent_requests = 1;
  for (std::size_t i : {0u, 1u}) {
    ups_.SetHandler(i, [](const HttpRequest&) -> Result<HttpResponse> {
      throw std::runtime_error("a bug while forwarding");
    });
  }
  HttpResponse r = Get("/api/v2/heartbeat");
  ExpectJsonError(r, 500);
  EXPECT_EQ(json::parse(r.body)["error"], "InternalError");
  EXPECT_EQ(router_.stats().internal_errors, 1);
  EXPECT_EQ(router_.in_flight(), 0);
  // The slot came back: with a cap of 1, the next request is served, not refused with 503.
  ups_.AlwaysRespond(1, 200, "{}");
  EXPECT_EQ(Get("/api/v2/heartbeat").status, 200);
  EXPECT_EQ(router_.in_flight(), 0);
}

// Failpoint `request` (CHROMA_HA_FAILPOINTS=request=throw@1): hit just before dispatch.
TEST_F(RouterTest, FailpointRequestThrowOrErrorIs500AndTheNextRequestIsServed) {
  struct Disarm {
    ~Disarm() { (void)failpoints::Configure(""); }
  } disarm;
  config_.max_concurrent_requests = 1;
  for (const char* spec : {"request=throw@1", "request=error@1"}) {
    ASSERT_TRUE(failpoints::Configure(spec)) << spec;
    ExpectJsonError(Get("/api/v2/heartbeat"), 500);
    EXPECT_EQ(router_.in_flight(), 0) << spec;
    EXPECT_EQ(Get("/api/v2/heartbeat").status, 200) << spec;
    EXPECT_EQ(failpoints::HitCount(failpoints::Point::kRequest), 2) << spec;
  }
  EXPECT_EQ(ups_.request_count(1), 2u);  // the failed requests were not forwarded
}

TEST_F(RouterTest, HealthIs200WhileAnInstanceCanServe) {
  HttpResponse r = Get("/health");
  EXPECT_EQ(r.status, 200);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["status"], "healthy");
  EXPECT_EQ(j["instances"]["primary"], true);
  ups_.SetHealthy(0, false);
  r = Get("/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "degraded");
  EXPECT_EQ(ups_.request_count(0) + ups_.request_count(1), 0u);  // answered by chroma-ha
}

TEST_F(RouterTest, HealthIs503WhenNoInstanceIsHealthy) {
  ups_.SetHealthy(0, false);
  ups_.SetHealthy(1, false);
  HttpResponse r = Get("/health");
  EXPECT_EQ(r.status, 503);
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["status"], "unhealthy");
  EXPECT_EQ(j["healthy_instances"], 0);
}

TEST_F(RouterTest, StatusListsInstancesStrategyAndVersion) {
  ups_.SetHealthy(1, false);
  EXPECT_EQ(Get("/api/v2/heartbeat").status, 200);  // one request to the primary
  HttpResponse r = Get("/status");
  EXPECT_EQ(r.status, 200);
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["strategy"], "optimized_read_replica");
  EXPECT_EQ(j["version"], CHROMA_HA_VERSION);
  ASSERT_TRUE(j["instances"].is_array());
  ASSERT_EQ(j["instances"].size(), 2u);
  EXPECT_EQ(j["instances"][0]["name"], "primary");
  EXPECT_EQ(j["instances"][0]["role"], "primary");
  EXPECT_EQ(j["instances"][0]["healthy"], true);
  EXPECT_EQ(j["instances"][0]["requests"], 1);
  EXPECT_EQ(j["instances"][1]["name"], "replica");
  EXPECT_EQ(j["instances"][1]["role"], "replica");
  EXPECT_EQ(j["instances"][1]["healthy"], false);
  EXPECT_EQ(j["instances"][1]["requests"], 0);
  EXPECT_EQ(j["requests"]["reads"], 1);
}

TEST_F(RouterTest, UnknownOwnEndpointIs404Json) {
  // /admin/* answers only with the admin token (admin_security_test.cc): 403 while it is unset.
  ExpectJsonError(Get("/admin/nothing-here"), 403);
  config_.admin_token = "t";
  ExpectJsonError(Get("/admin/nothing-here"), 401);
  HttpRequest request;
  request.method = "GET";
  request.target = "/admin/nothing-here";
  request.headers.push_back({"X-Admin-Token", "t"});
  ExpectJsonError(testing::RunCo(ioc_, router_.Handle(std::move(request))), 404);
}

// --- Collection ids ------------------------------------------------------------------------------

TEST_F(RouterTest, CanonicalIdInAReadIsTranslatedToTheReplicasId) {
  LearnBoth();
  ServesCollection(1, kReplicaId);
  HttpResponse r = Get(std::string(kDb) + "/collections/" + kPrimaryId + "/count");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "7");
  ASSERT_EQ(ups_.request_count(1), 1u);
  EXPECT_EQ(ups_.requests(1)[0].target, std::string(kDb) + "/collections/" + kReplicaId + "/count");
  EXPECT_EQ(ups_.request_count(0), 0u);
}

// The request path asks TargetNow first and awaits TargetFor only when it says kAwait: a path
// without a collection id, or an id this process has cached, costs no lookup.
TEST_F(RouterTest, TargetNowAnswersWithoutALookupWhatTheCacheKnows) {
  const std::string by_id = std::string(kDb) + "/collections/" + kPrimaryId + "/get";
  HttpRequest get{"POST", by_id, {}, "{}"};
  std::string mapped;
  EXPECT_EQ(resolver_.TargetNow(get, Classify("POST", by_id), 1, &mapped),
            CollectionResolver::Now::kAwait);  // not cached yet
  LearnBoth();
  EXPECT_EQ(resolver_.TargetNow(get, Classify("POST", by_id), 1, &mapped),
            CollectionResolver::Now::kMapped);
  EXPECT_EQ(mapped, std::string(kDb) + "/collections/" + kReplicaId + "/get");
  HttpRequest beat{"GET", "/api/v2/heartbeat", {}, {}};
  EXPECT_EQ(resolver_.TargetNow(beat, Classify("GET", beat.target), 1, &mapped),
            CollectionResolver::Now::kAsIs);
  EXPECT_EQ(ups_.request_count(0) + ups_.request_count(1), 0u);
}

// Only answers OnResponse acts on are handed to it: 2xx listings and collection objects,
// renames and deletes.
TEST_F(RouterTest, OnlyAnswersThatChangeIdentityGoToOnResponse) {
  const HttpResponse ok = FakeUpstreams::Response(200, "[]");
  const HttpResponse missing = FakeUpstreams::Response(404, "{}");
  const std::string list = std::string(kDb) + "/collections";
  const std::string one = list + "/" + kPrimaryId;
  const HttpRequest listing{"GET", list, {}, {}};
  const HttpRequest count{"GET", one + "/count", {}, {}};
  const HttpRequest remove{"DELETE", list + "/c", {}, {}};
  EXPECT_TRUE(resolver_.WantsResponse(listing, Classify("GET", list), ok));
  EXPECT_FALSE(resolver_.WantsResponse(listing, Classify("GET", list), missing));
  EXPECT_FALSE(resolver_.WantsResponse(count, Classify("GET", count.target), ok));
  EXPECT_TRUE(resolver_.WantsResponse(remove, Classify("DELETE", remove.target), ok));
}

TEST_F(RouterTest, TranslationKeepsTheQueryString) {
  LearnBoth();
  ServesCollection(1, kReplicaId);
  (void)Get(std::string(kDb) + "/collections/" + kPrimaryId + "/count?x=" + kPrimaryId);
  ASSERT_EQ(ups_.request_count(1), 1u);
  EXPECT_EQ(ups_.requests(1)[0].target,
            std::string(kDb) + "/collections/" + kReplicaId + "/count?x=" + kPrimaryId);
}

TEST_F(RouterTest, FailoverTranslatesForEachInstance) {
  LearnBoth();
  ups_.AlwaysFail(1, Status::Unavailable("refused"));
  ServesCollection(0, kPrimaryId);
  EXPECT_EQ(Get(std::string(kDb) + "/collections/" + kPrimaryId + "/count").status, 200);
  ASSERT_EQ(ups_.request_count(0), 1u);
  EXPECT_EQ(ups_.requests(0)[0].target, std::string(kDb) + "/collections/" + kPrimaryId + "/count");
  EXPECT_EQ(ups_.requests(1)[0].target, std::string(kDb) + "/collections/" + kReplicaId + "/count");
}

TEST_F(RouterTest, CollectionObjectsInResponsesCarryTheCanonicalId) {
  LearnBoth();
  ServesCollection(1, kReplicaId);
  HttpResponse one = Get(std::string(kDb) + "/collections/c");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["id"], kPrimaryId);
  HttpResponse list = Get(std::string(kDb) + "/collections?limit=10");
  ASSERT_EQ(list.status, 200);
  auto j = json::parse(list.body);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["id"], kPrimaryId);
  EXPECT_EQ(ups_.request_count(0), 0u);
}

TEST_F(RouterTest, FirstIdSeenBecomesCanonicalAndIsLearned) {
  ServesCollection(1, kReplicaId);
  HttpResponse r = Get(std::string(kDb) + "/collections/c");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["id"], kReplicaId);
  EXPECT_EQ(map_.IdOn({"t", "d", "c"}, "replica").value_or(""), kReplicaId);
}

TEST_F(RouterTest, UnknownIdIsDiscoveredThenTranslated) {
  ServesCollection(0, kPrimaryId);
  ServesCollection(1, kReplicaId);
  HttpResponse r = Get(std::string(kDb) + "/collections/" + kPrimaryId + "/count");
  EXPECT_EQ(r.status, 200);
  // Discovery listed the database on the instances...
  auto listed = [](const std::vector<HttpRequest>& reqs) {
    for (const auto& q : reqs) {
      if (q.method == "GET" && q.target.rfind(std::string(kDb) + "/collections?limit=", 0) == 0) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(listed(ups_.requests(0)));
  EXPECT_TRUE(listed(ups_.requests(1)));
  // ...and the read reached the replica with the replica's id.
  auto replica = ups_.requests(1);
  ASSERT_FALSE(replica.empty());
  EXPECT_EQ(replica.back().target, std::string(kDb) + "/collections/" + kReplicaId + "/count");
  EXPECT_EQ(map_.CanonicalId({"t", "d", "c"}).value_or(""), kPrimaryId);
  // Now known: no second discovery.
  ups_.ClearRequests();
  EXPECT_EQ(Get(std::string(kDb) + "/collections/" + kPrimaryId + "/count").status, 200);
  EXPECT_EQ(ups_.request_count(0), 0u);
  EXPECT_EQ(ups_.request_count(1), 1u);
}

TEST_F(RouterTest, AnIdNobodyKnowsIsForwardedUnchanged) {
  ServesCollection(0, kPrimaryId);
  ServesCollection(1, kReplicaId);
  const std::string bogus = "33333333-3333-3333-3333-333333333333";
  HttpResponse r = Get(std::string(kDb) + "/collections/" + bogus + "/count");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ups_.requests(1).back().target, std::string(kDb) + "/collections/" + bogus + "/count");
}

}  // namespace
}  // namespace chroma_ha
