// GET /dashboard: one self-contained HTML page (src/server/dashboard.html, embedded into the
// binary at build time by CMake as a raw string) that polls /status and /wal/status. The page
// itself holds no data, so it is served without a token; with STATUS_TOKEN set it reads the
// token from the URL fragment (/dashboard#token=...) and sends it with its requests.
#ifndef CHROMA_HA_SERVER_DASHBOARD_H_
#define CHROMA_HA_SERVER_DASHBOARD_H_

#include <string_view>

#include "server/own_endpoints.h"

namespace chroma_ha {

// The page, as embedded (defined in the generated dashboard_html.cc).
std::string_view DashboardHtml();

void RegisterDashboard(OwnEndpoints& own);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_DASHBOARD_H_
