#include "resync/resync_endpoints.h"

#include <nlohmann/json.hpp>

#include "metrics/metrics.h"
#include "server/async_util.h"
#include "server/request_handler.h"

namespace chroma_ha {
namespace {

using nlohmann::json;
namespace asio = boost::asio;

HttpResponse FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return JsonError(404, "NotFoundError", s.message());
    case StatusCode::kInvalidArgument:
      return JsonError(400, "InvalidArgumentError", s.message());
    default:
      return JsonError(503, "ServiceUnavailable", "the WAL store: " + s.message());
  }
}

// The body's source and tenants; an error answer for a bad body.
std::variant<HttpResponse, std::pair<std::string, std::vector<std::string>>> ParseBody(
    const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return std::pair<std::string, std::vector<std::string>>{};
  }
  const json b = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto bad = JsonError(400, "InvalidArgumentError",
                             "body must be {} or {\"source\": NAME, \"tenants\": [NAME, ...]}");
  if (!b.is_object()) return bad;
  std::pair<std::string, std::vector<std::string>> out;
  for (const auto& [key, value] : b.items()) {
    if (key == "source" && value.is_string()) {
      out.first = value.get<std::string>();
    } else if (key == "tenants" && value.is_array()) {
      for (const json& t : value) {
        if (!t.is_string() || t.get<std::string>().empty()) return bad;
        out.second.push_back(t.get<std::string>());
      }
    } else {
      return bad;
    }
  }
  return out;
}

}  // namespace

void RegisterResyncEndpoints(OwnEndpoints& own, const Config& config, ResyncManager& manager,
                             asio::thread_pool& wal_threads) {
  for (const InstanceConfig& instance : config.instances) {
    const std::string path = "/admin/instances/" + instance.name + "/resync";
    own.Register("POST", path,
                 [&manager, &wal_threads,
                  name = instance.name](const HttpRequest& req) -> asio::awaitable<HttpResponse> {
                   auto parsed = ParseBody(req.body);
                   if (auto* bad = std::get_if<HttpResponse>(&parsed)) co_return *bad;
                   auto [source, tenants] =
                       std::get<std::pair<std::string, std::vector<std::string>>>(parsed);
                   auto started = co_await RunBlocking(wal_threads, [&] {
                     return manager.Request(name, source, tenants, "admin");
                   });
                   if (!started.ok()) co_return FromStatus(started.status());
                   co_return JsonResponse(started->started ? 202 : 200, DumpJson(started->state));
                 });
    own.Register("GET", path,
                 [&manager, &wal_threads,
                  name = instance.name](const HttpRequest&) -> asio::awaitable<HttpResponse> {
                   auto state =
                       co_await RunBlocking(wal_threads, [&] { return manager.State(name); });
                   if (!state.ok()) co_return FromStatus(state.status());
                   co_return JsonResponse(200, DumpJson(*state));
                 });
  }
}

nlohmann::json ResyncStatusJson(const ResyncManager& manager) {
  nlohmann::json out = nlohmann::json::array();
  for (const ResyncManager::Stats& s : manager.Snapshot()) {
    out.push_back({{"instance", s.instance},
                   {"state", s.state},
                   {"collections_done", s.collections_done},
                   {"collections_total", s.collections_total},
                   {"records_done", s.records_done},
                   {"records_total", s.records_total},
                   {"records_recopied", s.records_recopied},
                   {"records_per_second", s.records_per_second}});
  }
  return out;
}

void AddResyncFamilies(const ResyncManager& manager, std::vector<prometheus::MetricFamily>* out) {
  using prometheus::MetricType;
  FamilyBuilder running("chroma_ha_resync_running", "1 while a resync of the instance is running",
                        MetricType::Gauge);
  FamilyBuilder collections("chroma_ha_resync_collections",
                            "Collections of the last resync, by state (done, total)",
                            MetricType::Gauge);
  FamilyBuilder records("chroma_ha_resync_records",
                        "Records of the last resync, by state (done, total, recopied)",
                        MetricType::Gauge);
  FamilyBuilder rate("chroma_ha_resync_records_per_second",
                     "Copy rate of the resync running in this process", MetricType::Gauge);
  FamilyBuilder failed("chroma_ha_resync_failed", "1 when the last resync of the instance failed",
                       MetricType::Gauge);
  for (const ResyncManager::Stats& s : manager.Snapshot()) {
    const std::map<std::string, std::string> who = {{"instance", s.instance}};
    running.Add(s.state == kResyncRunning ? 1 : 0, who);
    failed.Add(s.state == kResyncFailed ? 1 : 0, who);
    collections.Add(s.collections_done, {{"instance", s.instance}, {"state", "done"}});
    collections.Add(s.collections_total, {{"instance", s.instance}, {"state", "total"}});
    records.Add(s.records_done, {{"instance", s.instance}, {"state", "done"}});
    records.Add(s.records_total, {{"instance", s.instance}, {"state", "total"}});
    records.Add(s.records_recopied, {{"instance", s.instance}, {"state", "recopied"}});
    rate.Add(s.records_per_second, who);
  }
  FamilyBuilder started("chroma_ha_resyncs_started_total",
                        "Resyncs this process started, by trigger", MetricType::Counter);
  started.Add(manager.started_total() - manager.auto_started_total(), {{"trigger", "admin"}});
  started.Add(manager.auto_started_total(), {{"trigger", "auto"}});
  for (FamilyBuilder* b : {&running, &collections, &records, &rate, &failed, &started}) {
    out->push_back(std::move(*b).Build());
  }
}

}  // namespace chroma_ha
