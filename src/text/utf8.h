// UTF-8 validation, one implementation for every layer: the classifier (path segments), the WAL
// stores (text columns) and the error texts chroma-ha shows. Strict: overlong forms, surrogates
// and code points past U+10FFFF are invalid, as PostgreSQL and Chroma's servers treat them.
#ifndef CHROMA_HA_TEXT_UTF8_H_
#define CHROMA_HA_TEXT_UTF8_H_

#include <cstddef>
#include <string_view>

namespace chroma_ha {

// Length (1 to 4) of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are
// not one. `i` must be < s.size().
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i);

// True when `s` is valid UTF-8 (NUL, a valid character, included).
bool IsUtf8(std::string_view s);

}  // namespace chroma_ha

#endif  // CHROMA_HA_TEXT_UTF8_H_
