#include "proxy/path_rewrite.h"

#include <gtest/gtest.h>

#include <string>

namespace chroma_ha {
namespace {

constexpr const char* kC = "/api/v2/tenants/t/databases/d/collections/";

std::string C(const std::string& rest) { return kC + rest; }

TEST(PathRewriteTest, ReplaceCollectionSegment) {
  struct Case {
    std::string target, segment, want;
  };
  const Case kCases[] = {
      {C("old-id/add"), "new-id", C("new-id/add")},
      {C("old-id"), "new-id", C("new-id")},
      {C("old-id/query?limit=1&x=%2F"), "n", C("n/query?limit=1&x=%2F")},
      {C("old-id?a=b"), "n", C("n?a=b")},
      {C("my%20name"), "new name/x", C("new%20name%2Fx")},
      {C("a/get"), "7f0c-\xC3\xA9", C("7f0c-%C3%A9/get")},
      // No collection segment: unchanged.
      {"/api/v2/tenants/t/databases/d/collections", "n",
       "/api/v2/tenants/t/databases/d/collections"},
      {"/api/v2/tenants/t/databases/d/collections/", "n",
       "/api/v2/tenants/t/databases/d/collections/"},
      {"/api/v2/tenants/t/databases/d/collections_count", "n",
       "/api/v2/tenants/t/databases/d/collections_count"},
      {"/api/v2/heartbeat", "n", "/api/v2/heartbeat"},
      {"/api/v1/collections/x", "n", "/api/v1/collections/x"},
      {"/api/v2/tenants//databases/d/collections/x", "n",
       "/api/v2/tenants//databases/d/collections/x"},
      {"/health?x=/api/v2/tenants/t/databases/d/collections/x", "n",
       "/health?x=/api/v2/tenants/t/databases/d/collections/x"},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(ReplaceCollectionSegment(c.target, c.segment), c.want) << c.target;
  }
}

TEST(PathRewriteTest, TemplateRoundTrip) {
  const std::string target = C("5f1a-uuid/upsert?q=%7Bcollection%7D");
  const std::string tmpl = CollectionPathTemplate(target);
  EXPECT_EQ(tmpl, C("{collection}/upsert?q=%7Bcollection%7D"));
  EXPECT_EQ(ExpandCollectionTemplate(tmpl, "other-uuid"),
            C("other-uuid/upsert?q=%7Bcollection%7D"));
  EXPECT_EQ(ExpandCollectionTemplate(tmpl, "a b"), C("a%20b/upsert?q=%7Bcollection%7D"));
  EXPECT_EQ(CollectionPathTemplate("/api/v2/reset"), "/api/v2/reset");
  EXPECT_EQ(ExpandCollectionTemplate("/api/v2/reset", "x"), "/api/v2/reset");
  // The placeholder only counts in the collection position.
  EXPECT_EQ(ExpandCollectionTemplate(C("name/add?{collection}"), "x"), C("name/add?{collection}"));
  EXPECT_EQ(ExpandCollectionTemplate(C("{collection}?{collection}"), "x"), C("x?{collection}"));
}

TEST(PathRewriteTest, FindCollectionSegment) {
  auto r = FindCollectionSegment(C("abc/add"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(C("abc/add").substr(r->offset, r->length), "abc");
  EXPECT_FALSE(FindCollectionSegment("").has_value());
  EXPECT_FALSE(FindCollectionSegment("api/v2/tenants/t/databases/d/collections/x").has_value());
  EXPECT_FALSE(FindCollectionSegment("/api/v2/tenants/t/databases/d/Collections/x").has_value());
  EXPECT_FALSE(FindCollectionSegment("/api/v2/tenants/t/databases/d/collections?x/y").has_value());
}

TEST(PathRewriteTest, PercentCoding) {
  std::string out;
  EXPECT_TRUE(PercentDecode("a%20b%2fc+d", &out));
  EXPECT_EQ(out, "a b/c+d");
  EXPECT_TRUE(PercentDecode("%00", &out));
  EXPECT_EQ(out, std::string(1, '\0'));
  EXPECT_FALSE(PercentDecode("%", &out));
  EXPECT_FALSE(PercentDecode("a%2", &out));
  EXPECT_FALSE(PercentDecode("%g0", &out));
  EXPECT_EQ(PercentEncodeSegment("Az09-._~"), "Az09-._~");
  EXPECT_EQ(PercentEncodeSegment("a/b c%{}"), "a%2Fb%20c%25%7B%7D");
  EXPECT_EQ(PercentEncodeSegment(std::string("\0\xff", 2)), "%00%FF");
  EXPECT_TRUE(PercentDecode(PercentEncodeSegment("x/y z\xC3\xA9"), &out));
  EXPECT_EQ(out, "x/y z\xC3\xA9");
}

}  // namespace
}  // namespace chroma_ha
