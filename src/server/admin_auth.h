// Access control for chroma-ha (DESIGN.md §5, §7), decided in one place (the router) on the
// classified route, before anything is dispatched:
//
// - Admin routes: chroma-ha's /admin/*. They need ADMIN_TOKEN, sent as `X-Admin-Token: TOKEN`
//   or `Authorization: Bearer TOKEN`. Without ADMIN_TOKEN configured they are off (403); a
//   missing or wrong token is 401.
// - Reset (POST /api/v2/reset, and any path that only differs from it by case, percent-encoding,
//   empty segments or a trailing slash): like Chroma's allow_reset, refused (403) unless
//   ALLOW_RESET=true; with ADMIN_TOKEN set, a request carrying it may reset too.
// - Tenant and database routes (create, get, list, delete) pass as on Chroma: with client auth
//   on (auth/client_auth.h) they need a client token whose scope allows them, else nothing.
// - Status routes (/status, /wal/*, /metrics): open unless STATUS_TOKEN is set; then they need
//   it (`X-Status-Token`, or `Authorization: Bearer`; the admin token works too) or answer 401.
// - /health (the platform's health check) and /dashboard (a static page without data; it
//   fetches the status routes with the token) are always open.
//
// Tokens are compared in constant time and never logged or echoed.
#ifndef CHROMA_HA_SERVER_ADMIN_AUTH_H_
#define CHROMA_HA_SERVER_ADMIN_AUTH_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chroma_ha/config.h"
#include "chroma_ha/http_message.h"
#include "chroma_ha/route.h"

namespace chroma_ha {

enum class Guard {
  kOpen,    // no token needed
  kStatus,  // STATUS_TOKEN when set
  kAdmin,   // ADMIN_TOKEN (/admin/*)
  kReset,   // ADMIN_TOKEN, or ALLOW_RESET=true
};

// True when `request` carries `token` (non-empty) in X-Admin-Token or Authorization: Bearer.
bool HasToken(const std::string& token, const HttpRequest& request);

inline bool HasAdminToken(const Config& config, const HttpRequest& request) {
  return HasToken(config.admin_token, request);
}

// What `method target` (classified as `route`) needs. Pure.
Guard GuardFor(std::string_view method, std::string_view target, const Route& route);

// Nothing when the request may go on; else the 401/403 JSON answer to send instead.
std::optional<HttpResponse> CheckAccess(const Config& config, Guard guard,
                                        const HttpRequest& request);

// Removes chroma-ha's own credential headers (X-Admin-Token, X-Status-Token) before a request
// is forwarded to Chroma. The client-auth header is removed by ClientAuth::StripCredential when
// client auth is on; otherwise Authorization and X-Chroma-Token are left as they are.
void StripOwnCredentials(std::vector<Header>& headers);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_ADMIN_AUTH_H_
