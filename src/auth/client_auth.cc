#include "auth/client_auth.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "auth/scope.h"
#include "metrics/metrics.h"
#include "server/request_handler.h"

namespace chroma_ha {

namespace {

constexpr std::size_t kMaxAddressChars = 64;

bool SameNameLower(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The presented token: nullopt when the header is absent; "" when it is malformed (repeated,
// not Bearer, empty): a wrong token, never a match.
std::optional<std::string_view> PresentedToken(const HttpRequest& request, std::string_view header,
                                               bool bearer) {
  std::optional<std::string_view> value;
  for (const Header& h : request.headers) {
    if (!SameNameLower(h.name, header)) continue;
    if (value) return std::string_view();  // repeated: ambiguous
    value = h.value;
  }
  if (!value) return std::nullopt;
  std::string_view v = Trim(*value);
  if (bearer) {
    if (v.size() < 7 || !SameNameLower(v.substr(0, 7), "bearer ")) return std::string_view();
    v = Trim(v.substr(7));
  }
  return v;
}

std::string IdentityBody(const Principal& p) {
  nlohmann::json body = {{"user_id", p.id},
                         {"tenant", p.AllTenants() ? "default_tenant" : p.tenant},
                         {"databases", p.databases}};
  return body.dump();
}

}  // namespace

Result<std::unique_ptr<ClientAuth>> ClientAuth::FromConfig(const Config& config,
                                                           const Clock& clock) {
  Options options;
  options.x_chroma_token = config.auth_x_chroma_token;
  options.file = config.auth_credentials_file;
  options.failures_per_minute = config.auth_failures_per_minute;
  options.trust_forwarded_for = config.auth_trust_forwarded_for;
  std::unique_ptr<ClientAuth> out;
  if (!options.file.empty()) {
    auto set = LoadCredentialsFile(options.file);
    if (!set.ok()) return set.status();
    out = std::make_unique<ClientAuth>(options, std::move(set).value(), clock);
  } else if (!config.auth_credentials.empty()) {
    auto set = SingleTokenCredentials(config.auth_credentials);
    if (!set.ok()) return set.status();
    out = std::make_unique<ClientAuth>(options, std::move(set).value(), clock);
  }
  return out;
}

ClientAuth::ClientAuth(Options options, CredentialSet credentials, const Clock& clock)
    : options_(std::move(options)),
      header_(options_.x_chroma_token ? "x-chroma-token" : "authorization"),
      limiter_(clock, options_.failures_per_minute),
      credentials_(std::make_shared<const CredentialSet>(std::move(credentials))) {}

std::shared_ptr<const CredentialSet> ClientAuth::Current() const {
  std::lock_guard lock(mu_);
  return credentials_;
}

std::size_t ClientAuth::token_count() const { return Current()->token_count(); }

std::string ClientAuth::ClientAddress(const HttpRequest& request) const {
  std::string_view address = request.peer;
  if (options_.trust_forwarded_for) {
    // The entry the nearest proxy appended (earlier entries are the client's to write).
    if (auto xff = FindHeader(request.headers, "x-forwarded-for")) {
      std::string_view last = *xff;
      if (auto comma = last.rfind(','); comma != std::string_view::npos) {
        last = last.substr(comma + 1);
      }
      last = Trim(last);
      if (!last.empty()) address = last;
    }
  }
  return std::string(address.substr(0, kMaxAddressChars));
}

HttpResponse ClientAuth::Refuse(const char* reason, HttpResponse response) const {
  if (metrics_ != nullptr) metrics_->ObserveAuthFailure(reason);
  return response;
}

std::optional<HttpResponse> ClientAuth::Check(const HttpRequest& request, const Route& route) {
  if (!NeedsClientToken(route, request.target)) return std::nullopt;
  const std::string address = ClientAddress(request);
  if (int wait = limiter_.RetryAfterSeconds(address); wait > 0) {
    HttpResponse r = JsonError(429, "RateLimitError",
                               "too many failed authentication attempts from this address; "
                               "retry after " +
                                   std::to_string(wait) + " s");
    r.headers.push_back({"retry-after", std::to_string(wait)});
    return Refuse("limited", std::move(r));
  }
  const auto token = PresentedToken(request, header_, !options_.x_chroma_token);
  const auto credentials = Current();
  const Principal* principal = token ? credentials->Match(*token) : nullptr;
  if (principal == nullptr) {
    limiter_.RecordFailure(address);
    const char* reason = token ? "invalid" : "missing";
    spdlog::info("client auth: {} token from {}", reason, address);
    const std::string where =
        options_.x_chroma_token ? "the X-Chroma-Token header" : "an Authorization: Bearer header";
    return Refuse(reason, JsonError(401, "AuthorizationError",
                                    "Unauthorized: a valid token is required in " + where));
  }
  if (IsIdentityRequest(route, request.target)) return JsonResponse(200, IdentityBody(*principal));
  std::string refusal = ScopeRefusal(*principal, request.method, route, request.body);
  if (!refusal.empty()) {
    spdlog::info("client auth: user \"{}\" refused: {}", principal->id, refusal);
    return Refuse("forbidden", JsonError(403, "AuthError", "Forbidden: " + refusal));
  }
  return std::nullopt;
}

Status ClientAuth::Reload() {
  if (options_.file.empty()) return Status::Ok();
  auto set = LoadCredentialsFile(options_.file);
  if (!set.ok()) {
    if (metrics_ != nullptr) metrics_->ObserveAuthReload(false);
    return set.status();
  }
  auto fresh = std::make_shared<const CredentialSet>(std::move(set).value());
  const std::size_t users = fresh->principals().size(), tokens = fresh->token_count();
  {
    std::lock_guard lock(mu_);
    credentials_ = std::move(fresh);
  }
  if (metrics_ != nullptr) metrics_->ObserveAuthReload(true);
  spdlog::info("client auth: credentials reloaded ({} user(s), {} token(s))", users, tokens);
  return Status::Ok();
}

void ClientAuth::StripCredential(std::vector<Header>& headers) const {
  std::erase_if(headers, [this](const Header& h) { return SameNameLower(h.name, header_); });
}

}  // namespace chroma_ha
