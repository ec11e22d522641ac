// The admin token check (DESIGN.md §5, §7): admin actions need ADMIN_TOKEN, sent as
// `X-Admin-Token: TOKEN` or `Authorization: Bearer TOKEN`, compared in constant time. With no
// token configured, admin actions are off.
#ifndef CHROMA_HA_SERVER_ADMIN_AUTH_H_
#define CHROMA_HA_SERVER_ADMIN_AUTH_H_

#include <string>
#include <string_view>

#include "chroma_ha/config.h"
#include "chroma_ha/http_message.h"

namespace chroma_ha {

// True when `request` carries `token` (non-empty) in X-Admin-Token or Authorization: Bearer.
bool HasToken(const std::string& token, const HttpRequest& request);

inline bool HasAdminToken(const Config& config, const HttpRequest& request) {
  return HasToken(config.admin_token, request);
}

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_ADMIN_AUTH_H_
