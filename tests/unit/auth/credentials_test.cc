// The credentials file parser and token matching (auth/credentials.h).
#include "auth/credentials.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace chroma_ha {
namespace {

// SHA-256("hashed-token-1"), computed independently (sha256sum).
constexpr char kHashedTokenDigest[] =
    "b994b24ad665aa12e2de126ec0de71a49b933e8792fef3a93a09434c438befad";

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(HexOf(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexOf(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CredentialsTest, SingleTokenHasFullAccess) {
  auto set = SingleTokenCredentials("s3cret-Token_1");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const Principal* p = set->Match("s3cret-Token_1");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, "anonymous");
  EXPECT_TRUE(p->AllTenants());
  EXPECT_TRUE(p->AllDatabases());
  EXPECT_FALSE(p->read_only);
  EXPECT_TRUE(p->manage);
  EXPECT_EQ(set->Match("s3cret-Token_"), nullptr);    // a prefix
  EXPECT_EQ(set->Match("s3cret-Token_12"), nullptr);  // a suffix
  EXPECT_EQ(set->Match(""), nullptr);
  EXPECT_EQ(set->Match("S3CRET-TOKEN_1"), nullptr);  // case matters
}

TEST(CredentialsTest, SingleTokenMustBePrintableAscii) {
  for (const char* bad : {"", "has space", "tab\there", "caf\xc3\xa9", "nl\n"}) {
    EXPECT_FALSE(SingleTokenCredentials(bad).ok()) << bad;
  }
}

TEST(CredentialsTest, ParsesUsersWithPlainAndHashedTokens) {
  const std::string text = std::string(R"({"users": [
    {"id": "admin", "tokens": ["admin-token"], "manage": true},
    {"id": "reader", "tokens": ["r1", "r2"], "tenant": "acme", "databases": ["a", "b"],
     "access": "read_only"},
    {"id": "hashed", "token_sha256": [")") +
                           kHashedTokenDigest + R"("], "tenant": "t"}
  ]})";
  auto set = ParseCredentialsJson(text);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->principals().size(), 3u);
  EXPECT_EQ(set->token_count(), 4u);

  const Principal* admin = set->Match("admin-token");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->id, "admin");
  EXPECT_TRUE(admin->manage && admin->AllTenants() && admin->AllDatabases());
  EXPECT_FALSE(admin->read_only);

  for (const char* t : {"r1", "r2"}) {
    const Principal* reader = set->Match(t);
    ASSERT_NE(reader, nullptr) << t;
    EXPECT_EQ(reader->id, "reader");
    EXPECT_TRUE(reader->read_only);
    EXPECT_FALSE(reader->manage);
    EXPECT_TRUE(reader->HasTenant("acme"));
    EXPECT_FALSE(reader->HasTenant("other"));
    EXPECT_TRUE(reader->HasDatabase("b"));
    EXPECT_FALSE(reader->HasDatabase("c"));
  }

  const Principal* hashed = set->Match("hashed-token-1");
  ASSERT_NE(hashed, nullptr);
  EXPECT_EQ(hashed->id, "hashed");
  EXPECT_EQ(set->Match(kHashedTokenDigest), nullptr);  // the digest itself is not the token
  EXPECT_EQ(set->Match("r3"), nullptr);
}

TEST(CredentialsTest, HashedTokensAcceptUpperCaseHex) {
  std::string upper = kHashedTokenDigest;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto set = ParseCredentialsJson(R"({"users":[{"id":"h","token_sha256":[")" + upper + R"("]}]})");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_NE(set->Match("hashed-token-1"), nullptr);
}

TEST(CredentialsTest, RefusesInvalidFiles) {
  struct Case {
    const char* text;
    const char* mentions;
  } const cases[] = {
      {"", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"users": []})", "non-empty"},
      {R"({"users": {}})", "non-empty"},
      {R"({"users": [{"id":"a","tokens":["x"]}], "extra": 1})", "unknown key \"extra\""},
      {R"({"users": [1]})", "must be an object"},
      {R"({"users": [{"tokens":["x"]}]})", "\"id\""},
      {R"({"users": [{"id":"","tokens":["x"]}]})", "\"id\""},
      {R"({"users": [{"id":"a"}]})", "at least one"},
      {R"({"users": [{"id":"a","tokens":[]}]})", "at least one"},
      {R"({"users": [{"id":"a","tokens":"x"}]})", "array"},
      {R"({"users": [{"id":"a","tokens":[1]}]})", "strings"},
      {R"({"users": [{"id":"a","tokens":["has space"]}]})", "printable ASCII"},
      {R"({"users": [{"id":"a","tokens":[""]}]})", "printable ASCII"},
      {R"({"users": [{"id":"a","token_sha256":["abc"]}]})", "64 hex"},
      {R"({"users": [{"id":"a","token_sha256":["zz23a7e3d8f8ce5c40e2b53ba04cc8e4d4df0d3b2ae4ab1b11e15b5d0aa29d8e"]}]})",
       "64 hex"},
      {R"({"users": [{"id":"a","tokens":["x"],"tenant":""}]})", "tenant"},
      {R"({"users": [{"id":"a","tokens":["x"],"tenant":["t"]}]})", "tenant"},
      {R"({"users": [{"id":"a","tokens":["x"],"databases":[]}]})", "databases"},
      {R"({"users": [{"id":"a","tokens":["x"],"databases":"d"}]})", "databases"},
      {R"({"users": [{"id":"a","tokens":["x"],"access":"write"}]})", "access"},
      {R"({"users": [{"id":"a","tokens":["x"],"manage":"yes"}]})", "manage"},
      {R"({"users": [{"id":"a","tokens":["x"],"role":"admin"}]})", "unknown key \"role\""},
      {R"({"users": [{"id":"a","tokens":["x"]},{"id":"a","tokens":["y"]}]})", "appears twice"},
      {R"({"users": [{"id":"a","tokens":["x"]},{"id":"b","tokens":["x"]}]})", "already used"},
      {R"({"users": [{"id":"a","tokens":["x","x"]}]})", "already used"},
  };
  for (const Case& c : cases) {
    auto set = ParseCredentialsJson(c.text);
    ASSERT_FALSE(set.ok()) << c.text;
    EXPECT_NE(set.status().message().find(c.mentions), std::string::npos)
        << c.text << " -> " << set.status().message();
  }
}

TEST(CredentialsTest, ErrorsNeverEchoATokenValue) {
  auto set = ParseCredentialsJson(R"({"users": [{"id":"a","tokens":["sekrit value"]}]})");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message().find("sekrit"), std::string::npos);
  auto dup = ParseCredentialsJson(
      R"({"users": [{"id":"a","tokens":["sekrit1"]},{"id":"b","tokens":["sekrit1"]}]})");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message().find("sekrit"), std::string::npos);
}

TEST(CredentialsTest, LoadsAFileAndRefusesAMissingOne) {
  const std::string path = ::testing::TempDir() + "/chroma_ha_credentials_test.json";
  {
    std::ofstream out(path);
    out << R"({"users":[{"id":"u","tokens":["tok-1"]}]})";
  }
  auto set = LoadCredentialsFile(path);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_NE(set->Match("tok-1"), nullptr);
  std::remove(path.c_str());
  auto missing = LoadCredentialsFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot be read"), std::string::npos);
}

}  // namespace
}  // namespace chroma_ha
