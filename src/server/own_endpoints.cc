#include "server/own_endpoints.h"

#include <string_view>

#include "server/listener.h"
#include "server/request_handler.h"
#include "server/router.h"

namespace chroma_ha {

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

OwnEndpoints::OwnEndpoints(const Config& config, const Upstreams& upstreams, const Clock& clock)
    : config_(config), upstreams_(upstreams), clock_(clock), started_ms_(clock.UnixMillis()) {}

void OwnEndpoints::Register(const std::string& method, const std::string& path,
                            Handler handler) {
  handlers_[method + " " + path] = std::move(handler);
}

void OwnEndpoints::AddStatusSection(const std::string& key, Section section, bool in_health) {
  sections_[key] = {std::move(section), in_health};
}

std::pair<int, nlohmann::json> OwnEndpoints::Health() const {
  nlohmann::json instances = nlohmann::json::object();
  std::size_t healthy = 0;
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    auto s = upstreams_.Snapshot(i);
    instances[s.name] = s.healthy;
    if (s.healthy) ++healthy;
  }
  nlohmann::json body;
  const char* status = healthy == 0                    ? "unhealthy"
                       : healthy == upstreams_.size() ? "healthy"
                                                      : "degraded";
  body["status"] = status;
  body["healthy_instances"] = healthy;
  body["total_instances"] = upstreams_.size();
  body["instances"] = instances;
  for (const auto& [key, entry] : sections_) {
    if (entry.second) body[key] = entry.first();
  }
  return {healthy == 0 ? 503 : 200, body};
}

nlohmann::json OwnEndpoints::Status() const {
  nlohmann::json instances = nlohmann::json::array();
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    auto s = upstreams_.Snapshot(i);
    instances.push_back({{"name", s.name},
                         {"url", s.url},
                         {"role", s.is_primary ? "primary" : "replica"},
                         {"healthy", s.healthy},
                         {"latency_ms", s.last_check_latency_ms},
                         {"requests", s.requests},
                         {"failures", s.failures},
                         {"health_checks_failed", s.health_checks_failed},
                         {"last_error", s.last_error},
                         {"last_change_ms", s.last_change_ms}});
  }
  nlohmann::json body;
  body["service"] = "chroma-ha";
  body["version"] = CHROMA_HA_VERSION;
  body["strategy"] = StrategyName(config_.strategy);
  body["read_consistency"] =
      config_.read_consistency == ReadConsistency::kFresh ? "fresh" : "eventual";
  body["uptime_seconds"] = (clock_.UnixMillis() - started_ms_) / 1000;
  body["instances"] = instances;
  if (router_ != nullptr) {
    body["requests"] = {{"reads", router_->reads.load()},
                        {"writes", router_->writes.load()},
                        {"unknown_routes", router_->unknown_routes.load()},
                        {"unknown_writes_refused", router_->unknown_writes_refused.load()},
                        {"unknown_writes_forwarded", router_->unknown_writes_forwarded.load()},
                        {"invalid", router_->invalid_requests.load()},
                        {"read_failovers", router_->read_failovers.load()},
                        {"unavailable", router_->unavailable.load()},
                        {"internal_errors", router_->internal_errors.load()}};
  }
  if (listener_ != nullptr) {
    body["connections"] = {{"accepted", listener_->connections_accepted.load()},
                           {"open", listener_->connections_open.load()},
                           {"rejected_bad_request", listener_->rejected_bad_request.load()},
                           {"rejected_over_capacity", listener_->rejected_over_capacity.load()},
                           {"handler_exceptions", listener_->handler_exceptions.load()}};
  }
  for (const auto& [key, entry] : sections_) body[key] = entry.first();
  return body;
}

boost::asio::awaitable<HttpResponse> OwnEndpoints::Handle(HttpRequest request) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  std::string key = request.method + " " + std::string(path);
  if (auto it = handlers_.find(key); it != handlers_.end()) co_return co_await it->second(request);
  if (request.method == "GET" && path == "/health") {
    auto [code, body] = Health();
    co_return JsonResponse(code, DumpJson(body));
  }
  if (request.method == "GET" && path == "/status") co_return JsonResponse(200, DumpJson(Status()));
  for (const auto& [k, h] : handlers_) {
    if (k.substr(k.find(' ') + 1) == path) {
      co_return JsonError(405, "MethodNotAllowed", request.method + " is not allowed on " +
                                                        std::string(path));
    }
  }
  co_return JsonError(404, "NotFoundError", "no such chroma-ha endpoint: " + std::string(path));
}

}  // namespace chroma_ha
