#include "resync/resync_record.h"

namespace chroma_ha {

using nlohmann::json;

std::string ToStoreText(const ResyncRecord& p) {
  json plan = json::array();
  for (const ResyncCollection& c : p.plan) {
    plan.push_back(json::array({c.tenant, c.database, c.name, c.records}));
  }
  json doc = {{"v", 1},
              {"instance", p.instance},
              {"source", p.source},
              {"state", p.state},
              {"reason", p.reason},
              {"tenants", p.tenants},
              {"start_seq", p.start_seq},
              {"prepared", p.prepared},
              {"plan", std::move(plan)},
              {"next", p.next},
              {"offset", p.offset},
              {"records_done", p.records_done},
              {"records_total", p.records_total},
              {"records_recopied", p.records_recopied},
              {"extra_removed", p.extra_removed},
              {"started_at_ms", p.started_at_ms},
              {"finished_at_ms", p.finished_at_ms},
              {"trigger", p.trigger}};
  if (p.scope) {
    doc["scope"] = json::array({p.scope->tenant, p.scope->database, p.scope->name});
  }
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ResyncRecord> FromStoreText(const std::string& text) {
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || doc.value("v", 0) != 1) {
    return Status::Corruption("resync state: not a version 1 document");
  }
  try {
    ResyncRecord p;
    p.instance = doc.at("instance").get<std::string>();
    p.source = doc.at("source").get<std::string>();
    p.state = doc.at("state").get<std::string>();
    p.reason = doc.at("reason").get<std::string>();
    p.tenants = doc.at("tenants").get<std::vector<std::string>>();
    p.start_seq = doc.at("start_seq").get<int64_t>();
    p.prepared = doc.at("prepared").get<bool>();
    for (const json& c : doc.at("plan")) {
      p.plan.push_back({c.at(0).get<std::string>(), c.at(1).get<std::string>(),
                        c.at(2).get<std::string>(), c.at(3).get<int64_t>()});
    }
    p.next = doc.at("next").get<int64_t>();
    p.offset = doc.at("offset").get<int64_t>();
    p.records_done = doc.at("records_done").get<int64_t>();
    p.records_total = doc.at("records_total").get<int64_t>();
    p.records_recopied = doc.at("records_recopied").get<int64_t>();
    p.extra_removed = doc.value("extra_removed", int64_t{0});
    p.started_at_ms = doc.at("started_at_ms").get<int64_t>();
    p.finished_at_ms = doc.at("finished_at_ms").get<int64_t>();
    p.trigger = doc.value("trigger", "");
    if (auto scope = doc.find("scope"); scope != doc.end()) {
      p.scope = ResyncCollection{scope->at(0).get<std::string>(), scope->at(1).get<std::string>(),
                                 scope->at(2).get<std::string>(), 0};
    }
    if (p.next < 0 || p.next > p.collections_total()) {
      return Status::Corruption("resync state: position outside the plan");
    }
    return p;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("resync state: ") + e.what());
  }
}

json PublicJson(const ResyncRecord& p, double records_per_second) {
  json eta = nullptr;
  if (p.running() && records_per_second > 0) {
    const int64_t left = std::max<int64_t>(0, p.records_total - p.records_done);
    eta = static_cast<double>(left) / records_per_second;
  }
  return {
      {"instance", p.instance},
      {"source", p.source},
      {"state", p.state},
      {"reason", p.state == kResyncFailed ? p.reason : std::string()},
      {"collections_done", p.collections_done()},
      {"collections_total", p.collections_total()},
      {"records_done", p.records_done},
      {"records_total", p.records_total},
      {"records_recopied", p.records_recopied},
      {"records_per_second", p.running() ? records_per_second : 0.0},
      {"eta_seconds", eta},
      {"started_at_ms", p.started_at_ms},
      {"finished_at_ms", p.finished_at_ms > 0 ? json(p.finished_at_ms) : json(nullptr)},
      {"trigger", p.trigger},
      {"collection", p.scope ? json(p.scope->tenant + "/" + p.scope->database + "/" + p.scope->name)
                             : json(nullptr)}};
}

}  // namespace chroma_ha
