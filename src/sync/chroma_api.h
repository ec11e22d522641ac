// Small helpers for talking to a Chroma 1.x server from the sync worker: paths (with
// percent-encoded segments), JSON requests, and reading ids and errors out of responses.
// Pure functions; thread-safe; never throw (beyond std::bad_alloc).
#ifndef CHROMA_HA_SYNC_CHROMA_API_H_
#define CHROMA_HA_SYNC_CHROMA_API_H_

#include <optional>
#include <string>
#include <string_view>

#include "chroma_ha/http_message.h"
#include "proxy/path_rewrite.h"

namespace chroma_ha {

// The literal that stands for the collection segment in WAL entry paths (wal_store.h).
inline constexpr std::string_view kCollectionSegment = kCollectionPlaceholder;  // "{collection}"

// Every byte except A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex).
std::string EncodePathSegment(std::string_view in);

// "/api/v2/tenants/{t}/databases/{d}/collections" with encoded segments.
std::string CollectionsPath(std::string_view tenant, std::string_view database);
// CollectionsPath(...) + "/" + encoded `name_or_id`.
std::string CollectionPath(std::string_view tenant, std::string_view database,
                           std::string_view name_or_id);

// True when `path` holds "{collection}" as the segment after ".../collections/".
bool HasCollectionPlaceholder(std::string_view path);
// `path` with that segment replaced by EncodePathSegment(value); unchanged without it.
std::string ExpandCollectionPlaceholder(std::string_view path, std::string_view value);

// A request with `content-type: application/json`.
HttpRequest JsonRequest(std::string method, std::string target, std::string body);

// The "id" string of a collection object in a response body, if any.
std::optional<std::string> CollectionIdOf(std::string_view body);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end inside a UTF-8
// sequence (text from outside is cut for logs and status pages; a cut character would make the
// text invalid UTF-8). Bytes that were already invalid are left as they are.
std::string Utf8Prefix(std::string_view s, size_t max_bytes);
// The same, as a view into `s` (no copy).
std::string_view Utf8PrefixView(std::string_view s, size_t max_bytes);

// "HTTP 400 InvalidArgumentError: <message>" (message cut to a few hundred bytes on a character
// boundary), for block records. ErrorName() is the short form for logs: "HTTP 400 InvalidArgumentError".
std::string ErrorSummary(const HttpResponse& response);
std::string ErrorName(const HttpResponse& response);

inline bool Is2xx(int status) { return status >= 200 && status < 300; }
// 502/503/504: a gateway's answer, not the instance's own.
inline bool IsGatewayError(int status) { return status == 502 || status == 503 || status == 504; }
// No usable answer that may change later: 5xx and 429.
inline bool IsTransientStatus(int status) { return status >= 500 || status == 429; }

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_CHROMA_API_H_
