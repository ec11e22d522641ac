#include "server/admin_auth.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "proxy/path_rewrite.h"
#include "server/request_handler.h"

namespace chroma_ha {

namespace {

bool SameSecret(const std::string& expected, std::string_view given) {
  if (expected.empty() || given.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

bool HeaderHolds(const HttpRequest& request, std::string_view header, const std::string& token) {
  auto v = FindHeader(request.headers, header);
  return v && SameSecret(token, *v);
}

bool BearerHolds(const HttpRequest& request, const std::string& token) {
  auto a = FindHeader(request.headers, "authorization");
  return a && a->starts_with("Bearer ") && SameSecret(token, a->substr(7));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The path's segments as a lenient server might read them: percent-decoded (an encoded '/'
// splits), lower-cased, without `;params`, empty and "." segments dropped, ".." applied.
std::vector<std::string> LenientSegments(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t end = std::min(path.find('/', pos), path.size());
    std::string_view raw = path.substr(pos, end - pos);
    std::string dec;
    if (!PercentDecode(raw, &dec)) dec = std::string(raw);
    std::size_t p = 0;
    while (p <= dec.size()) {
      std::size_t e = std::min(dec.find('/', p), dec.size());
      std::string part = Lower(dec.substr(p, e - p));
      part = part.substr(0, part.find(';'));
      if (part == "..") {
        if (!out.empty()) out.pop_back();
      } else if (!part.empty() && part != ".") {
        out.push_back(std::move(part));
      }
      p = e + 1;
    }
    pos = end + 1;
  }
  return out;
}

bool IsReadMethod(std::string_view method) {
  auto same = [&](std::string_view m) {
    return std::equal(method.begin(), method.end(), m.begin(), m.end(),
                      [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  };
  return same("get") || same("head") || same("options");
}

// True when every character of the path is one a lenient reading leaves alone (lower-case
// letters, digits, '-', '_', '/'): then its segments are just the non-empty '/'-separated
// parts, and no string needs to be built (the common case, on every request).
bool PlainPath(std::string_view path) {
  return std::all_of(path.begin(), path.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '/';
  });
}

// The first segments of a path (all that GuardOfSegments reads) and how many there are.
struct FirstSegments {
  std::array<std::string_view, 5> first;
  std::size_t count = 0;
  void Push(std::string_view part) {
    if (count < first.size()) first[count] = part;
    ++count;
  }
  std::size_t size() const { return count; }
  std::string_view operator[](std::size_t i) const { return first[i]; }
};

// Guard of a path from its (lenient) segments.
template <typename Segments>
Guard GuardOfSegments(const Segments& s) {
  if (s.size() < 3 || s[0] != "api") return Guard::kOpen;
  const std::size_t n = s.size() - 2;  // after /api/{version}
  if (n == 1 && s[2] == "reset") return Guard::kReset;
  return Guard::kOpen;
}

// A path that is, or could be read by a lenient server as, reset.
Guard LooksDangerous(std::string_view method, std::string_view target) {
  if (IsReadMethod(method)) return Guard::kOpen;
  const std::string_view path = target.substr(0, target.find('?'));
  if (PlainPath(path)) {
    FirstSegments parts;
    std::size_t pos = 0;
    while (pos <= path.size()) {
      const std::size_t end = std::min(path.find('/', pos), path.size());
      if (end > pos) parts.Push(path.substr(pos, end - pos));
      pos = end + 1;
    }
    return GuardOfSegments(parts);
  }
  return GuardOfSegments(LenientSegments(target));
}

HttpResponse Unauthorized(const std::string& message) {
  HttpResponse r = JsonError(401, "Unauthorized", message);
  r.headers.push_back({"www-authenticate", "Bearer"});
  return r;
}

}  // namespace

bool HasToken(const std::string& token, const HttpRequest& request) {
  if (token.empty()) return false;
  return HeaderHolds(request, "x-admin-token", token) || BearerHolds(request, token);
}

Guard GuardFor(std::string_view method, std::string_view target, const Route& route) {
  switch (route.cls) {
    case RouteClass::kInvalid:
      return Guard::kOpen;  // answered 400 without reaching anything
    case RouteClass::kOwn: {
      std::string_view path = target.substr(0, target.find('?'));
      if (path == "/health" || path == "/dashboard") return Guard::kOpen;
      if (path == "/admin" || path.starts_with("/admin/")) return Guard::kAdmin;
      return Guard::kStatus;
    }
    case RouteClass::kWrite:
      switch (route.write) {
        case WriteKind::kReset:
          return Guard::kReset;
        default:
          break;
      }
      break;
    default:
      break;
  }
  return LooksDangerous(method, target);
}

std::optional<HttpResponse> CheckAccess(const Config& config, Guard guard,
                                        const HttpRequest& request) {
  switch (guard) {
    case Guard::kOpen:
      return std::nullopt;
    case Guard::kStatus:
      if (config.status_token.empty() || HeaderHolds(request, "x-status-token", config.status_token) ||
          BearerHolds(request, config.status_token) || HasAdminToken(config, request)) {
        return std::nullopt;
      }
      return Unauthorized("a valid status token is required (STATUS_TOKEN is set)");
    case Guard::kReset:
      if (config.allow_reset) return std::nullopt;
      if (config.admin_token.empty()) {
        return JsonError(403, "Forbidden",
                         "Resetting is not allowed by this server (set ALLOW_RESET=true, or set "
                         "ADMIN_TOKEN and send it)");
      }
      if (!HasAdminToken(config, request)) {
        return Unauthorized("reset needs a valid admin token (or ALLOW_RESET=true)");
      }
      return std::nullopt;
    case Guard::kAdmin:
      if (config.admin_token.empty()) {
        return JsonError(403, "Forbidden", "admin actions are off: ADMIN_TOKEN is not set");
      }
      if (!HasAdminToken(config, request)) {
        return Unauthorized("a valid admin token is required");
      }
      return std::nullopt;
  }
  return JsonError(500, "InternalError", "unknown access rule");
}

void StripOwnCredentials(std::vector<Header>& headers) {
  std::erase_if(headers, [](const Header& h) {
    std::string name = Lower(h.name);
    return name == "x-admin-token" || name == "x-status-token";
  });
}

}  // namespace chroma_ha
