#include "server/dashboard.h"

namespace chroma_ha {

void RegisterDashboard(OwnEndpoints& own) {
  own.Register("GET", "/dashboard", [](const HttpRequest&) -> boost::asio::awaitable<HttpResponse> {
    HttpResponse r;
    r.status = 200;
    r.headers.push_back({"content-type", "text/html; charset=utf-8"});
    r.headers.push_back({"cache-control", "no-store"});
    // Inline script and style only; nothing may be loaded from elsewhere.
    r.headers.push_back({"content-security-policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src "
                         "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                         "base-uri 'none'; frame-ancestors 'none'"});
    r.headers.push_back({"referrer-policy", "no-referrer"});
    r.body = std::string(DashboardHtml());
    co_return r;
  });
}

}  // namespace chroma_ha
