#include "verify/anti_entropy_service.h"

#include <limits>
#include <map>
#include <set>

#include "metrics/metrics.h"
#include "upstream/blocking_client.h"
#include "verify/repair.h"

namespace chroma_ha {

using json = nlohmann::json;
using prometheus::MetricType;

std::unique_ptr<AntiEntropyService> AntiEntropyService::Create(
    const Config& config, WalStore* store, const Clock& clock, AntiEntropyChecker::Repair repair,
    AntiEntropyChecker::Listener on_pass) {
  if (config.verify_interval.count() <= 0) return nullptr;
  std::unique_ptr<AntiEntropyService> service(new AntiEntropyService());
  std::vector<InstanceClient*> raw;
  for (const auto& inst : config.instances) {
    service->names_.push_back(inst.name);
    service->clients_.push_back(std::make_unique<BlockingInstanceClient>(
        inst, config.connect_timeout, config.request_timeout, 2));
    raw.push_back(service->clients_.back().get());
  }
  AntiEntropyChecker::Pending pending;
  AntiEntropyChecker::Tenants tenants;
  if (store != nullptr) {
    pending = [store](const std::string& t, const std::string& d, const std::string& c) {
      return store->InstancesBehind(t, d, c, std::numeric_limits<int64_t>::max());
    };
    tenants = [store]() -> Result<std::vector<std::string>> {
      auto known = store->LoadCollections();
      if (!known.ok()) return known.status();
      std::set<std::string> names;
      for (const auto& c : *known) names.insert(c.tenant);
      return std::vector<std::string>(names.begin(), names.end());
    };
  }
  if (!repair) repair = MakeCollectionRepairer(raw, 500);
  AntiEntropyChecker::Options options;
  options.interval = config.verify_interval;
  options.auto_repair = config.auto_repair;
  service->checker_ = std::make_unique<AntiEntropyChecker>(
      raw, std::move(pending), std::move(tenants), std::move(repair), clock, options);
  service->checker_->SetListener(std::move(on_pass));
  return service;
}

AntiEntropyService::~AntiEntropyService() {
  if (checker_) checker_->Stop();  // before the clients it uses go
}

json AntiEntropyJson(const AntiEntropyView& v) {
  json divergent = json::array();
  for (const auto& d : v.divergent) {
    json e = {{"instance", d.instance},       {"tenant", d.tenant},
              {"database", d.database},       {"collection", d.collection},
              {"differences", d.differences}, {"detail", d.detail},
              {"repaired", d.repaired}};
    if (!d.repair_error.empty()) e["repair_error"] = d.repair_error;
    divergent.push_back(std::move(e));
  }
  return {{"enabled", v.enabled},
          {"auto_repair", v.auto_repair},
          {"interval_seconds", v.interval_ms / 1000.0},
          {"passes", v.passes},
          {"last_pass_ms", v.last_pass_ms},
          {"last_pass_duration_ms", v.last_pass_duration_ms},
          {"last_error", v.last_error},
          {"collections_checked", v.collections_checked},
          {"collections_skipped", v.collections_skipped},
          {"digest_mismatches", v.digest_mismatches},
          {"divergences_total", v.divergences_total},
          {"repairs_ok_total", v.repairs_ok_total},
          {"repairs_failed_total", v.repairs_failed_total},
          {"divergent", divergent}};
}

json AntiEntropyService::StatusJson() const { return AntiEntropyJson(checker_->View()); }

void AntiEntropyService::AddFamilies(std::vector<prometheus::MetricFamily>* out) const {
  const AntiEntropyView v = checker_->View();
  std::map<std::string, int64_t> now;
  for (std::size_t i = 1; i < names_.size(); ++i) now[names_[i]] = 0;
  for (const auto& d : v.divergent) ++now[d.instance];
  FamilyBuilder divergent("chroma_ha_divergent_collections",
                          "Collections found divergent on an instance by the last anti-entropy "
                          "pass",
                          MetricType::Gauge);
  for (const auto& [name, n] : now) divergent.Add(static_cast<double>(n), {{"instance", name}});
  out->push_back(divergent.Build());
  out->push_back(FamilyBuilder("chroma_ha_divergences_total",
                               "Divergent collections found by the anti-entropy checker",
                               MetricType::Counter)
                     .Add(static_cast<double>(v.divergences_total))
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_anti_entropy_repairs_total",
                               "Repairs of divergent collections (AUTO_REPAIR) by result",
                               MetricType::Counter)
                     .Add(static_cast<double>(v.repairs_ok_total), {{"result", "ok"}})
                     .Add(static_cast<double>(v.repairs_failed_total), {{"result", "failed"}})
                     .Build());
  out->push_back(FamilyBuilder("chroma_ha_anti_entropy_passes_total",
                               "Completed anti-entropy passes", MetricType::Counter)
                     .Add(static_cast<double>(v.passes))
                     .Build());
  const std::pair<const char*, double> gauges[] = {
      {"chroma_ha_anti_entropy_last_pass_timestamp_seconds", v.last_pass_ms / 1000.0},
      {"chroma_ha_anti_entropy_collections_checked", static_cast<double>(v.collections_checked)},
      {"chroma_ha_anti_entropy_collections_skipped", static_cast<double>(v.collections_skipped)},
      {"chroma_ha_anti_entropy_digest_mismatches", static_cast<double>(v.digest_mismatches)}};
  for (const auto& [name, value] : gauges) {
    out->push_back(
        FamilyBuilder(name, "Anti-entropy, last pass (README \"Anti-entropy\")", MetricType::Gauge)
            .Add(value)
            .Build());
  }
}

}  // namespace chroma_ha
