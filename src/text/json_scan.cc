#include "text/json_scan.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "text/utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace chroma_ha {
namespace {

bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The end of the run of ASCII digits that starts at s[i] (s[n] is the text's end). An
// embedding's number is mostly one run of 15-17 fraction digits: 16 bytes are compared at a
// time where SSE2 is there (every x86-64), the first non-digit found from the mask.
std::size_t SkipDigits(const char* s, std::size_t i, std::size_t n) {
#if defined(__SSE2__)
  const __m128i zero = _mm_set1_epi8('0');
  const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
  const __m128i ten = _mm_set1_epi8(static_cast<char>(10 - 128));
  while (n - i >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    // c - '0' < 10 as unsigned bytes, compared signed with the sign bit flipped.
    const __m128i d = _mm_xor_si128(_mm_sub_epi8(x, zero), flip);
    const unsigned digits = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(d, ten)));
    if (digits != 0xFFFFu) return i + static_cast<std::size_t>(__builtin_ctz(~digits));
    i += 16;
  }
#endif
  while (i < n && IsDigit(s[i])) ++i;
  return i;
}

#if defined(__SSE2__)
// Byte classes of 64 bytes of text, one bit per byte (bit k: s[k]).
struct Classes64 {
  uint64_t digit = 0, zero = 0, dot = 0, minus = 0, comma = 0, space = 0;
};

Classes64 Classify64(const char* s) {
  const __m128i zero = _mm_set1_epi8('0');
  const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
  const __m128i ten = _mm_set1_epi8(static_cast<char>(10 - 128));
  Classes64 k;
  for (int j = 0; j < 4; ++j) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16 * j));
    const auto bits = [j](__m128i eq) {
      return static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(eq))) << (16 * j);
    };
    k.digit |= bits(_mm_cmplt_epi8(_mm_xor_si128(_mm_sub_epi8(x, zero), flip), ten));
    k.zero |= bits(_mm_cmpeq_epi8(x, zero));
    k.dot |= bits(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')));
    k.minus |= bits(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
    k.comma |= bits(_mm_cmpeq_epi8(x, _mm_set1_epi8(',')));
    k.space |= bits(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')));
  }
  return k;
}

// From a number's first byte inside an array: how many of the next 64 bytes are numbers without
// exponent, each followed by ',' or ', ', up to and including the last such comma, when they
// all are valid JSON numbers (-?(0|[1-9][0-9]*)(\.[0-9]+)?, below 1e64: finite); else 0 (the
// caller scans them one by one, which decides). An embedding is mostly such runs.
std::size_t NumberBlock(const char* s) {
  const Classes64 k = Classify64(s);
  const uint64_t number = k.digit | k.dot | k.minus;
  const uint64_t known = number | k.comma | k.space;
  // Up to the first other byte, and within that up to the last comma.
  const uint64_t before_other =
      ~known == 0 ? ~uint64_t{0} : (uint64_t{1} << __builtin_ctzll(~known)) - 1;
  const uint64_t commas = k.comma & before_other;
  if (commas == 0) return 0;
  const int end = 64 - __builtin_clzll(commas);  // one past the last comma
  const uint64_t in = end == 64 ? ~uint64_t{0} : (uint64_t{1} << end) - 1;
  const uint64_t d = k.digit & in, dot = k.dot & in, minus = k.minus & in, comma = k.comma & in,
                 space = k.space & in, n = number & in;
  const uint64_t starts = n & ~(n << 1);  // first byte of each number (bit 0 is one)
  uint64_t bad = 0;
  bad |= space & ~(comma << 1);                            // a space only right after a comma
  bad |= comma & ~(n << 1);                                // a comma right after a number
  bad |= (comma << 1) & in & ~(n | space);                 // then a number, or a space
  bad |= (space << 1) & in & ~n;                           // and a number after that space
  bad |= starts & ~uint64_t{1} & ~((comma | space) << 1);  // numbers start after separators
  bad |= minus & ~starts;                                  // '-' only first
  bad |= (minus << 1) & in & ~d;                           // and a digit after it
  bad |= dot & ~(d << 1);                                  // a digit before '.'
  bad |= (dot << 1) & in & ~d;                             // and after it
  bad |= ((d + ((dot << 1) & d)) & ~d) & dot;  // one '.' per number: none after its digits
  const uint64_t int_starts = (starts & ~minus) | ((starts & minus) << 1);
  bad |= ((int_starts & k.zero) << 1) & d;  // no leading zero
  return bad == 0 ? static_cast<std::size_t>(end) : 0;
}
#endif

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Validator {
 public:
  Validator(std::string_view text, std::initializer_list<std::string_view> keep)
      : s_(text), keep_(keep) {}

  JsonScan Run();

 private:
  void SkipWs() {
    while (i_ < s_.size() && IsWs(s_[i_])) ++i_;
  }
  bool String();
  bool Escape();
  bool Hex4(unsigned* out);
  bool Number();
  bool Literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  // At the first byte of a value (after white space): scans a scalar, or opens a container
  // (`*opened`). False on a syntax error.
  bool ValueStart(bool* opened);
  bool TopObject() const { return !stack_.empty() && stack_[0] == '{'; }

  std::string_view s_;
  std::size_t i_ = 0;
  // Whether a top-level member with this key is listed.
  bool Keep(const JsonMember& m) const {
    if (keep_.size() == 0) return true;
    for (std::string_view k : keep_) {
      if (m.KeyIs(k)) return true;
    }
    return false;
  }

  std::vector<char> stack_;  // open containers: '{' or '['
  std::initializer_list<std::string_view> keep_;
  bool keeping_ = false;  // the current top-level member is listed
  JsonScan out_;
};

bool Validator::Hex4(unsigned* out) {
  if (s_.size() - i_ < 4) return false;
  unsigned v = 0;
  for (int k = 0; k < 4; ++k) {
    int h = HexValue(s_[i_ + k]);
    if (h < 0) return false;
    v = v * 16 + static_cast<unsigned>(h);
  }
  i_ += 4;
  *out = v;
  return true;
}

// After a backslash.
bool Validator::Escape() {
  if (i_ >= s_.size()) return false;
  switch (s_[i_++]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      return true;
    case 'u': {
      unsigned cp = 0;
      if (!Hex4(&cp)) return false;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate alone
      if (cp < 0xD800 || cp > 0xDBFF) return true;
      // A high surrogate: a low one must follow.
      if (s_.size() - i_ < 2 || s_[i_] != '\\' || s_[i_ + 1] != 'u') return false;
      i_ += 2;
      unsigned low = 0;
      return Hex4(&low) && low >= 0xDC00 && low <= 0xDFFF;
    }
    default:
      return false;
  }
}

// True when none of the 8 bytes in `w` is '"', '\\', a control character or non-ASCII: the
// usual "has a zero byte" bit trick (exact as a yes/no answer for the word).
bool PlainAscii8(uint64_t w) {
  constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  const uint64_t quote = w ^ (k01 * '"');
  const uint64_t backslash = w ^ (k01 * '\\');
  const uint64_t hits =
      ((quote - k01) & ~quote) | ((backslash - k01) & ~backslash) | ((w - k01 * 0x20) & ~w) | w;
  return (hits & k80) == 0;
}

// At the opening quote; moves past the closing one.
bool Validator::String() {
  const char* const d = s_.data();
  const std::size_t n = s_.size();
  std::size_t i = i_ + 1;
  for (;;) {
    while (n - i >= 8) {  // eight plain bytes at a time
      uint64_t w;
      std::memcpy(&w, d + i, 8);
      if (!PlainAscii8(w)) break;
      i += 8;
    }
    if (i >= n) return false;
    const auto c = static_cast<unsigned char>(d[i]);
    if (c == '"') {
      i_ = i + 1;
      return true;
    }
    if (c == '\\') {
      i_ = i + 1;
      if (!Escape()) return false;
      i = i_;
    } else if (c < 0x20) {
      return false;
    } else if (c < 0x80) {
      ++i;
    } else {
      const std::size_t len = Utf8SequenceLength(s_, i);
      if (len == 0) return false;
      i += len;
    }
  }
}

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? whose value is finite as a double (nlohmann
// converts with strtod and refuses an infinite result as "number overflow").
bool Validator::Number() {
  const std::size_t start = i_;
  const std::size_t n = s_.size();
  std::size_t i = i_;  // a local: the loops below keep it in a register
  if (s_[i] == '-') ++i;
  if (i >= n) return false;
  const std::size_t int_begin = i;
  if (s_[i] == '0') {
    ++i;
  } else if (IsDigit(s_[i])) {
    i = SkipDigits(s_.data(), i, n);
  } else {
    return false;
  }
  const std::size_t int_end = i;
  std::size_t frac_begin = i, frac_end = i;
  if (i < n && s_[i] == '.') {
    ++i;
    frac_begin = i;
    i = SkipDigits(s_.data(), i, n);
    frac_end = i;
    if (frac_end == frac_begin) return false;
  }
  bool has_exp = false;
  int64_t exp = 0;
  if (i < n && (s_[i] == 'e' || s_[i] == 'E')) {
    has_exp = true;
    ++i;
    bool negative = false;
    if (i < n && (s_[i] == '+' || s_[i] == '-')) negative = s_[i++] == '-';
    const std::size_t exp_begin = i;
    while (i < n && IsDigit(s_[i])) {
      if (exp < 100000000) exp = exp * 10 + (s_[i] - '0');  // saturates: far past ±308
      ++i;
    }
    if (i == exp_begin) return false;
    if (negative) exp = -exp;
  }
  i_ = i;
  const std::size_t int_digits = int_end - int_begin;
  if (!has_exp && int_digits <= 308) return true;  // < 1e308: the common case
  // The value is 0.d1d2... × 10^e with d1 the first non-zero digit: below 10^e.
  int64_t e = 0;
  std::size_t lead = int_begin;
  while (lead < int_end && s_[lead] == '0') ++lead;
  if (lead < int_end) {
    e = static_cast<int64_t>(int_end - lead) + exp;
  } else {
    std::size_t f = frac_begin;
    while (f < frac_end && s_[f] == '0') ++f;
    if (f == frac_end) return true;  // zero
    e = exp - static_cast<int64_t>(f - frac_begin);
  }
  if (e <= 308) return true;   // below 1e308 < DBL_MAX
  if (e >= 310) return false;  // at least 1e309: infinite
  // Between 1e308 and 1e309: as strtod rounds it.
  const std::string literal(s_.substr(start, i - start));
  return std::isfinite(std::strtod(literal.c_str(), nullptr));
}

bool Validator::ValueStart(bool* opened) {
  *opened = false;
  if (i_ >= s_.size()) return false;
  switch (s_[i_]) {
    case '{':
    case '[':
      stack_.push_back(s_[i_]);
      ++i_;
      *opened = true;
      return true;
    case '"':
      return String();
    case 't':
      return Literal("true");
    case 'f':
      return Literal("false");
    case 'n':
      return Literal("null");
    default:
      return Number();
  }
}

JsonScan Validator::Run() {
  // nlohmann skips a UTF-8 byte order mark (and refuses a text starting with a partial one).
  if (!s_.empty() && static_cast<unsigned char>(s_[0]) == 0xEF) {
    if (s_.substr(0, 3) != "\xEF\xBB\xBF") return out_;
    i_ = 3;
  }
  std::size_t value_begin = 0;
  enum class Next { kValue, kKey, kAfterValue } next = Next::kValue;
  for (;;) {
    if (next == Next::kKey) {
      SkipWs();
      if (i_ >= s_.size() || s_[i_] != '"') return out_;
      const std::size_t key_begin = i_;
      if (!String()) return out_;
      if (stack_.size() == 1) {
        ++out_.member_count;
        JsonMember m;
        m.key = s_.substr(key_begin + 1, i_ - key_begin - 2);
        m.key_escaped = m.key.find('\\') != std::string_view::npos;
        keeping_ = Keep(m);
        if (keeping_ && out_.members.size() == kMaxListedMembers) {
          keeping_ = false;  // memory stays bounded whatever the body repeats
          out_.truncated = true;
        }
        if (keeping_) out_.members.push_back(m);
      }
      SkipWs();
      if (i_ >= s_.size() || s_[i_] != ':') return out_;
      ++i_;
      next = Next::kValue;
      continue;
    }
    if (next == Next::kValue) {
      SkipWs();
#if defined(__SSE2__)
      // Deep inside an array (an embedding's numbers), 64 bytes of numbers at a time: none of
      // the bookkeeping below, which is about the top-level members, applies there.
      if (stack_.size() >= 3 && stack_.back() == '[') {
        std::size_t took = 0;
        while (s_.size() - i_ >= 64 && (IsDigit(s_[i_]) || s_[i_] == '-') &&
               (took = NumberBlock(s_.data() + i_)) != 0) {
          i_ += took;
          SkipWs();
        }
      }
#endif
      if (stack_.size() == 1 && TopObject()) value_begin = i_;
      if (keeping_ && stack_.size() == 2 && stack_[1] == '[' && TopObject() && i_ < s_.size()) {
        JsonMember& m = out_.members.back();
        ++m.elements;
        if (s_[i_] != '"') m.all_strings = false;
      }
      bool opened = false;
      if (!ValueStart(&opened)) return out_;
      if (opened) {
        if (stack_.size() == 1) out_.object = stack_[0] == '{';
        SkipWs();
        const char close = stack_.back() == '{' ? '}' : ']';
        if (i_ < s_.size() && s_[i_] == close) {
          ++i_;
          stack_.pop_back();
          next = Next::kAfterValue;
        } else {
          next = stack_.back() == '{' ? Next::kKey : Next::kValue;
          continue;
        }
      }
      next = Next::kAfterValue;
    }
    // kAfterValue: a value just ended.
    if (stack_.empty()) {
      SkipWs();
      // nlohmann's lexer takes a NUL byte for the end of the input: whatever follows is ignored.
      out_.valid = i_ == s_.size() || s_[i_] == '\0';
      return out_;
    }
    if (keeping_ && stack_.size() == 1 && TopObject()) {
      out_.members.back().value = s_.substr(value_begin, i_ - value_begin);
    }
    SkipWs();
    if (i_ >= s_.size()) return out_;
    const char c = s_[i_++];
    const bool in_object = stack_.back() == '{';
    if (c == ',') {
      next = in_object ? Next::kKey : Next::kValue;
    } else if (c == (in_object ? '}' : ']')) {
      stack_.pop_back();
      next = Next::kAfterValue;
    } else {
      return out_;
    }
  }
}

// Past the string literal of validated JSON starting at s[i] (its opening quote).
std::size_t SkipString(std::string_view s, std::size_t i) {
  ++i;
  while (s[i] != '"') i += s[i] == '\\' ? 2 : 1;
  return i + 1;
}

// Past the value of validated JSON starting at s[i].
std::size_t SkipValue(std::string_view s, std::size_t i) {
  if (s[i] == '"') return SkipString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = SkipString(s, i);
        continue;
      }
      ++i;
      if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return i;
      }
    }
    return i;
  }
  while (i < s.size() && s[i] != ',' && s[i] != ']' && s[i] != '}' && !IsWs(s[i])) ++i;
  return i;
}

}  // namespace

std::string JsonMember::Key() const {
  if (!key_escaped) return std::string(key);
  std::string literal;
  literal.reserve(key.size() + 2);
  literal.append(1, '"').append(key).append(1, '"');
  return JsonStringValue(literal);
}

bool JsonMember::KeyIs(std::string_view name) const {
  return key_escaped ? Key() == name : key == name;
}

JsonScan ScanJson(std::string_view text, std::initializer_list<std::string_view> keep) {
  JsonScan out = Validator(text, keep).Run();
  if (!out.valid || !out.object) {
    out.members.clear();
    out.member_count = 0;
    out.truncated = false;
  }
  return out;
}

std::string JsonStringValue(std::string_view literal) {
  std::string_view inner = literal.substr(1, literal.size() - 2);
  if (inner.find('\\') == std::string_view::npos) return std::string(inner);
  const nlohmann::json j = nlohmann::json::parse(literal, nullptr, /*allow_exceptions=*/false);
  return j.is_string() ? j.get<std::string>() : std::string();
}

std::vector<std::string_view> JsonArrayElements(std::string_view array) {
  std::vector<std::string_view> out;
  std::size_t i = 1;  // past '['
  for (;;) {
    while (i < array.size() && IsWs(array[i])) ++i;
    if (i >= array.size() || array[i] == ']') return out;
    const std::size_t end = SkipValue(array, i);
    out.push_back(array.substr(i, end - i));
    i = end;
    while (i < array.size() && IsWs(array[i])) ++i;
    if (i < array.size() && array[i] == ',') ++i;
  }
}

std::string_view JsonArrayInside(std::string_view array) {
  std::size_t b = 1, e = array.size() - 1;  // '[' ... ']'
  while (b < e && IsWs(array[b])) ++b;
  while (e > b && IsWs(array[e - 1])) --e;
  return array.substr(b, e - b);
}

}  // namespace chroma_ha
