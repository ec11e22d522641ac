// Access control through Router::Handle (DESIGN.md §5, §7) with fake upstreams and an in-memory
// WAL: the admin routes × token configurations, path variants that must not bypass the check,
// STATUS_TOKEN gating, credential headers passing through (Chroma's) or not (ours), and no
// secret in the WAL or in any log line.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auth/client_auth.h"
#include "co_run.h"
#include "collections/collection_map.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_upstreams.h"
#include "fakes/memory_store.h"
#include "server/admin_auth.h"
#include "server/collection_resolver.h"
#include "server/dashboard.h"
#include "server/own_endpoints.h"
#include "server/router.h"
#include "server/write_path.h"
#include "wal/group_commit.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;

constexpr char kDb[] = "/api/v2/tenants/t/databases/d";
constexpr char kP1[] = "11111111-1111-1111-1111-111111111111";
constexpr char kR1[] = "22222222-2222-2222-2222-222222222222";
constexpr char kAdmin[] = "adm-0123456789-secret";
constexpr char kStatus[] = "sts-9876543210-secret";
constexpr char kChromaAuth[] = "chroma-auth-secret-xyz";

Config MakeConfig() {
  Config c;
  c.instances = {{"primary", "http://p:1", "p", 1, false, true},
                 {"replica", "http://r:2", "r", 2, false, false}};
  c.request_timeout = std::chrono::milliseconds(1000);
  return c;
}

// Router + WritePath (memory WAL) + own endpoints, with stand-ins for /admin/*, /metrics and
// /wal/status that count their calls.
class AdminSecurityTest : public ::testing::Test {
 protected:
  AdminSecurityTest()
      : config_(MakeConfig()),
        committer_(&mem_, 16),
        ups_({"primary", "replica"}),
        resolver_(config_, ups_, map_, nullptr),
        own_(config_, ups_, clock_),
        wal_threads_(1),
        writes_(config_, ups_, resolver_, mem_, committer_, wal_threads_, nullptr),
        router_(config_, ups_, resolver_, own_, &writes_) {
    EXPECT_TRUE(mem_.Open().ok());
    (void)map_.Learn({"t", "d", "c"}, "primary", kP1);
    (void)map_.Learn({"t", "d", "c"}, "replica", kR1);
    auto counted = [this](const HttpRequest&) -> boost::asio::awaitable<HttpResponse> {
      ++own_calls_;
      co_return JsonResponse(200, R"({"ok":true})");
    };
    own_.Register("POST", "/admin/wal/retry", counted);
    own_.Register("GET", "/metrics", counted);
    own_.Register("GET", "/wal/status", counted);
    RegisterDashboard(own_);
    // Every log line of the test goes to a ring buffer as well (checked for secrets).
    sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000);
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("test", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~AdminSecurityTest() override {
    spdlog::set_default_logger(previous_);
    committer_.Stop();
    wal_threads_.join();
  }

  HttpResponse Send(std::string method, std::string target, std::vector<Header> headers = {},
                    std::string body = "") {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.headers = std::move(headers);
    if (body.empty() && request.method == "POST") body = R"({"name":"x"})";
    request.body = std::move(body);
    return testing::RunCo(ioc_, router_.Handle(std::move(request)));
  }

  std::size_t UpstreamRequests() const { return ups_.request_count(0) + ups_.request_count(1); }

  void ExpectNoSecretLogged() {
    for (const std::string& line : sink_->last_formatted()) {
      for (const char* secret : {kAdmin, kStatus, kChromaAuth}) {
        EXPECT_EQ(line.find(secret), std::string::npos) << "a secret was logged: " << line;
      }
    }
  }

  boost::asio::io_context ioc_;
  Config config_;
  MemoryWalStore mem_;
  GroupCommitter committer_;
  FakeUpstreams ups_;
  CollectionMap map_;
  CollectionResolver resolver_;
  FakeClock clock_;
  OwnEndpoints own_;
  boost::asio::thread_pool wal_threads_;
  WritePath writes_;
  Router router_;
  int own_calls_ = 0;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

void ExpectJsonError(const HttpResponse& r, int status, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << what << ": " << r.body;
  EXPECT_TRUE(j.contains("error") && j.contains("message")) << what << ": " << r.body;
  EXPECT_EQ(FindHeader(r.headers, "content-type").value_or(""), "application/json") << what;
  EXPECT_EQ(r.body.find(kAdmin), std::string::npos) << what;
}

// --- Routes × token configurations -------------------------------------------------------------

struct AdminRoute {
  const char* method;
  const char* target;
  bool reset;
  bool own;  // chroma-ha's own admin endpoint (no upstream involved)
};

const AdminRoute kAdminRoutes[] = {
    {"POST", "/api/v2/reset", true, false},
    {"POST", "/admin/wal/retry", false, true},
};

struct Creds {
  const char* name;
  const char* admin_token;  // configured ADMIN_TOKEN
  bool allow_reset;
  std::vector<Header> sent;
  int want;        // for the non-reset routes
  int want_reset;  // for reset; 200 = passes
};

const std::vector<Creds> kCreds = {
    {"no token configured, none sent", "", false, {}, 403, 403},
    {"no token configured, one sent", "", false, {{"X-Admin-Token", kAdmin}}, 403, 403},
    {"token configured, none sent", kAdmin, false, {}, 401, 401},
    {"wrong token", kAdmin, false, {{"X-Admin-Token", "wrong"}}, 401, 401},
    {"token with a suffix", kAdmin, false, {{"X-Admin-Token", std::string(kAdmin) + "x"}}, 401,
     401},
    {"token prefix", kAdmin, false, {{"X-Admin-Token", "adm-0123"}}, 401, 401},
    {"wrong bearer", kAdmin, false, {{"Authorization", "Bearer nope"}}, 401, 401},
    {"token as x-chroma-token", kAdmin, false, {{"X-Chroma-Token", kAdmin}}, 401, 401},
    {"token as Basic", kAdmin, false, {{"Authorization", std::string("Basic ") + kAdmin}}, 401,
     401},
    {"right token (X-Admin-Token)", kAdmin, false, {{"X-Admin-Token", kAdmin}}, 200, 200},
    {"right token (Bearer)", kAdmin, false, {{"authorization", std::string("Bearer ") + kAdmin}},
     200, 200},
    {"ALLOW_RESET, no token configured", "", true, {}, 403, 200},
    {"ALLOW_RESET, wrong token", kAdmin, true, {{"X-Admin-Token", "wrong"}}, 401, 200},
    {"ALLOW_RESET, right token", kAdmin, true, {{"X-Admin-Token", kAdmin}}, 200, 200},
};

TEST_F(AdminSecurityTest, AdminRoutesByTokenConfiguration) {
  for (const Creds& c : kCreds) {
    for (const AdminRoute& route : kAdminRoutes) {
      const std::string what = std::string(c.name) + ": " + route.method + " " + route.target;
      config_.admin_token = c.admin_token;
      config_.allow_reset = c.allow_reset;
      ups_.ClearRequests();
      own_calls_ = 0;
      HttpResponse r = Send(route.method, route.target, c.sent);
      const int want = route.reset ? c.want_reset : c.want;
      if (want == 200) {
        EXPECT_EQ(r.status, 200) << what << ": " << r.body;
        if (route.own) {
          EXPECT_EQ(own_calls_, 1) << what;
        } else if (route.reset) {
          EXPECT_EQ(ups_.request_count(0), 1u) << what;  // reset goes to every instance
          EXPECT_EQ(ups_.request_count(1), 1u) << what;
          for (const HttpRequest& sent : ups_.requests(0)) {
            EXPECT_FALSE(FindHeader(sent.headers, "x-admin-token").has_value()) << what;
          }
        } else {
          EXPECT_EQ(ups_.request_count(0), 1u) << what;  // a write: the primary
        }
      } else {
        ExpectJsonError(r, want, what);
        if (want == 401) {
          EXPECT_EQ(FindHeader(r.headers, "www-authenticate").value_or(""), "Bearer") << what;
        }
        EXPECT_EQ(UpstreamRequests(), 0u) << what << ": reached an instance";
        EXPECT_EQ(own_calls_, 0) << what << ": reached the admin handler";
      }
    }
  }
  ExpectNoSecretLogged();
}

// Issue 12: tenant and database routes behave as on a Chroma server without auth: whatever
// ADMIN_TOKEN is, and whether or not a token is sent, they pass (and writes are WAL-logged).
TEST_F(AdminSecurityTest, TenantAndDatabaseRoutesNeedNoAdminToken) {
  struct Case {
    const char* method;
    const char* target;
    const char* body;
    bool write;
  } const routes[] = {
      {"POST", "/api/v2/tenants", R"({"name":"t2"})", true},
      {"GET", "/api/v2/tenants/t2", "", false},
      {"POST", "/api/v2/tenants/t2/databases", R"({"name":"d2"})", true},
      {"GET", "/api/v2/tenants/t2/databases", "", false},
      {"GET", "/api/v2/tenants/t2/databases/d2", "", false},
      {"DELETE", "/api/v2/tenants/t2/databases/d2", "", true},
  };
  ups_.AlwaysRespond(0, 200, "{}");
  ups_.AlwaysRespond(1, 200, "{}");
  for (const char* admin : {"", kAdmin}) {
    for (const std::vector<Header>& sent :
         {std::vector<Header>{}, std::vector<Header>{{"X-Admin-Token", "wrong"}}}) {
      config_.admin_token = admin;
      for (const Case& c : routes) {
        const std::string what = std::string(c.method) + " " + c.target;
        const std::size_t logged = mem_.All().size();
        HttpResponse r = Send(c.method, c.target, sent, c.body);
        EXPECT_EQ(r.status, 200) << what << ": " << r.body;
        EXPECT_EQ(mem_.All().size(), logged + (c.write ? 1 : 0)) << what;
      }
    }
  }
}

TEST_F(AdminSecurityTest, OrdinaryRoutesNeedNoToken) {
  config_.admin_token = kAdmin;
  ups_.AlwaysRespond(0, 201, "{}");
  ups_.AlwaysRespond(1, 200, "[]");
  EXPECT_EQ(Send("GET", std::string(kDb) + "/collections").status, 200);
  EXPECT_EQ(Send("GET", "/api/v2/tenants/t").status, 200);
  EXPECT_EQ(Send("GET", "/api/v2/tenants/t/databases").status, 200);
  EXPECT_EQ(Send("GET", kDb).status, 200);
  EXPECT_EQ(Send("GET", "/api/v2/heartbeat").status, 200);
  EXPECT_EQ(Send("POST", std::string(kDb) + "/collections/" + kP1 + "/add",
                 {}, R"({"ids":["a"],"embeddings":[[1,2,3]]})")
                .status,
            201);
  EXPECT_EQ(Send("POST", std::string(kDb) + "/collections", {}, R"({"name":"c9"})").status, 201);
  EXPECT_EQ(Send("DELETE", std::string(kDb) + "/collections/c").status, 201);
  EXPECT_EQ(Send("GET", "/health").status, 200);
}

// --- Path variants -------------------------------------------------------------------------------

struct Variant {
  const char* method;
  const char* target;
  int want_without_token;  // 400 (rejected as invalid) or 401 (still needs the token)
};

const Variant kVariants[] = {
    {"POST", "/api/v2/reset?x", 401},
    {"POST", "/api/v2/reset?x=1&y", 401},
    {"POST", "/api/v2/reset/", 401},
    {"POST", "/api/v2/reset//", 400},
    {"POST", "/api/v2//reset", 400},
    {"POST", "//api/v2/reset", 401},
    {"POST", "/api//v2/reset", 401},
    {"POST", "/api/v2/RESET", 401},
    {"POST", "/API/V2/Reset", 401},
    {"POST", "/api/v2/%72eset", 401},
    {"POST", "/api/v2/res%65t?x", 401},
    {"POST", "/api/v2/reset;x", 401},
    {"POST", "/api/v2/reset%3Bx", 401},  // decodes to "reset;x"
    {"POST", "/api/v2/./reset", 400},
    {"POST", "/api/v2/%2e/reset", 400},
    {"POST", "/api/v2/%2E%2E/v2/reset", 400},
    {"POST", "/api/v2/x/../reset", 400},
    {"POST", "/api/v2%2freset", 401},
    {"POST", "/api%2fv2%2freset", 401},
    {"POST", "/api/v2%2f.%2freset", 401},
    {"POST", "/api/v1/reset", 401},
    {"PUT", "/api/v2/reset", 401},
    {"post", "/api/v2/reset", 401},
    {"POST", "/admin/wal/retry?x", 401},
    {"POST", "/admin/", 401},
    {"POST", "/admin", 401},
    {"POST", "/admin/wal/../wal/retry", 400},
};

TEST_F(AdminSecurityTest, PathVariantsAreRejectedOrStillNeedTheToken) {
  config_.admin_token = kAdmin;
  for (const Variant& v : kVariants) {
    const std::string what = std::string(v.method) + " " + v.target;
    ups_.ClearRequests();
    own_calls_ = 0;
    HttpResponse r = Send(v.method, v.target, {{"X-Admin-Token", "wrong"}});
    ExpectJsonError(r, v.want_without_token, what);
    EXPECT_EQ(UpstreamRequests(), 0u) << what << ": reached an instance without the token";
    EXPECT_EQ(own_calls_, 0) << what;
  }
  // With no token configured at all, every one of them is refused too.
  config_.admin_token.clear();
  for (const Variant& v : kVariants) {
    ups_.ClearRequests();
    HttpResponse r = Send(v.method, v.target);
    EXPECT_TRUE(r.status == 400 || r.status == 403) << v.method << " " << v.target << ": "
                                                    << r.status;
    EXPECT_EQ(UpstreamRequests(), 0u) << v.method << " " << v.target;
  }
}

TEST_F(AdminSecurityTest, CaseVariantsOfOwnAdminPathsNeverReachTheAdminHandler) {
  config_.admin_token = kAdmin;
  for (const char* target : {"/ADMIN/wal/retry", "/Admin/wal/retry", "/admin/WAL/retry",
                             "/%61dmin/wal/retry", "/admin/wal/retry/"}) {
    own_calls_ = 0;
    (void)Send("POST", target);
    EXPECT_EQ(own_calls_, 0) << target;
  }
}

// --- STATUS_TOKEN ----------------------------------------------------------------------------------

TEST_F(AdminSecurityTest, StatusEndpointsAreOpenWithoutStatusToken) {
  for (const char* path : {"/status", "/wal/status", "/metrics", "/health", "/dashboard"}) {
    EXPECT_EQ(Send("GET", path).status, 200) << path;
  }
}

TEST_F(AdminSecurityTest, StatusTokenGatesStatusEndpointsButNeverHealth) {
  config_.status_token = kStatus;
  config_.admin_token = kAdmin;
  struct Case {
    const char* name;
    std::vector<Header> sent;
    int want;
  };
  const std::vector<Case> cases = {
      {"none", {}, 401},
      {"wrong", {{"X-Status-Token", "wrong"}}, 401},
      {"wrong bearer", {{"Authorization", "Bearer wrong"}}, 401},
      {"status token as x-admin-token", {{"X-Admin-Token", kStatus}}, 401},
      {"X-Status-Token", {{"X-Status-Token", kStatus}}, 200},
      {"Bearer status token", {{"Authorization", std::string("Bearer ") + kStatus}}, 200},
      {"admin token", {{"X-Admin-Token", kAdmin}}, 200},
  };
  for (const Case& c : cases) {
    for (const char* path : {"/status", "/status?x=1", "/wal/status", "/metrics"}) {
      HttpResponse r = Send("GET", path, c.sent);
      if (c.want == 200) {
        EXPECT_EQ(r.status, 200) << c.name << " " << path << ": " << r.body;
      } else {
        ExpectJsonError(r, c.want, std::string(c.name) + " " + path);
        EXPECT_EQ(r.body.find("\"instances\""), std::string::npos) << path;
      }
    }
    // Never gated: the platform's health check, and the data-free dashboard page.
    EXPECT_EQ(Send("GET", "/health", c.sent).status, 200) << c.name;
    HttpResponse page = Send("GET", "/dashboard", c.sent);
    EXPECT_EQ(page.status, 200) << c.name;
    EXPECT_EQ(FindHeader(page.headers, "content-type").value_or(""), "text/html; charset=utf-8");
  }
  EXPECT_EQ(own_calls_, 3 * 2);  // /wal/status and /metrics, for the three good tokens
  // The status token is not an admin token.
  HttpResponse r =
      Send("POST", "/admin/wal/retry", {{"Authorization", std::string("Bearer ") + kStatus}});
  ExpectJsonError(r, 401, "status token on an admin route");
  EXPECT_EQ(UpstreamRequests(), 0u);
  ExpectNoSecretLogged();
}

// --- Credentials on the way through --------------------------------------------------------------

TEST_F(AdminSecurityTest, ChromaCredentialsPassThroughOursDoNot) {
  config_.admin_token = kAdmin;
  const std::vector<Header> sent = {{"Authorization", std::string("Bearer ") + kChromaAuth},
                                    {"x-chroma-token", kChromaAuth},
                                    {"X-Admin-Token", kAdmin},
                                    {"X-Status-Token", kStatus}};
  ups_.AlwaysRespond(1, 200, "[]");
  ups_.AlwaysRespond(0, 200, "{}");
  ASSERT_EQ(Send("GET", std::string(kDb) + "/collections", sent).status, 200);  // a read
  ASSERT_EQ(Send("POST", "/api/v2/tenants/t/databases", sent, R"({"name":"d2"})").status, 200);
  ASSERT_EQ(Send("POST", "/api/v2/tenants/t/databases?x", sent, R"({"name":"d3"})").status, 200);
  std::vector<HttpRequest> got = ups_.requests(1);
  for (const HttpRequest& r : ups_.requests(0)) got.push_back(r);
  ASSERT_EQ(got.size(), 3u);
  for (const HttpRequest& r : got) {
    EXPECT_EQ(FindHeader(r.headers, "authorization").value_or(""),
              std::string("Bearer ") + kChromaAuth) << r.target;
    EXPECT_EQ(FindHeader(r.headers, "x-chroma-token").value_or(""), kChromaAuth) << r.target;
    EXPECT_FALSE(FindHeader(r.headers, "x-admin-token").has_value()) << r.target;
    EXPECT_FALSE(FindHeader(r.headers, "x-status-token").has_value()) << r.target;
  }
}

TEST_F(AdminSecurityTest, TheWalStoresNoHeaders) {
  config_.admin_token = kAdmin;
  const std::vector<Header> sent = {{"Authorization", std::string("Bearer ") + kChromaAuth},
                                    {"x-chroma-token", kChromaAuth},
                                    {"X-Admin-Token", kAdmin}};
  ups_.AlwaysRespond(0, 201, "{}");
  const std::string add = R"({"ids":["a"],"embeddings":[[1,2,3]]})";
  ASSERT_EQ(Send("POST", std::string(kDb) + "/collections/" + kP1 + "/add", sent, add).status,
            201);
  ASSERT_EQ(Send("POST", "/api/v2/tenants/t/databases", sent, R"({"name":"d2"})").status, 201);
  ASSERT_EQ(Send("DELETE", kDb, sent).status, 201);
  auto all = mem_.All();
  ASSERT_EQ(all.size(), 3u);
  for (const WalEntry& e : all) {
    for (const std::string& field : {e.tenant, e.database, e.collection, e.kind, e.method, e.path,
                                     e.body, e.origin, e.last_error, e.extra}) {
      for (const char* secret : {kAdmin, kChromaAuth}) {
        EXPECT_EQ(field.find(secret), std::string::npos) << "seq " << e.seq << ": " << field;
      }
      EXPECT_EQ(field.find("Bearer"), std::string::npos) << field;
    }
  }
  EXPECT_EQ(all[0].body, add);  // the body, byte-exact, and nothing else of the request
  ExpectNoSecretLogged();
}

// --- Client auth through the router (auth/client_auth.h) --------------------------------------

// The client token is checked before anything is dispatched, then removed: no instance sees it,
// the WAL does not store it, no log line holds it. ADMIN_TOKEN and STATUS_TOKEN are unchanged.
TEST_F(AdminSecurityTest, ClientTokenIsCheckedFirstAndNeverForwardedOrStored) {
  auto set = SingleTokenCredentials(kChromaAuth);
  ASSERT_TRUE(set.ok());
  ClientAuth auth({}, std::move(set).value(), clock_);
  router_.SetClientAuth(&auth);
  config_.admin_token = kAdmin;
  config_.status_token = kStatus;
  ups_.AlwaysRespond(0, 200, "{}");
  ups_.AlwaysRespond(1, 200, "[]");
  const std::string add = std::string(kDb) + "/collections/" + kP1 + "/add";
  const std::string body = R"({"ids":["a"],"embeddings":[[1,2,3]]})";

  // Without it (or with ours only): 401 before any instance or the WAL is involved.
  for (const std::vector<Header>& sent :
       {std::vector<Header>{}, std::vector<Header>{{"X-Admin-Token", kAdmin}},
        std::vector<Header>{{"Authorization", std::string("Bearer ") + kAdmin}}}) {
    ExpectJsonError(Send("POST", add, sent, body), 401, "write without the client token");
    ExpectJsonError(Send("GET", std::string(kDb) + "/collections", sent), 401, "read");
    ExpectJsonError(Send("POST", "/api/v2/tenants", sent, R"({"name":"t2"})"), 401, "tenant");
  }
  EXPECT_EQ(UpstreamRequests(), 0u);
  EXPECT_TRUE(mem_.All().empty());
  // Own endpoints keep their own tokens; /health stays open.
  EXPECT_EQ(Send("GET", "/health").status, 200);
  EXPECT_EQ(Send("GET", "/wal/status").status, 401);
  EXPECT_EQ(Send("GET", "/wal/status", {{"X-Status-Token", kStatus}}).status, 200);
  EXPECT_EQ(Send("POST", "/admin/wal/retry",
                 {{"Authorization", std::string("Bearer ") + kChromaAuth}})
                .status,
            401);

  // With it: served, and the token is gone from what the instances and the WAL receive.
  const std::vector<Header> sent = {{"Authorization", std::string("Bearer ") + kChromaAuth},
                                    {"X-Admin-Token", kAdmin}};
  EXPECT_EQ(Send("POST", add, sent, body).status, 200);
  EXPECT_EQ(Send("GET", std::string(kDb) + "/collections", sent).status, 200);
  EXPECT_EQ(Send("POST", "/api/v2/tenants", sent, R"({"name":"t2"})").status, 200);
  std::vector<HttpRequest> got = ups_.requests(1);
  for (const HttpRequest& r : ups_.requests(0)) got.push_back(r);
  ASSERT_GE(got.size(), 3u);
  for (const HttpRequest& r : got) {
    EXPECT_FALSE(FindHeader(r.headers, "authorization").has_value()) << r.target;
    EXPECT_FALSE(FindHeader(r.headers, "x-admin-token").has_value()) << r.target;
  }
  ASSERT_EQ(mem_.All().size(), 2u);
  for (const WalEntry& e : mem_.All()) {
    for (const std::string& field : {e.path, e.body, e.extra, e.origin, e.method}) {
      EXPECT_EQ(field.find(kChromaAuth), std::string::npos) << field;
    }
  }
  ExpectNoSecretLogged();
}

// --- GuardFor (pure) ---------------------------------------------------------------------------

TEST(GuardForTest, Table) {
  struct Case {
    const char* method;
    const char* target;
    Guard want;
  } const cases[] = {
      {"GET", "/health", Guard::kOpen},
      {"GET", "/dashboard", Guard::kOpen},
      {"GET", "/status", Guard::kStatus},
      {"GET", "/wal/stats", Guard::kStatus},
      {"GET", "/metrics", Guard::kStatus},
      {"POST", "/admin/wal/skip", Guard::kAdmin},
      {"POST", "/api/v2/reset", Guard::kReset},
      {"POST", "/api/v2/Reset", Guard::kReset},
      {"POST", "/api/v2/tenants", Guard::kOpen},
      {"POST", "/api/v2/tenants/t/databases", Guard::kOpen},
      {"POST", "/API/v2/TENANTS", Guard::kOpen},
      {"GET", "/api/v2/tenants/t", Guard::kOpen},
      {"GET", "/api/v2/tenants/t/databases/d", Guard::kOpen},
      {"DELETE", "/api/v2/tenants/t/databases/d", Guard::kOpen},
      {"DELETE", "/api/v2/tenants/t/databases/d/collections/c", Guard::kOpen},
      {"POST", "/api/v2/tenants/t/databases/d/collections", Guard::kOpen},
      {"GET", "/api/v2/reset", Guard::kOpen},
      {"POST", "/api/v2/heartbeat", Guard::kOpen},
      {"POST", "/other", Guard::kOpen},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(GuardFor(c.method, c.target, Classify(c.method, c.target)), c.want)
        << c.method << " " << c.target;
  }
}

}  // namespace
}  // namespace chroma_ha
