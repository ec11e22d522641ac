#include <gtest/gtest.h>

#include <string>

#include "chroma_ha/route.h"

namespace chroma_ha {
namespace {

using RC = RouteClass;
using WK = WriteKind;
using CR = CollectionRef;

constexpr const char* kTD = "/api/v2/tenants/default_tenant/databases/default_database";
constexpr const char* kId =
    "/api/v2/tenants/default_tenant/databases/default_database/"
    "collections/5f1a0d2e-8c2b-4c1e-9e4a-1b2c3d4e5f60";

std::string TD(const std::string& rest) { return kTD + rest; }
std::string Id(const std::string& rest) { return kId + rest; }

struct Case {
  std::string method;
  std::string target;
  RC want;
  WK write = WK::kNone;
  CR ref = CR::kNone;
};

TEST(ClassifierTest, ChromaRoutes) {
  const Case kCases[] = {
      // System reads.
      {"GET", "/api/v2/heartbeat", RC::kSystemRead},
      {"GET", "/api/v2/version", RC::kSystemRead},
      {"GET", "/api/v2/pre-flight-checks", RC::kSystemRead},
      {"GET", "/api/v2/healthcheck", RC::kSystemRead},
      {"GET", "/api/v2/auth/identity", RC::kSystemRead},
      {"GET", "/api/v2/heartbeat?x=1", RC::kSystemRead},
      // Reset, tenants, databases.
      {"POST", "/api/v2/reset", RC::kWrite, WK::kReset},
      {"POST", "/api/v2/tenants", RC::kWrite, WK::kCreateTenant},
      {"GET", "/api/v2/tenants/default_tenant", RC::kRead},
      {"POST", "/api/v2/tenants/default_tenant/databases", RC::kWrite, WK::kCreateDatabase},
      {"GET", "/api/v2/tenants/default_tenant/databases", RC::kRead},
      {"GET", "/api/v2/tenants/default_tenant/databases?limit=10&offset=0", RC::kRead},
      {"GET", TD(""), RC::kRead},
      {"DELETE", TD(""), RC::kWrite, WK::kDeleteDatabase},
      // Collections.
      {"POST", TD("/collections"), RC::kWrite, WK::kCreateCollection},
      {"GET", TD("/collections"), RC::kRead},
      {"GET", TD("/collections?limit=5"), RC::kRead},
      {"GET", TD("/collections_count"), RC::kRead},
      {"GET", TD("/collections/my_docs"), RC::kRead, WK::kNone, CR::kName},
      {"DELETE", TD("/collections/my_docs"), RC::kWrite, WK::kDeleteCollection, CR::kName},
      {"PUT", Id(""), RC::kWrite, WK::kModifyCollection, CR::kId},
      {"POST", Id("/add"), RC::kWrite, WK::kAdd, CR::kId},
      {"POST", Id("/upsert"), RC::kWrite, WK::kUpsert, CR::kId},
      {"POST", Id("/update"), RC::kWrite, WK::kUpdate, CR::kId},
      {"POST", Id("/delete"), RC::kWrite, WK::kDelete, CR::kId},
      {"POST", Id("/fork"), RC::kWrite, WK::kFork, CR::kId},
      {"POST", Id("/get"), RC::kRead, WK::kNone, CR::kId},
      {"POST", Id("/query"), RC::kRead, WK::kNone, CR::kId},
      {"GET", Id("/count"), RC::kRead, WK::kNone, CR::kId},
      {"POST", Id("/add?trace=1"), RC::kWrite, WK::kAdd, CR::kId},
      // Wrong method on a known path: forwarded to the primary.
      {"GET", Id("/add"), RC::kUnknown, WK::kNone, CR::kId},
      {"POST", Id("/count"), RC::kUnknown, WK::kNone, CR::kId},
      {"GET", Id("/query"), RC::kUnknown, WK::kNone, CR::kId},
      {"POST", "/api/v2/heartbeat", RC::kUnknown},
      {"GET", "/api/v2/reset", RC::kUnknown},
      {"GET", "/api/v2/tenants", RC::kUnknown},
      {"DELETE", "/api/v2/tenants/t", RC::kUnknown},
      {"PUT", TD("/collections"), RC::kUnknown},
      {"POST", TD("/collections_count"), RC::kUnknown},
      {"PATCH", Id(""), RC::kUnknown, WK::kNone, CR::kId},
      {"post", Id("/add"), RC::kUnknown, WK::kNone, CR::kId},
      // Unknown routes, v1 and others.
      {"GET", "/api/v1/heartbeat", RC::kUnknown},
      {"POST", "/api/v1/collections", RC::kUnknown},
      {"GET", "/", RC::kUnknown},
      {"GET", "/api/v2", RC::kUnknown},
      {"GET", "/api/v2/", RC::kUnknown},
      {"GET", "/api/v2/heartbeat/", RC::kUnknown},
      {"GET", "/api/v2/openapi.json", RC::kUnknown},
      {"GET", "/docs", RC::kUnknown},
      {"GET", "/api/v2/%68eartbeat", RC::kUnknown},  // literals compare raw, like Chroma
      {"POST", Id("/%61dd"), RC::kUnknown, WK::kNone, CR::kId},
      {"POST", Id("/search"), RC::kUnknown, WK::kNone, CR::kId},
      {"POST", Id("/add/extra"), RC::kUnknown, WK::kNone, CR::kId},
      {"GET", "/api/v2/tenants/", RC::kUnknown},
      {"GET", TD("/collections/"), RC::kUnknown},
      {"GET", "/healthz", RC::kUnknown},
      {"GET", "/admins", RC::kUnknown},
      {"GET", "//api/v2/heartbeat", RC::kUnknown},
      // Own endpoints.
      {"GET", "/health", RC::kOwn},
      {"GET", "/status", RC::kOwn},
      {"GET", "/wal/status", RC::kOwn},
      {"GET", "/wal/stats", RC::kOwn},
      {"GET", "/metrics", RC::kOwn},
      {"GET", "/metrics?format=text", RC::kOwn},
      {"GET", "/dashboard", RC::kOwn},
      {"POST", "/admin/retry", RC::kOwn},
      {"POST", "/admin/wal/skip?seq=3", RC::kOwn},
      {"GET", "/admin", RC::kOwn},
      {"POST", "/health", RC::kOwn},
  };
  for (const Case& c : kCases) {
    Route r = Classify(c.method, c.target);
    EXPECT_EQ(RouteClassName(r.cls), std::string(RouteClassName(c.want)))
        << c.method << " " << c.target << " " << r.error;
    EXPECT_EQ(WriteKindName(r.write), std::string(WriteKindName(c.write)))
        << c.method << " " << c.target;
    EXPECT_EQ(static_cast<int>(r.ref), static_cast<int>(c.ref)) << c.method << " " << c.target;
    EXPECT_TRUE(r.error.empty()) << c.target;
  }
}

TEST(ClassifierTest, InvalidTargets) {
  const std::string kCases[] = {
      "",
      "*",
      "api/v2/heartbeat",
      "http://example.com/api/v2/heartbeat",
      "/api/v2/../health",
      "/api/v2/./heartbeat",
      "/api/v2/heartbeat/..",
      "/api/v2/%2e%2e/health",
      "/api/v2/%2E./health",
      "/api/v2/.%2e/health",
      "/api/v2/%2e/heartbeat",
      "/admin/../api/v2/reset",
      "/foo/../bar",
      "/api/v2/tenants/a%2Fb",
      "/api/v2/tenants/a%2fb/databases",
      Id("%2F/add"),
      "/api/v2/tenants/%",
      "/api/v2/tenants/%4",
      "/api/v2/tenants/%zz",
      "/other/%g1",
      std::string("/api/v2/heartbeat\0", 18),
      std::string("/api/v2/tenants/a\0b", 19),
      "/api/v2/tenants/a\x01",
      "/api/v2/tenants/a\x7f",
      "/api/v2/tenants/a\tb",
      "/api/v2/tenants/a\r\nb",
      "/api/v2/tenants/a%00b",
      "/api/v2/tenants/a%0Ab",
      "/api/v2/tenants/a%7F",
      "/api/v2//heartbeat",
      "/api/v2/tenants//databases",
      "/api/v2/tenants/t/databases/d/collections//add",
      "/api/v2/tenants/a b",
      "/api/v2/heartbeat#frag",
      "/api/v2/heartbeat?q=\x01",
  };
  for (const std::string& target : kCases) {
    Route r = Classify("GET", target);
    EXPECT_EQ(r.cls, RC::kInvalid) << target;
    EXPECT_FALSE(r.error.empty()) << target;
  }
}

// Tenant, database and collection segments are stored as text in the WAL: after decoding they
// must be valid UTF-8 without NUL, on every route that has them (a hostile segment must be
// refused here, not by the store inside a batch of other clients' writes).
TEST(ClassifierTest, NonUtf8OrNulNameSegmentsAreInvalid) {
  // {} stands for the segment under test.
  const std::pair<std::string, std::string> kRoutes[] = {
      {"GET", "/api/v2/tenants/{}"},
      {"GET", "/api/v2/tenants/{}/databases"},
      {"POST", "/api/v2/tenants/{}/databases"},
      {"GET", "/api/v2/tenants/{}/databases/d"},
      {"DELETE", "/api/v2/tenants/{}/databases/d"},
      {"DELETE", "/api/v2/tenants/t/databases/{}"},
      {"GET", "/api/v2/tenants/t/databases/{}/collections"},
      {"POST", "/api/v2/tenants/t/databases/{}/collections"},
      {"GET", "/api/v2/tenants/t/databases/{}/collections_count"},
      {"GET", TD("/collections/{}")},
      {"DELETE", TD("/collections/{}")},
      {"PUT", TD("/collections/{}")},
      {"POST", TD("/collections/{}/add")},
      {"POST", TD("/collections/{}/upsert")},
      {"POST", TD("/collections/{}/update")},
      {"POST", TD("/collections/{}/delete")},
      {"POST", TD("/collections/{}/fork")},
      {"POST", TD("/collections/{}/get")},
      {"POST", TD("/collections/{}/query")},
      {"GET", TD("/collections/{}/count")},
      {"PATCH", TD("/collections/{}/add")},  // unknown method: still refused
      {"POST", "/api/v2/tenants/{}/databases/d/collections/c/add"},
  };
  const std::string kBad[] = {
      "%FF%FE",           // not UTF-8 at all (the hostile neighbour's segment)
      "ab%FF",            // a stray byte after good ones
      "%80",              // a lone continuation byte
      "%C3",              // a sequence cut short
      "%E2%82",           // a three-byte sequence cut short
      "%C3%28",           // a lead byte without its continuation
      "%C0%AF",           // overlong '/'
      "%E0%80%AF",        // overlong, three bytes
      "%ED%A0%80",        // a UTF-16 surrogate (U+D800)
      "%F4%90%80%80",     // past U+10FFFF
      "%F8%88%80%80%80",  // five-byte form
      "a%00",             // NUL
      "%00",              // NUL alone
      "\xFF\xFE",         // raw bytes, not percent-encoded
      "caf\xC3",          // raw, cut short
  };
  for (const auto& [method, pattern] : kRoutes) {
    const std::size_t at = pattern.find("{}");
    ASSERT_NE(at, std::string::npos) << pattern;
    for (const std::string& bad : kBad) {
      std::string target = pattern;
      target.replace(at, 2, bad);
      Route r = Classify(method, target);
      EXPECT_EQ(r.cls, RC::kInvalid) << method << " " << target;
      EXPECT_FALSE(r.error.empty()) << method << " " << target;
    }
  }
  // Valid UTF-8, encoded or raw, passes (and is decoded).
  const std::pair<std::string, std::string> kGood[] = {
      {"d%C3%A9j%C3%A0", "d\xC3\xA9j\xC3\xA0"},
      {"%E2%82%AC", "\xE2\x82\xAC"},
      {"%F0%9F%98%80", "\xF0\x9F\x98\x80"},
      {"%F4%8F%BF%BF", "\xF4\x8F\xBF\xBF"},  // U+10FFFF, the last code point
      {"caf\xC3\xA9", "caf\xC3\xA9"},
  };
  for (const auto& [segment, decoded] : kGood) {
    Route r = Classify("DELETE", TD("/collections/" + segment));
    EXPECT_EQ(r.cls, RC::kWrite) << segment << " " << r.error;
    EXPECT_EQ(r.collection, decoded) << segment;
  }
  // Outside /api/v2 the segments are not names: forwarded as unknown routes, as before.
  EXPECT_EQ(Classify("GET", "/other/%FF").cls, RC::kUnknown);
}

TEST(ClassifierTest, DecodesSegments) {
  Route r = Classify("POST",
                     "/api/v2/tenants/my%20tenant/databases/d%C3%A9/collections/"
                     "abc-123/add?x=%2F");
  EXPECT_EQ(r.cls, RC::kWrite);
  EXPECT_EQ(r.tenant, "my tenant");
  EXPECT_EQ(r.database, "d\xC3\xA9");
  EXPECT_EQ(r.collection, "abc-123");
  EXPECT_EQ(r.ref, CR::kId);

  r = Classify("GET", TD("/collections/my.docs-1"));
  EXPECT_EQ(r.tenant, "default_tenant");
  EXPECT_EQ(r.database, "default_database");
  EXPECT_EQ(r.collection, "my.docs-1");
  EXPECT_EQ(r.ref, CR::kName);

  r = Classify("POST", "/api/v2/tenants/t1/databases");
  EXPECT_EQ(r.tenant, "t1");
  EXPECT_EQ(r.database, "");
  r = Classify("DELETE", "/api/v2/tenants/t1/databases/d1");
  EXPECT_EQ(r.database, "d1");
  EXPECT_EQ(r.collection, "");
  r = Classify("POST", "/api/v2/tenants");
  EXPECT_EQ(r.tenant, "");
}

TEST(ClassifierTest, QueryStringIsIgnored) {
  // Dot-segments or encoded slashes in the query are not path segments.
  EXPECT_EQ(Classify("GET", "/api/v2/heartbeat?p=../x").cls, RC::kSystemRead);
  EXPECT_EQ(Classify("GET", "/api/v2/heartbeat?p=a%2Fb").cls, RC::kSystemRead);
  EXPECT_EQ(Classify("GET", "/api/v2/heartbeat?").cls, RC::kSystemRead);
  EXPECT_EQ(Classify("POST", Id("/add?/x/../y")).write, WK::kAdd);
}

TEST(ClassifierTest, Names) {
  EXPECT_STREQ(RouteClassName(RC::kSystemRead), "system_read");
  EXPECT_STREQ(RouteClassName(RC::kRead), "read");
  EXPECT_STREQ(RouteClassName(RC::kWrite), "write");
  EXPECT_STREQ(RouteClassName(RC::kOwn), "own");
  EXPECT_STREQ(RouteClassName(RC::kUnknown), "unknown");
  EXPECT_STREQ(RouteClassName(RC::kInvalid), "invalid");
  const std::pair<WK, const char*> kKinds[] = {
      {WK::kNone, "none"},
      {WK::kReset, "reset"},
      {WK::kCreateTenant, "create_tenant"},
      {WK::kCreateDatabase, "create_database"},
      {WK::kDeleteDatabase, "delete_database"},
      {WK::kCreateCollection, "create_collection"},
      {WK::kModifyCollection, "modify_collection"},
      {WK::kDeleteCollection, "delete_collection"},
      {WK::kAdd, "add"},
      {WK::kUpsert, "upsert"},
      {WK::kUpdate, "update"},
      {WK::kDelete, "delete"},
      {WK::kFork, "fork"},
  };
  for (const auto& [kind, name] : kKinds) EXPECT_STREQ(WriteKindName(kind), name);
}

}  // namespace
}  // namespace chroma_ha
