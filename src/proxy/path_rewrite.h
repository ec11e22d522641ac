// Request-target helpers for collection identity (DESIGN.md §4): locating, replacing and
// templating the collection segment of a Chroma path, and the percent-coding they need.
//
// The collection segment is the one after `/api/v2/tenants/{t}/databases/{d}/collections/` (the
// literal segments are compared byte-exact, as the Chroma server's router does). Everything else
// in the target, including the query string, is kept byte-exact. All functions are pure,
// thread-safe and never throw (beyond std::bad_alloc).
#ifndef CHROMA_HA_PROXY_PATH_REWRITE_H_
#define CHROMA_HA_PROXY_PATH_REWRITE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace chroma_ha {

// The literal that stands for the collection segment in WAL entry paths.
inline constexpr std::string_view kCollectionPlaceholder = "{collection}";

// Byte range of the (raw, still percent-encoded) collection segment inside a target.
struct SegmentRange {
  std::size_t offset = 0;
  std::size_t length = 0;
};

// Where the collection segment of `target` is, or nullopt when the target has none (not a
// `/api/v2/tenants/{t}/databases/{d}/collections/{c}[/...]` path, or an empty {c}).
std::optional<SegmentRange> FindCollectionSegment(std::string_view target);

// Decodes %XX escapes ('+' stays '+'). Returns false on a malformed escape ('%' not followed by
// two hex digits); `*out` is then unspecified.
bool PercentDecode(std::string_view in, std::string* out);

// Encodes `in` for use as one path segment: every byte except unreserved characters
// (A-Z a-z 0-9 - . _ ~) becomes %XX (upper-case hex). UUIDs and Chroma names pass unchanged.
std::string PercentEncodeSegment(std::string_view in);

// `target` with its collection segment replaced by PercentEncodeSegment(new_segment); the rest,
// query string included, byte-exact. A target without a collection segment is returned as is.
std::string ReplaceCollectionSegment(std::string_view target, std::string_view new_segment);

// `target` with its collection segment replaced by the literal "{collection}" (how WAL entries
// store paths: they never hold a UUID). A target without a collection segment is returned as is.
std::string CollectionPathTemplate(std::string_view target);

// The inverse: a template's "{collection}" segment (only in the collection position; the same
// text elsewhere, e.g. in the query, is left alone) replaced by PercentEncodeSegment(id). For a
// name-addressed route (GET/DELETE .../collections/{name}) pass the name. A template without the
// placeholder is returned as is.
std::string ExpandCollectionTemplate(std::string_view tmpl, std::string_view id);

}  // namespace chroma_ha

#endif  // CHROMA_HA_PROXY_PATH_REWRITE_H_
