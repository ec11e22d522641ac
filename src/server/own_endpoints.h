// chroma-ha's own endpoints (DESIGN.md §5): /health, /status, and the pages that later parts
// register (/wal/status, /wal/stats, /metrics, /dashboard, /admin/*).
#ifndef CHROMA_HA_SERVER_OWN_ENDPOINTS_H_
#define CHROMA_HA_SERVER_OWN_ENDPOINTS_H_

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/http_message.h"
#include "upstream/upstream.h"

namespace chroma_ha {

struct RouterStats;
struct ListenerStats;

// `j` as compact JSON text that never throws: strings that are not valid UTF-8 (error bodies of
// instances, names from request paths, store errors: text from outside) get U+FFFD in place of
// their invalid bytes. Every own endpoint serialises with this, never with a bare dump().
std::string DumpJson(const nlohmann::json& j);

class OwnEndpoints {
 public:
  // A handler for one own path. Runs on an event-loop thread: it must not block.
  using Handler = std::function<boost::asio::awaitable<HttpResponse>(const HttpRequest&)>;
  // Adds a section to /status (and /health when `in_health`): key -> JSON, computed on demand.
  using Section = std::function<nlohmann::json()>;

  // References must outlive this object.
  OwnEndpoints(const Config& config, const Upstreams& upstreams, const Clock& clock);

  void SetStats(const RouterStats* router, const ListenerStats* listener) {
    router_ = router;
    listener_ = listener;
  }
  // Registration happens before serving starts; not thread-safe against Handle.
  void Register(const std::string& method, const std::string& path, Handler handler);
  void AddStatusSection(const std::string& key, Section section, bool in_health);

  boost::asio::awaitable<HttpResponse> Handle(HttpRequest request);

  // The bodies, exposed for tests. Health: {status, instances:{name:healthy}, ...}.
  std::pair<int, nlohmann::json> Health() const;
  nlohmann::json Status() const;

 private:
  const Config& config_;
  const Upstreams& upstreams_;
  const Clock& clock_;
  const int64_t started_ms_;
  const RouterStats* router_ = nullptr;
  const ListenerStats* listener_ = nullptr;
  std::map<std::string, Handler> handlers_;  // "METHOD path" -> handler
  std::map<std::string, std::pair<Section, bool>> sections_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_OWN_ENDPOINTS_H_
