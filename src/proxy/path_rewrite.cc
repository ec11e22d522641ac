#include "proxy/path_rewrite.h"

#include <array>

namespace chroma_ha {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// `in` percent-encoded (everything but RFC 3986 unreserved characters) at the end of *out.
void AppendPercentEncoded(std::string_view in, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
    }
  }
}

// `target` with the segment at `range` replaced by `replacement`, percent-encoded when `encode`.
// One allocation (for a replacement without characters to encode, the usual id).
std::string Splice(std::string_view target, SegmentRange range, std::string_view replacement,
                   bool encode) {
  std::string out;
  out.reserve(target.size() - range.length + replacement.size());
  out.append(target.substr(0, range.offset));
  if (encode) {
    AppendPercentEncoded(replacement, &out);
  } else {
    out.append(replacement);
  }
  out.append(target.substr(range.offset + range.length));
  return out;
}

}  // namespace

std::optional<SegmentRange> FindCollectionSegment(std::string_view target) {
  // Literal segments, compared raw; nullptr marks a parameter ({tenant}, {database}).
  static constexpr std::array<const char*, 7> kShape = {"api",       "v2",    "tenants",    nullptr,
                                                        "databases", nullptr, "collections"};
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::size_t pos = 1;
  for (const char* literal : kShape) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view seg = path.substr(pos, end - pos);
    if (literal != nullptr ? seg != literal : seg.empty()) return std::nullopt;
    pos = end + 1;
  }
  std::size_t end = path.find('/', pos);
  if (end == std::string_view::npos) end = path.size();
  if (end == pos) return std::nullopt;
  return SegmentRange{pos, end - pos};
}

bool PercentDecode(std::string_view in, std::string* out) {
  if (in.find('%') == std::string_view::npos) {  // the usual segment: nothing to decode
    out->assign(in);
    return true;
  }
  out->clear();
  out->reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexValue(in[i + 1]);
    int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::string PercentEncodeSegment(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  AppendPercentEncoded(in, &out);
  return out;
}

std::string ReplaceCollectionSegment(std::string_view target, std::string_view new_segment) {
  auto range = FindCollectionSegment(target);
  if (!range) return std::string(target);
  return Splice(target, *range, new_segment, /*encode=*/true);
}

std::string CollectionPathTemplate(std::string_view target) {
  auto range = FindCollectionSegment(target);
  if (!range) return std::string(target);
  return Splice(target, *range, kCollectionPlaceholder, /*encode=*/false);
}

std::string ExpandCollectionTemplate(std::string_view tmpl, std::string_view id) {
  auto range = FindCollectionSegment(tmpl);
  if (!range || tmpl.substr(range->offset, range->length) != kCollectionPlaceholder) {
    return std::string(tmpl);
  }
  return Splice(tmpl, *range, id, /*encode=*/true);
}

}  // namespace chroma_ha
