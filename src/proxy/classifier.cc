// Classify(): see include/chroma_ha/route.h.
//
// Rules beyond the header:
// - Literal path segments ("api", "v2", "collections", "add", ...) are compared byte-exact, as
//   the Chroma server's router does: `/api/v2/%68eartbeat` is not the heartbeat (kUnknown).
//   Parameter segments (tenant, database, collection) are percent-decoded into the Route.
// - Own endpoints are kOwn whatever the method; the server answers 405 for methods it does not
//   serve there.
// - A known path with the wrong method is kUnknown, with tenant/database/collection/ref filled in
//   when the path has them (so the router can still translate a collection id).
// - A trailing slash on an /api/v2 path is not an empty segment: it is an unknown route.
// - On /api/v2 paths every decoded segment must be valid UTF-8 (no overlong forms, surrogates or
//   code points past U+10FFFF) without control bytes: tenant, database and collection names are
//   stored as text in the WAL, which cannot hold anything else, so such a request is refused here
//   (kInvalid, 400) before it can reach a batch of other clients' writes (DESIGN.md §7).
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chroma_ha/route.h"
#include "proxy/path_rewrite.h"
#include "text/utf8.h"

namespace chroma_ha {
namespace {

Route Invalid(const char* why) {
  Route r;
  r.cls = RouteClass::kInvalid;
  r.error = why;
  return r;
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool HasControl(std::string_view s) {
  for (char c : s) {
    if (IsControl(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

// The segments of `path` into *out (cleared first).
void SplitPath(std::string_view path, std::vector<std::string_view>* out) {
  out->clear();
  std::size_t pos = 1;  // path[0] == '/'
  while (true) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) {
      out->push_back(path.substr(pos));
      return;
    }
    out->push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
}

bool IsOwnPath(std::string_view path) {
  return path == "/health" || path == "/status" || path == "/wal/status" || path == "/wal/stats" ||
         path == "/metrics" || path == "/dashboard" || path == "/admin" ||
         path.substr(0, 7) == "/admin/";
}

Route Make(RouteClass cls, WriteKind write = WriteKind::kNone) {
  Route r;
  r.cls = cls;
  r.write = write;
  return r;
}

// Matches the segments after "/api/v2". `raw` are as received, `dec` percent-decoded.
Route MatchApiV2(std::string_view method, std::span<const std::string_view> raw,
                 std::span<const std::string_view> dec) {
  const std::size_t n = raw.size();
  const bool get = method == "GET", post = method == "POST";
  const bool put = method == "PUT", del = method == "DELETE";
  Route unknown;
  if (n == 1) {
    const std::string_view s = raw[0];
    if (s == "heartbeat" || s == "version" || s == "pre-flight-checks" || s == "healthcheck") {
      return get ? Make(RouteClass::kSystemRead) : unknown;
    }
    if (s == "reset") return post ? Make(RouteClass::kWrite, WriteKind::kReset) : unknown;
    if (s == "tenants") {
      return post ? Make(RouteClass::kWrite, WriteKind::kCreateTenant) : unknown;
    }
    return unknown;
  }
  if (n == 2 && raw[0] == "auth" && raw[1] == "identity") {
    return get ? Make(RouteClass::kSystemRead) : unknown;
  }
  if (raw[0] != "tenants" || dec[1].empty()) return unknown;
  Route r;  // kUnknown until a method matches
  r.tenant = dec[1];
  auto set = [&r](RouteClass cls, WriteKind write = WriteKind::kNone) {
    r.cls = cls;
    r.write = write;
  };
  if (n == 2) {
    if (get) set(RouteClass::kRead);
    return r;
  }
  if (raw[2] != "databases") return unknown;
  if (n == 3) {
    if (get) set(RouteClass::kRead);
    if (post) set(RouteClass::kWrite, WriteKind::kCreateDatabase);
    return r;
  }
  if (dec[3].empty()) return unknown;
  r.database = dec[3];
  if (n == 4) {
    if (get) set(RouteClass::kRead);
    if (del) set(RouteClass::kWrite, WriteKind::kDeleteDatabase);
    return r;
  }
  if (n == 5 && raw[4] == "collections_count") {
    if (get) set(RouteClass::kRead);
    return r;
  }
  if (raw[4] != "collections") return unknown;
  if (n == 5) {
    if (get) set(RouteClass::kRead);
    if (post) set(RouteClass::kWrite, WriteKind::kCreateCollection);
    return r;
  }
  if (dec[5].empty()) return unknown;
  r.collection = dec[5];
  r.ref = CollectionRef::kId;
  if (n == 6) {
    if (get || del) r.ref = CollectionRef::kName;
    if (get) set(RouteClass::kRead);
    if (del) set(RouteClass::kWrite, WriteKind::kDeleteCollection);
    if (put) set(RouteClass::kWrite, WriteKind::kModifyCollection);
    return r;
  }
  if (n != 7) return r;  // unknown, but the router may still translate the collection id
  const std::string_view op = raw[6];
  struct Op {
    std::string_view name;
    bool post;
    RouteClass cls;
    WriteKind write;
  };
  static constexpr Op kOps[] = {
      {"add", true, RouteClass::kWrite, WriteKind::kAdd},
      {"upsert", true, RouteClass::kWrite, WriteKind::kUpsert},
      {"update", true, RouteClass::kWrite, WriteKind::kUpdate},
      {"delete", true, RouteClass::kWrite, WriteKind::kDelete},
      {"fork", true, RouteClass::kWrite, WriteKind::kFork},
      {"get", true, RouteClass::kRead, WriteKind::kNone},
      {"query", true, RouteClass::kRead, WriteKind::kNone},
      {"count", false, RouteClass::kRead, WriteKind::kNone},
  };
  for (const Op& o : kOps) {
    if (o.name != op) continue;
    if (o.post ? post : get) set(o.cls, o.write);
    return r;
  }
  return r;
}

}  // namespace

Route Classify(std::string_view method, std::string_view target) {
  if (target.empty() || target[0] != '/') {
    return Invalid("request target is not in origin form");
  }
  for (char ch : target) {
    auto c = static_cast<unsigned char>(ch);
    if (IsControl(c)) return Invalid("control character in request target");
    if (c == ' ') return Invalid("space in request target");
    if (c == '#') return Invalid("fragment in request target");
  }
  const std::string_view path = target.substr(0, target.find('?'));
  // Scratch of this thread, reused by each of its requests (no allocation once warm): the
  // segments as received, decoded ones (views of `raw`, or of `decoded` for a segment with a
  // '%'), and the decoded bytes (only the first raw.size() of each are this request's).
  thread_local std::vector<std::string_view> raw;
  thread_local std::vector<std::string_view> dec;
  thread_local std::vector<std::string> decoded;
  SplitPath(path, &raw);
  const bool api_v2 = raw.size() >= 2 && raw[0] == "api" && raw[1] == "v2";
  dec.resize(raw.size());
  if (decoded.size() < raw.size()) decoded.resize(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    // Without a '%' a segment is its own decoding, and the target's check above already
    // excluded control bytes (and a '/' ends it).
    const bool encoded = raw[i].find('%') != std::string_view::npos;
    if (encoded) {
      if (!PercentDecode(raw[i], &decoded[i])) return Invalid("invalid percent-encoding in path");
      dec[i] = decoded[i];
    } else {
      dec[i] = raw[i];
    }
    if (dec[i] == "." || dec[i] == "..") return Invalid("dot-segment in path");
    if (encoded && HasControl(dec[i])) return Invalid("encoded control character in path");
    if (!api_v2) continue;
    if (!IsUtf8(dec[i])) return Invalid("path segment is not valid UTF-8");
    if (raw[i].empty() && i + 1 != raw.size()) return Invalid("empty segment in path");
    if (encoded && dec[i].find('/') != std::string_view::npos) {
      return Invalid("encoded slash (%2F) in a path segment");
    }
  }
  if (IsOwnPath(path)) return Make(RouteClass::kOwn);
  if (!api_v2) return Route{};
  if (raw.size() == 2) return Route{};
  // Views of the segments after "/api/v2" (no copies: this runs for every request).
  return MatchApiV2(method, std::span<const std::string_view>(raw).subspan(2),
                    std::span<const std::string_view>(dec).subspan(2));
}

const char* RouteClassName(RouteClass cls) {
  switch (cls) {
    case RouteClass::kSystemRead:
      return "system_read";
    case RouteClass::kRead:
      return "read";
    case RouteClass::kWrite:
      return "write";
    case RouteClass::kOwn:
      return "own";
    case RouteClass::kUnknown:
      return "unknown";
    case RouteClass::kInvalid:
      return "invalid";
  }
  return "unknown";
}

const char* WriteKindName(WriteKind kind) {
  switch (kind) {
    case WriteKind::kNone:
      return "none";
    case WriteKind::kReset:
      return "reset";
    case WriteKind::kCreateTenant:
      return "create_tenant";
    case WriteKind::kCreateDatabase:
      return "create_database";
    case WriteKind::kDeleteDatabase:
      return "delete_database";
    case WriteKind::kCreateCollection:
      return "create_collection";
    case WriteKind::kModifyCollection:
      return "modify_collection";
    case WriteKind::kDeleteCollection:
      return "delete_collection";
    case WriteKind::kAdd:
      return "add";
    case WriteKind::kUpsert:
      return "upsert";
    case WriteKind::kUpdate:
      return "update";
    case WriteKind::kDelete:
      return "delete";
    case WriteKind::kFork:
      return "fork";
  }
  return "none";
}

}  // namespace chroma_ha
