// Client authentication compatible with Chroma's token auth (README "Client authentication").
// Off unless CHROMA_SERVER_AUTHN_CREDENTIALS or CHROMA_SERVER_AUTHN_CREDENTIALS_FILE is set.
//
// The router calls Check() on every request before anything is dispatched (after
// classification): a request that needs a token (auth/scope.h) and has none, or a wrong one,
// is answered 401 {"error": "AuthorizationError", ...}; one outside its token's scope 403
// {"error": "AuthError", ...} (the names Chroma's clients map to their auth errors); an address
// out of failed attempts 429 with Retry-After (auth/attempt_limiter.h). GET
// /api/v2/auth/identity is answered here from the token. Every refusal is counted
// (chroma_ha_auth_failures_total). Tokens are never logged, echoed or forwarded: the router
// removes the credential header (StripCredential) before a request goes to an instance, and the
// WAL stores bodies and paths only.
//
// The token is read from the header CHROMA_AUTH_TOKEN_TRANSPORT_HEADER names, as Chroma's
// server does: `Authorization: Bearer <token>` (default) or `X-Chroma-Token: <token>`;
// surrounding spaces are ignored; a request with that header twice is refused (401).
//
// Reload() (SIGHUP) re-reads the credentials file and swaps the whole set at once; requests in
// flight keep the set they started with, connections are untouched. An unreadable or invalid
// file keeps the old set and returns the error. Thread-safe.
#ifndef CHROMA_HA_AUTH_CLIENT_AUTH_H_
#define CHROMA_HA_AUTH_CLIENT_AUTH_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/attempt_limiter.h"
#include "auth/credentials.h"
#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/http_message.h"
#include "chroma_ha/route.h"
#include "chroma_ha/status.h"

namespace chroma_ha {

class Metrics;

class ClientAuth {
 public:
  struct Options {
    bool x_chroma_token = false;       // transport: X-Chroma-Token instead of Authorization
    std::string file;                  // the credentials file ("" = single token, no reload)
    int failures_per_minute = 10;      // per address; 0 = no limit
    bool trust_forwarded_for = false;  // key the limiter on X-Forwarded-For's last entry
  };

  // From the configuration: nullptr (and ok) when client auth is off. Errors: the token is
  // not printable ASCII; the file cannot be read or is invalid.
  static Result<std::unique_ptr<ClientAuth>> FromConfig(const Config& config, const Clock& clock);

  // `clock` must outlive this.
  ClientAuth(Options options, CredentialSet credentials, const Clock& clock);

  // Nothing when the request may go on; else the answer to send instead (401/403/429, or the
  // identity for GET /api/v2/auth/identity).
  std::optional<HttpResponse> Check(const HttpRequest& request, const Route& route);

  // Re-reads the credentials file (no-op for a single token). On error the old set stays.
  Status Reload();

  // Removes the credential header of the configured transport.
  void StripCredential(std::vector<Header>& headers) const;

  // Optional: refusals are counted there. Set before serving.
  void SetMetrics(Metrics* metrics) { metrics_ = metrics; }

  std::size_t token_count() const;

 private:
  std::shared_ptr<const CredentialSet> Current() const;
  std::string ClientAddress(const HttpRequest& request) const;
  HttpResponse Refuse(const char* reason, HttpResponse response) const;

  const Options options_;
  const std::string header_;  // lower-case header name
  FailedAttemptLimiter limiter_;
  Metrics* metrics_ = nullptr;
  mutable std::mutex mu_;
  std::shared_ptr<const CredentialSet> credentials_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_AUTH_CLIENT_AUTH_H_
