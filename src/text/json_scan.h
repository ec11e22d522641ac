// A validating JSON scanner for the write path: it accepts exactly the texts that
// nlohmann::json::accept() accepts (RFC 8259 grammar; strings of strict UTF-8 without raw
// control characters and with well-formed escapes and surrogate pairs; a leading UTF-8 byte
// order mark skipped; nesting as deep as the text; numbers whose value overflows a double
// refused; a NUL byte after the top-level value ending the text, as nlohmann's lexer has it), but
// converts no number: an `add` of 100 × 384 embeddings is ~40,000 numbers, which nlohmann converts
// one by one with strtod. What it reports instead is the byte spans of the top-level object's
// members, so that callers can read ids and splice arrays as text.
//
// Pure functions: thread-safe, no exceptions (beyond std::bad_alloc). Linear in the text, with
// an explicit stack (no recursion), so hostile nesting costs one byte per level.
#ifndef CHROMA_HA_TEXT_JSON_SCAN_H_
#define CHROMA_HA_TEXT_JSON_SCAN_H_

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace chroma_ha {

// A member of the top-level object, as written.
struct JsonMember {
  std::string_view key;      // the key literal's inside (between the quotes), escapes kept
  bool key_escaped = false;  // `key` holds a backslash: decode it (JsonStringValue) to compare
  std::string_view value;    // the value's text
  std::size_t elements = 0;  // an array value: how many elements it has
  bool all_strings = true;   // an array value: every element is a string

  char type() const { return value.empty() ? '\0' : value.front(); }  // '{' '[' '"' 'n' ...
  bool is_array() const { return type() == '['; }
  bool is_null() const { return type() == 'n'; }
  // The key as a string (decoded when it holds escapes).
  std::string Key() const;
  bool KeyIs(std::string_view name) const;
};

// At most this many members are listed: a 40 MiB body of tiny members must not cost gigabytes.
inline constexpr std::size_t kMaxListedMembers = 64;

struct JsonScan {
  bool valid = false;
  bool object = false;              // the top-level value is an object
  std::vector<JsonMember> members;  // its listed members in text order (duplicates included)
  std::size_t member_count = 0;     // all its members, listed or not
  bool truncated = false;           // more than kMaxListedMembers were to be listed
};

// Validates `text`; for a top-level object, lists its members whose key is one of `keep` (every
// member when `keep` is empty), at most kMaxListedMembers of them.
JsonScan ScanJson(std::string_view text, std::initializer_list<std::string_view> keep = {});

// The string a validated string literal (with its quotes) stands for.
std::string JsonStringValue(std::string_view literal);

// The elements of a validated array's text (`[...]`), each as written (no surrounding space).
std::vector<std::string_view> JsonArrayElements(std::string_view array);

// The text between a validated array's brackets, without leading and trailing white space
// ("" for an empty array).
std::string_view JsonArrayInside(std::string_view array);

}  // namespace chroma_ha

#endif  // CHROMA_HA_TEXT_JSON_SCAN_H_
