// ClientAuth::Check (auth/client_auth.h, auth/scope.h): a table over every route class of the
// classifier × tokens of every kind (none, wrong, read-only, read-write, manage, another
// tenant, full access); the two transports; the identity answer; reload; the limiter; metrics.
#include "auth/client_auth.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fakes/fake_clock.h"
#include "metrics/metrics.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;

constexpr char kUsers[] = R"({"users": [
  {"id": "admin", "tokens": ["tok-admin"], "manage": true},
  {"id": "writer", "tokens": ["tok-rw"], "tenant": "t", "databases": ["d"]},
  {"id": "reader", "tokens": ["tok-ro"], "tenant": "t", "databases": ["d"],
   "access": "read_only"},
  {"id": "manager", "tokens": ["tok-mgr"], "tenant": "t", "databases": ["d", "d2"],
   "manage": true},
  {"id": "other", "tokens": ["tok-other"], "tenant": "u"}
]})";

constexpr char kC[] =
    "/api/v2/tenants/t/databases/d/collections/11111111-1111-1111-1111-111111111111";

std::unique_ptr<ClientAuth> MakeAuth(const Clock& clock, bool x_chroma = false,
                                     int per_minute = 0) {
  auto set = ParseCredentialsJson(kUsers);
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  ClientAuth::Options options;
  options.x_chroma_token = x_chroma;
  options.failures_per_minute = per_minute;
  return std::make_unique<ClientAuth>(options, std::move(set).value(), clock);
}

HttpRequest Request(std::string method, std::string target, std::vector<Header> headers = {},
                    std::string body = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(headers);
  r.body = std::move(body);
  r.peer = "192.0.2.1";
  return r;
}

// The status Check answers with; 0 when the request may go on.
int StatusOf(ClientAuth& auth, const HttpRequest& request) {
  auto answer = auth.Check(request, Classify(request.method, request.target));
  return answer ? answer->status : 0;
}

std::vector<Header> Bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

// Columns: no token, wrong token, read-only (t/d), read-write (t/d), manage (t/d,d2), another
// tenant (u), full access. 0: goes on; 200: answered here (identity); else the refusal.
struct Case {
  const char* method;
  std::string target;
  const char* body;
  RouteClass cls;
  int none, wrong, ro, rw, mgr, other, admin;
};

const std::string kCol = kC;
const std::vector<Case> kCases = {
    // System reads: open as on Chroma, except the identity (answered from the token).
    {"GET", "/api/v2/heartbeat", "", RouteClass::kSystemRead, 0, 0, 0, 0, 0, 0, 0},
    {"GET", "/api/v2/version", "", RouteClass::kSystemRead, 0, 0, 0, 0, 0, 0, 0},
    {"GET", "/api/v2/pre-flight-checks", "", RouteClass::kSystemRead, 0, 0, 0, 0, 0, 0, 0},
    {"GET", "/api/v2/healthcheck", "", RouteClass::kSystemRead, 0, 0, 0, 0, 0, 0, 0},
    {"GET", "/api/v2/auth/identity", "", RouteClass::kSystemRead, 401, 401, 200, 200, 200, 200,
     200},
    // Reads.
    {"GET", "/api/v2/tenants/t", "", RouteClass::kRead, 401, 401, 0, 0, 0, 403, 0},
    {"GET", "/api/v2/tenants/t/databases?limit=5", "", RouteClass::kRead, 401, 401, 0, 0, 0, 403,
     0},
    {"GET", "/api/v2/tenants/t/databases/d", "", RouteClass::kRead, 401, 401, 0, 0, 0, 403, 0},
    {"GET", "/api/v2/tenants/t/databases/x", "", RouteClass::kRead, 401, 401, 403, 403, 403, 403,
     0},
    {"GET", "/api/v2/tenants/u/databases/d", "", RouteClass::kRead, 401, 401, 403, 403, 403, 0, 0},
    {"GET", "/api/v2/tenants/t/databases/d/collections", "", RouteClass::kRead, 401, 401, 0, 0, 0,
     403, 0},
    {"GET", "/api/v2/tenants/t/databases/d/collections_count", "", RouteClass::kRead, 401, 401, 0,
     0, 0, 403, 0},
    {"GET", "/api/v2/tenants/t/databases/d/collections/c", "", RouteClass::kRead, 401, 401, 0, 0, 0,
     403, 0},
    {"POST", (kCol + "/get"), "{}", RouteClass::kRead, 401, 401, 0, 0, 0, 403, 0},
    {"POST", (kCol + "/query"), "{}", RouteClass::kRead, 401, 401, 0, 0, 0, 403, 0},
    {"GET", (kCol + "/count"), "", RouteClass::kRead, 401, 401, 0, 0, 0, 403, 0},
    // Writes.
    {"POST", "/api/v2/reset", "", RouteClass::kWrite, 401, 401, 403, 403, 403, 403, 0},
    {"POST", "/api/v2/tenants", R"({"name":"t"})", RouteClass::kWrite, 401, 401, 403, 403, 0, 403,
     0},
    {"POST", "/api/v2/tenants", R"({"name":"t9"})", RouteClass::kWrite, 401, 401, 403, 403, 403,
     403, 0},
    {"POST", "/api/v2/tenants/t/databases", R"({"name":"d2"})", RouteClass::kWrite, 401, 401, 403,
     403, 0, 403, 0},
    {"POST", "/api/v2/tenants/t/databases", R"({"name":"d3"})", RouteClass::kWrite, 401, 401, 403,
     403, 403, 403, 0},
    {"POST", "/api/v2/tenants/t/databases", "not json", RouteClass::kWrite, 401, 401, 403, 403, 403,
     403, 0},
    {"DELETE", "/api/v2/tenants/t/databases/d", "", RouteClass::kWrite, 401, 401, 403, 403, 0, 403,
     0},
    {"POST", "/api/v2/tenants/t/databases/d/collections", R"({"name":"c"})", RouteClass::kWrite,
     401, 401, 403, 0, 0, 403, 0},
    {"PUT", kC, "{}", RouteClass::kWrite, 401, 401, 403, 0, 0, 403, 0},
    {"DELETE", "/api/v2/tenants/t/databases/d/collections/c", "", RouteClass::kWrite, 401, 401, 403,
     0, 0, 403, 0},
    {"POST", (kCol + "/add"), "{}", RouteClass::kWrite, 401, 401, 403, 0, 0, 403, 0},
    {"POST", (kCol + "/upsert"), "{}", RouteClass::kWrite, 401, 401, 403, 0, 0, 403, 0},
    {"POST", (kCol + "/update"), "{}", RouteClass::kWrite, 401, 401, 403, 0, 0, 403, 0},
    {"POST", (kCol + "/delete"), "{}", RouteClass::kWrite, 401, 401, 403, 0, 0, 403, 0},
    {"POST", (kCol + "/fork"), "{}", RouteClass::kWrite, 401, 401, 403, 0, 0, 403, 0},
    {"POST", "/api/v2/tenants/t/databases/x/collections/c/add", "{}", RouteClass::kWrite, 401, 401,
     403, 403, 403, 403, 0},
    // Unknown routes: scoped by what the path names; mutating ones need read-write.
    {"PATCH", "/api/v2/tenants/t", "{}", RouteClass::kUnknown, 401, 401, 403, 403, 0, 403, 0},
    {"GET", (kCol + "/a/b"), "", RouteClass::kUnknown, 401, 401, 0, 0, 0, 403, 0},
    {"POST", (kCol + "/a/b"), "", RouteClass::kUnknown, 401, 401, 403, 0, 0, 403, 0},
    {"POST", "/api/v2/something", "", RouteClass::kUnknown, 401, 401, 403, 403, 403, 403, 0},
    {"GET", "/api/v1/heartbeat", "", RouteClass::kUnknown, 401, 401, 403, 403, 403, 403, 0},
    // Invalid requests: a token first, then the router's 400.
    {"GET", "/api/v2/tenants/%ZZ", "", RouteClass::kInvalid, 401, 401, 0, 0, 0, 0, 0},
    // chroma-ha's own endpoints never take a client token (STATUS_TOKEN / ADMIN_TOKEN).
    {"GET", "/health", "", RouteClass::kOwn, 0, 0, 0, 0, 0, 0, 0},
    {"GET", "/status", "", RouteClass::kOwn, 0, 0, 0, 0, 0, 0, 0},
    {"GET", "/metrics", "", RouteClass::kOwn, 0, 0, 0, 0, 0, 0, 0},
    {"POST", "/admin/wal/retry", "", RouteClass::kOwn, 0, 0, 0, 0, 0, 0, 0},
};

TEST(ClientAuthTest, EveryRouteClassByToken) {
  FakeClock clock;
  auto auth = MakeAuth(clock);
  bool seen[6] = {};
  for (const Case& c : kCases) {
    const std::string what = std::string(c.method) + " " + c.target;
    ASSERT_EQ(Classify(c.method, c.target).cls, c.cls) << what;
    seen[static_cast<int>(c.cls)] = true;
    struct Column {
      const char* name;
      std::vector<Header> headers;
      int want;
    } const columns[] = {
        {"no token", {}, c.none},
        {"wrong token", Bearer("tok-wrong"), c.wrong},
        {"read-only", Bearer("tok-ro"), c.ro},
        {"read-write", Bearer("tok-rw"), c.rw},
        {"manage", Bearer("tok-mgr"), c.mgr},
        {"other tenant", Bearer("tok-other"), c.other},
        {"full access", Bearer("tok-admin"), c.admin},
    };
    for (const Column& col : columns) {
      auto answer = auth->Check(Request(c.method, c.target, col.headers, c.body),
                                Classify(c.method, c.target));
      const int got = answer ? answer->status : 0;
      EXPECT_EQ(got, col.want) << what << " with " << col.name
                               << (answer ? ": " + answer->body : std::string());
      if (answer && answer->status >= 400) {
        auto body = json::parse(answer->body, nullptr, false);
        ASSERT_TRUE(body.is_object()) << answer->body;
        EXPECT_EQ(body.value("error", ""), got == 401 ? "AuthorizationError" : "AuthError") << what;
        EXPECT_TRUE(body.contains("message")) << what;
        EXPECT_EQ(answer->body.find("tok-"), std::string::npos) << "a token echoed: " << what;
      }
    }
  }
  for (int cls = 0; cls < 6; ++cls) EXPECT_TRUE(seen[cls]) << "route class " << cls << " untested";
}

TEST(ClientAuthTest, BothTransports) {
  FakeClock clock;
  auto bearer = MakeAuth(clock, /*x_chroma=*/false);
  auto x_chroma = MakeAuth(clock, /*x_chroma=*/true);
  const char* target = "/api/v2/tenants/t/databases/d/collections";
  struct Case {
    std::vector<Header> headers;
    int bearer_want, x_chroma_want;
  } const cases[] = {
      {{{"Authorization", "Bearer tok-rw"}}, 0, 401},
      {{{"authorization", "bearer tok-rw"}}, 0, 401},
      {{{"AUTHORIZATION", "  Bearer   tok-rw  "}}, 0, 401},
      {{{"X-Chroma-Token", "tok-rw"}}, 401, 0},
      {{{"x-chroma-token", " tok-rw "}}, 401, 0},
      {{{"Authorization", "tok-rw"}}, 401, 401},
      {{{"Authorization", "Basic tok-rw"}}, 401, 401},
      {{{"Authorization", "Bearer"}}, 401, 401},
      {{{"Authorization", "Bearer "}}, 401, 401},
      {{{"X-Chroma-Token", ""}}, 401, 401},
      {{{"Authorization", "Bearer tok-rw"}, {"Authorization", "Bearer tok-rw"}}, 401, 401},
      {{{"X-Chroma-Token", "tok-rw"}, {"X-Chroma-Token", "tok-rw"}}, 401, 401},
      {{{"Authorization", "Bearer tok-rw\xc3\xa9"}}, 401, 401},
      {{{"Authorization", "Bearer " + std::string(100000, 'a')}}, 401, 401},
  };
  for (const Case& c : cases) {
    std::string what;
    for (const Header& h : c.headers) what += h.name + ": " + h.value.substr(0, 40) + "; ";
    EXPECT_EQ(StatusOf(*bearer, Request("GET", target, c.headers)), c.bearer_want) << what;
    EXPECT_EQ(StatusOf(*x_chroma, Request("GET", target, c.headers)), c.x_chroma_want) << what;
  }
}

TEST(ClientAuthTest, IdentityIsAnsweredFromTheToken) {
  FakeClock clock;
  auto auth = MakeAuth(clock);
  auto answer = auth->Check(Request("GET", "/api/v2/auth/identity", Bearer("tok-mgr")),
                            Classify("GET", "/api/v2/auth/identity"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(json::parse(answer->body),
            json::parse(R"({"user_id":"manager","tenant":"t","databases":["d","d2"]})"));
  // A token over every tenant names the default tenant (the one clients fall back to).
  answer = auth->Check(Request("GET", "/api/v2/auth/identity", Bearer("tok-admin")),
                       Classify("GET", "/api/v2/auth/identity"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(json::parse(answer->body),
            json::parse(R"({"user_id":"admin","tenant":"default_tenant","databases":["*"]})"));
}

TEST(ClientAuthTest, StripsOnlyTheConfiguredCredentialHeader) {
  FakeClock clock;
  std::vector<Header> headers = {
      {"AUTHORIZATION", "Bearer x"}, {"X-Chroma-Token", "y"}, {"Content-Type", "application/json"}};
  std::vector<Header> copy = headers;
  MakeAuth(clock, false)->StripCredential(headers);
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].name, "X-Chroma-Token");
  MakeAuth(clock, true)->StripCredential(copy);
  ASSERT_EQ(copy.size(), 2u);
  EXPECT_EQ(copy[0].name, "AUTHORIZATION");
}

TEST(ClientAuthTest, ReloadSwapsTheCredentialsAndKeepsThemOnAnInvalidFile) {
  FakeClock clock;
  const std::string path = ::testing::TempDir() + "/chroma_ha_client_auth_reload.json";
  auto write = [&path](const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  };
  write(R"({"users":[{"id":"a","tokens":["tok-old"]}]})");
  Config config;
  config.auth_credentials_file = path;
  config.auth_failures_per_minute = 0;
  auto made = ClientAuth::FromConfig(config, clock);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ClientAuth& auth = **made;
  Metrics metrics({"primary"});
  auth.SetMetrics(&metrics);
  const char* target = "/api/v2/tenants/t/databases/d/collections";
  EXPECT_EQ(StatusOf(auth, Request("GET", target, Bearer("tok-old"))), 0);
  EXPECT_EQ(StatusOf(auth, Request("GET", target, Bearer("tok-new"))), 401);

  write(R"({"users":[{"id":"b","tokens":["tok-new"]}]})");
  ASSERT_TRUE(auth.Reload().ok());
  EXPECT_EQ(StatusOf(auth, Request("GET", target, Bearer("tok-new"))), 0);
  EXPECT_EQ(StatusOf(auth, Request("GET", target, Bearer("tok-old"))), 401);

  for (const char* bad : {"{not json", R"({"users":[]})", ""}) {
    write(bad);
    EXPECT_FALSE(auth.Reload().ok()) << bad;
    EXPECT_EQ(StatusOf(auth, Request("GET", target, Bearer("tok-new"))), 0) << bad;
  }
  std::remove(path.c_str());
  EXPECT_FALSE(auth.Reload().ok());
  EXPECT_EQ(StatusOf(auth, Request("GET", target, Bearer("tok-new"))), 0);
  const std::string text = metrics.Render({});
  EXPECT_NE(text.find(R"(chroma_ha_auth_reloads_total{result="ok"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(chroma_ha_auth_reloads_total{result="failed"} 4)"), std::string::npos);
}

TEST(ClientAuthTest, FromConfig) {
  FakeClock clock;
  Config config;
  auto off = ClientAuth::FromConfig(config, clock);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->get(), nullptr);
  config.auth_credentials = "one-token";
  auto one = ClientAuth::FromConfig(config, clock);
  ASSERT_TRUE(one.ok());
  ASSERT_NE(one->get(), nullptr);
  EXPECT_EQ(StatusOf(**one, Request("POST", "/api/v2/reset", Bearer("one-token"))), 0);
  EXPECT_TRUE((*one)->Reload().ok());  // nothing to reload
  config.auth_credentials = "two words";
  EXPECT_FALSE(ClientAuth::FromConfig(config, clock).ok());
  config.auth_credentials.clear();
  config.auth_credentials_file = "/nonexistent/credentials.json";
  EXPECT_FALSE(ClientAuth::FromConfig(config, clock).ok());
}

TEST(ClientAuthTest, FailedAttemptsAreLimitedPerAddressAndCounted) {
  FakeClock clock;
  auto auth = MakeAuth(clock, false, /*per_minute=*/3);
  Metrics metrics({"primary"});
  auth->SetMetrics(&metrics);
  const char* target = "/api/v2/tenants/t/databases/d/collections";
  EXPECT_EQ(StatusOf(*auth, Request("GET", target)), 401);
  EXPECT_EQ(StatusOf(*auth, Request("GET", target, Bearer("nope"))), 401);
  EXPECT_EQ(StatusOf(*auth, Request("GET", target, Bearer("nope2"))), 401);
  // Out of failures: refused before the token is looked at, the right one included.
  auto limited = auth->Check(Request("GET", target, Bearer("tok-rw")), Classify("GET", target));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(FindHeader(limited->headers, "retry-after").value_or(""), "20");
  EXPECT_EQ(json::parse(limited->body).value("error", ""), "RateLimitError");
  // Another address is unaffected; open routes stay open for this one.
  HttpRequest elsewhere = Request("GET", target, Bearer("tok-rw"));
  elsewhere.peer = "192.0.2.2";
  EXPECT_EQ(StatusOf(*auth, elsewhere), 0);
  EXPECT_EQ(StatusOf(*auth, Request("GET", "/api/v2/heartbeat")), 0);
  clock.Advance(std::chrono::seconds(20));
  EXPECT_EQ(StatusOf(*auth, Request("GET", target, Bearer("tok-rw"))), 0);
  EXPECT_EQ(StatusOf(*auth, Request("GET", target, Bearer("tok-ro"), "")), 0);
  EXPECT_EQ(StatusOf(*auth, Request("POST", std::string(kC) + "/add", Bearer("tok-ro"), "{}")),
            403);
  const std::string text = metrics.Render({});
  EXPECT_NE(text.find(R"(chroma_ha_auth_failures_total{reason="missing"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(chroma_ha_auth_failures_total{reason="invalid"} 2)"), std::string::npos);
  EXPECT_NE(text.find(R"(chroma_ha_auth_failures_total{reason="limited"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(chroma_ha_auth_failures_total{reason="forbidden"} 1)"), std::string::npos);
}

TEST(ClientAuthTest, ForwardedForKeysTheLimiterOnlyWhenTrusted) {
  FakeClock clock;
  auto set = ParseCredentialsJson(kUsers);
  ASSERT_TRUE(set.ok());
  ClientAuth::Options options;
  options.failures_per_minute = 1;
  options.trust_forwarded_for = true;
  ClientAuth trusted(options, std::move(set).value(), clock);
  const char* target = "/api/v2/tenants/t";
  // The proxy appends the real address last; what a client writes before it does not count.
  auto from = [&](const char* xff) {
    return Request("GET", target, {{"X-Forwarded-For", xff}, {"Authorization", "Bearer x"}});
  };
  EXPECT_EQ(StatusOf(trusted, from("1.1.1.1, 203.0.113.9")), 401);
  EXPECT_EQ(StatusOf(trusted, from("2.2.2.2, 203.0.113.9")), 429);  // same last entry
  EXPECT_EQ(StatusOf(trusted, from("203.0.113.10")), 401);
  // Untrusted: the connection's address (192.0.2.1 for all of them).
  auto untrusted = MakeAuth(clock, false, 1);
  EXPECT_EQ(StatusOf(*untrusted, from("203.0.113.20")), 401);
  EXPECT_EQ(StatusOf(*untrusted, from("203.0.113.21")), 429);
}

}  // namespace
}  // namespace chroma_ha
