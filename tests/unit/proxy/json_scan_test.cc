// ScanJson accepts exactly what nlohmann::json::accept() accepts (the write path's validation
// before this scanner), without converting numbers, and reports the top-level members as text.
#include "text/json_scan.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace chroma_ha {
namespace {

bool Nlohmann(const std::string& s) { return nlohmann::json::accept(s); }

void ExpectSameVerdict(const std::string& s) {
  EXPECT_EQ(ScanJson(s).valid, Nlohmann(s)) << "input: " << testing::PrintToString(s);
}

// A deterministic pseudo-random sequence (an LCG), for the mutation tests.
class Draws {
 public:
  explicit Draws(uint64_t seed) : state_(seed) {}
  uint32_t Next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state_ >> 33);
  }

 private:
  uint64_t state_;
};

// `edits` replaced, inserted or deleted bytes, drawn from `alphabet`.
void Mutate(std::string* s, int edits, const std::string& alphabet, Draws& draws) {
  for (int e = 0; e < edits; ++e) {
    const std::size_t pos = draws.Next() % (s->size() + 1);
    const char c = alphabet[draws.Next() % alphabet.size()];
    switch (draws.Next() % 3) {
      case 0:
        if (pos < s->size()) (*s)[pos] = c;
        break;
      case 1:
        s->insert(pos, 1, c);
        break;
      default:
        if (pos < s->size()) s->erase(pos, 1);
    }
  }
}

TEST(JsonScanTest, SameVerdictAsNlohmannOnHandPickedInputs) {
  const std::vector<std::string> inputs = {
      "",
      " ",
      "{}",
      "[]",
      "{ }",
      "[ ]",
      "null",
      "true",
      "false",
      "nul",
      "truex",
      "0",
      "-0",
      "01",
      "-",
      "1.",
      ".5",
      "+1",
      "1e",
      "1e+",
      "1E-2",
      "-1.5e+10",
      "1.5e3x",
      "[1,]",
      "[,1]",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{\"a\":}",
      "{1:2}",
      "{\"a\":1}x",
      "{\"a\":1} ",
      "\t[1]\r\n",
      "[1 2]",
      "[\"a\"\"b\"]",
      "{\"a\":[1,{\"b\":[null,true]}]}",
      "[[[[[]]]]]",
      "[[[[[]]]]",
      "\"abc",
      "\"a\\\"b\"",
      "\"\\u00e9\"",
      "\"\\u00G9\"",
      "\"\\x\"",
      "\"\\/\"",
      "\"\\ud83d\\ude00\"",
      "\"\\ud83d\"",
      "\"\\ude00\"",
      "\"\\ud83d\\u0041\"",
      "\"\\ud83dx\"",
      "\"\\u0000\"",
      std::string("\"a\0b\"", 5),
      std::string("[1]\0", 4),
      "\"tab\there\"",
      "\"\x7f\"",
      "\"\xc3\xa9\"",
      "\"\xc3\"",
      "\"\xc0\xaf\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\"\xf0\x9f\x98\x80\"",
      "\xc3\xa9",
      "\xEF\xBB\xBF{}",
      "\xEF\xBB{}",
      "\xEF{}",
      "{}\xEF\xBB\xBF",
      " \xEF\xBB\xBF{}",
      "\xEF\xBB\xBF",
      "1e308",
      "1e309",
      "-1e309",
      "10e308",
      "0.1e310",
      "0.0001e312",
      "1e-400",
      "-1e-400",
      "1.7976931348623157e308",
      "1.7976931348623158e308",
      "1.7976931348623159e308",
      "1.797693134862315807e308",
      "1.797693134862315808e308",
      "0e999999999999999999999",
      "0.000e400",
      "1e99999999999999999999",
      "1e-99999999999999999999",
      "18446744073709551615",
      "18446744073709551616",
      "-9223372036854775809",
      "[1e308,2e308]",
      "{\"ids\":[\"a\"],\"x\":1e400}",
      std::string("{}\0x", 4),
      std::string("1\0", 2),
      std::string("[\0", 2),
      std::string(1, '\0'),
      std::string("{\"a\":\0}", 7),
  };
  for (const std::string& s : inputs) ExpectSameVerdict(s);
  for (int digits : {300, 308, 309, 310, 400}) {
    for (char lead : {'1', '2', '9'}) {
      ExpectSameVerdict(std::string(1, lead) + std::string(digits - 1, '0'));
      ExpectSameVerdict("-" + std::string(1, lead) + std::string(digits - 1, '7') + ".5");
      ExpectSameVerdict("0." + std::string(digits, '0') + lead + "e" +
                        std::to_string(digits + 300));
    }
  }
}

// Digit runs are compared 16 bytes at a time: runs of every length around that width, ending
// at every kind of byte (the neighbours of '0' and '9', a non-ASCII byte, the end of the text),
// in every position relative to the text's end.
TEST(JsonScanTest, LongDigitRunsHaveTheSameVerdict) {
  const std::string ends[] = {"", ",", "]", "/", ":", "a", "e5", "E-2", ".", "\xC3\xA9", " "};
  for (std::size_t len = 1; len <= 40; ++len) {
    const std::string digits = std::string(len - 1, '7') + "3";
    for (const std::string& end : ends) {
      for (const std::string& number : {"1" + digits, "-0." + digits, digits + "." + digits}) {
        ExpectSameVerdict(number + end);
        ExpectSameVerdict("[" + number + end + "]");
        ExpectSameVerdict("[" + number + end + ",1]   ");
      }
    }
  }
}

TEST(JsonScanTest, DeepNestingIsValidatedWithoutRecursion) {
  const int depth = 200000;
  ExpectSameVerdict(std::string(depth, '[') + std::string(depth, ']'));
  ExpectSameVerdict(std::string(depth, '[') + std::string(depth - 1, ']'));
  std::string objects;
  for (int i = 0; i < depth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(depth, '}');
  ExpectSameVerdict(objects);
}

// Deterministic mutations of a write body: replaced, inserted and deleted bytes, drawn from the
// characters that matter to JSON and to UTF-8.
TEST(JsonScanTest, SameVerdictAsNlohmannOnMutatedBodies) {
  const std::string seed =
      "{\"ids\":[\"a\",\"b\\u00e9\"],\"embeddings\":[[0.25,-1e-3,12],[3.5E+2,0,-0.0]],"
      "\"metadatas\":[{\"k\":true,\"n\":null},{\"s\":\"\xc3\xa9\\n\"}],\"documents\":null}";
  const std::string alphabet = std::string("{}[]\":,\\/ \t\n0123456789-+.eEtrufalsnbu") +
                               "\xc3\xa9\xed\xa0\x80\xff\x01" + std::string(1, '\0');
  Draws draws(0x9e3779b97f4a7c15ULL);
  int valid = 0;
  for (int round = 0; round < 40000; ++round) {
    std::string s = seed;
    Mutate(&s, 1 + static_cast<int>(draws.Next() % 3), alphabet, draws);
    const bool ours = ScanJson(s).valid;
    ASSERT_EQ(ours, Nlohmann(s)) << "input: " << testing::PrintToString(s);
    valid += ours;
  }
  EXPECT_GT(valid, 1000);  // the mutations exercised the accepting side too
}

// Numbers deep inside arrays (an embedding's) are checked 64 bytes at a time: long arrays of
// numbers in the forms clients write (",", ", ", signs, fractions, zeros, exponents), mutated
// with the bytes that matter to numbers, at every offset relative to a 64-byte block.
TEST(JsonScanTest, SameVerdictAsNlohmannOnMutatedNumberArrays) {
  Draws draws(0x2545f4914f6cdd1dULL);
  const char* const forms[] = {"0.25", "-0.125", "0",      "-0",          "12", "3.0e2",
                               "1E-3", "-7.5",   "0.0001", "123456789.5", "-1", "10"};
  const std::string alphabet = "0123456789-.,  eE+]\"\n\t";
  int valid = 0;
  for (int round = 0; round < 40000; ++round) {
    std::string numbers;
    const int count = 20 + static_cast<int>(draws.Next() % 40);
    const char* separator = draws.Next() % 2 == 0 ? "," : ", ";
    for (int i = 0; i < count; ++i) {
      if (i > 0) numbers += separator;
      numbers += forms[draws.Next() % std::size(forms)];
    }
    std::string s = "{\"ids\":[\"a\"],\"embeddings\":[" + std::string(draws.Next() % 64, ' ') +
                    "[" + numbers + "],[" + numbers + "]]}";
    Mutate(&s, round % 5 == 0 ? 0 : 1 + static_cast<int>(draws.Next() % 3), alphabet, draws);
    const bool ours = ScanJson(s).valid;
    ASSERT_EQ(ours, Nlohmann(s)) << "input: " << testing::PrintToString(s);
    valid += ours;
  }
  EXPECT_GT(valid, 8000);  // the accepting side too (every fifth body is unmutated)
}

TEST(JsonScanTest, ReportsTopLevelMembersAsText) {
  const std::string body =
      " {\"ids\" : [\"a\", \"b\\\"c\"] ,\"embeddings\":[[1,2],[3,4]],\"documents\":null,"
      "\"i\\u0064s\":[1,\"x\"],\"m\":{\"ids\":[\"z\"]},\"e\":[]} ";
  const JsonScan scan = ScanJson(body);
  ASSERT_TRUE(scan.valid);
  ASSERT_TRUE(scan.object);
  ASSERT_EQ(scan.members.size(), 6u);
  const JsonMember& ids = scan.members[0];
  EXPECT_EQ(ids.key, "ids");
  EXPECT_EQ(ids.value, "[\"a\", \"b\\\"c\"]");
  EXPECT_EQ(ids.elements, 2u);
  EXPECT_TRUE(ids.all_strings);
  const std::vector<std::string_view> elements = JsonArrayElements(ids.value);
  ASSERT_EQ(elements.size(), 2u);
  EXPECT_EQ(JsonStringValue(elements[0]), "a");
  EXPECT_EQ(JsonStringValue(elements[1]), "b\"c");
  EXPECT_EQ(JsonArrayInside(ids.value), "\"a\", \"b\\\"c\"");
  EXPECT_EQ(scan.members[1].value, "[[1,2],[3,4]]");
  EXPECT_EQ(scan.members[1].elements, 2u);
  EXPECT_FALSE(scan.members[1].all_strings);
  EXPECT_TRUE(scan.members[2].is_null());
  EXPECT_TRUE(scan.members[3].key_escaped);
  EXPECT_TRUE(scan.members[3].KeyIs("ids"));
  EXPECT_FALSE(scan.members[3].all_strings);
  EXPECT_EQ(scan.members[4].type(), '{');
  EXPECT_EQ(scan.members[5].elements, 0u);
  EXPECT_EQ(JsonArrayInside(scan.members[5].value), "");

  EXPECT_FALSE(ScanJson("[1,2]").object);
  EXPECT_TRUE(ScanJson("[1,2]").members.empty());
  EXPECT_TRUE(ScanJson("{\"a\":1").members.empty());  // invalid: nothing reported
}

}  // namespace
}  // namespace chroma_ha

namespace chroma_ha {
namespace {

TEST(JsonScanTest, ListsOnlyTheKeptMembersAndAtMostALimit) {
  std::string body = "{";
  for (int i = 0; i < 100000; ++i) body += "\"k" + std::to_string(i) + "\":0,";
  body += "\"ids\":[\"a\"],\"i\\u0064s\":[\"b\"]}";
  JsonScan scan = ScanJson(body, {"ids", "where"});
  ASSERT_TRUE(scan.valid);
  EXPECT_EQ(scan.member_count, 100002u);
  ASSERT_EQ(scan.members.size(), 2u);  // the two "ids", one of them spelled with an escape
  EXPECT_EQ(scan.members[1].value, "[\"b\"]");
  EXPECT_FALSE(scan.truncated);

  scan = ScanJson(body);  // every member is to be listed: only the first kMaxListedMembers are
  EXPECT_TRUE(scan.valid);
  EXPECT_EQ(scan.members.size(), kMaxListedMembers);
  EXPECT_TRUE(scan.truncated);
  EXPECT_EQ(scan.members.back().value, "0");
}

}  // namespace
}  // namespace chroma_ha
