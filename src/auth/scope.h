// What a client token may reach, decided on the classified route (include/chroma_ha/route.h).
// Pure functions, table-tested in tests/unit/auth/.
//
//  - chroma-ha's own endpoints (/health, /status, /wal/*, /metrics, /dashboard, /admin/*) never
//    take a client token: they keep STATUS_TOKEN and ADMIN_TOKEN (server/admin_auth.h).
//  - heartbeat, version, pre-flight-checks and healthcheck are open, as on Chroma (platform
//    health checks call them); every other /api route (identity, reads, writes, unknown and
//    invalid routes) needs a valid token.
//  - A read needs the route's tenant and database in the token's scope; a write needs that and
//    read-write access; creating a tenant or creating/deleting a database also needs "manage";
//    reset needs a token over every tenant and database, read-write, with "manage" (and
//    ALLOW_RESET as before). A route without a tenant (an unknown one) needs a token over every
//    tenant and database; an unknown mutating route without a database also needs "manage".
#ifndef CHROMA_HA_AUTH_SCOPE_H_
#define CHROMA_HA_AUTH_SCOPE_H_

#include <string>
#include <string_view>

#include "auth/credentials.h"
#include "chroma_ha/route.h"

namespace chroma_ha {

// True when the request needs a client token (when client auth is on).
bool NeedsClientToken(const Route& route, std::string_view target);

// True for GET /api/v2/auth/identity (answered from the token when client auth is on).
bool IsIdentityRequest(const Route& route, std::string_view target);

// Empty when `principal` may do this; else why not (for the 403 message; names no token).
// `body` is read only to find the "name" of a tenant or database being created.
std::string ScopeRefusal(const Principal& principal, std::string_view method, const Route& route,
                         std::string_view body);

}  // namespace chroma_ha

#endif  // CHROMA_HA_AUTH_SCOPE_H_
