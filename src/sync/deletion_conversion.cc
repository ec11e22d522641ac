#include "sync/deletion_conversion.h"

#include <nlohmann/json.hpp>

namespace chroma_ha {
namespace {

using nlohmann::json;

json Parse(std::string_view text) { return json::parse(text, nullptr, false); }

std::string Dump(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool HasFilter(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && !it->is_null();
}

}  // namespace

std::optional<ConversionPlan> PlanDeletionConversion(std::string_view body,
                                                     std::string_view extra) {
  const json doc = Parse(body);
  if (!doc.is_object() || HasFilter(doc, "where") || HasFilter(doc, "where_document")) {
    return std::nullopt;
  }
  auto ids = doc.find("ids");
  if (ids == doc.end() || !ids->is_array() || ids->empty()) return std::nullopt;
  const json meta = Parse(extra);
  if (!meta.is_object()) return std::nullopt;
  auto doc_ids = meta.find("document_ids");
  if (doc_ids == meta.end() || !doc_ids->is_object()) return std::nullopt;

  ConversionPlan plan;
  plan.body = std::string(body);
  for (const json& id : *ids) {
    if (!id.is_string()) return std::nullopt;
    plan.ids.push_back(id.get<std::string>());
  }
  for (auto it = doc_ids->begin(); it != doc_ids->end(); ++it) {
    if (it.value().is_null()) continue;
    plan.document_ids[it.key()] = Dump(it.value());
  }
  return plan;
}

std::string ExistingIdsQuery(const ConversionPlan& plan) {
  return Dump(json{{"ids", plan.ids}, {"include", json::array()}});
}

std::optional<std::set<std::string>> ParseExistingIds(std::string_view response_body) {
  const json doc = Parse(response_body);
  if (!doc.is_object()) return std::nullopt;
  auto ids = doc.find("ids");
  if (ids == doc.end() || !ids->is_array()) return std::nullopt;
  std::set<std::string> out;
  for (const json& id : *ids) {
    if (id.is_string()) out.insert(id.get<std::string>());
  }
  return out;
}

ConvertedDelete ConvertDelete(const ConversionPlan& plan, const std::set<std::string>& existing) {
  ConvertedDelete out;
  json keep = json::array();
  json document_ids = json::array();
  std::set<std::string> seen_document_ids;
  for (const std::string& id : plan.ids) {
    if (existing.count(id) != 0) {
      keep.push_back(id);
      continue;
    }
    auto it = plan.document_ids.find(id);
    if (it == plan.document_ids.end()) continue;  // no document_id: skipped
    if (seen_document_ids.insert(it->second).second) document_ids.push_back(Parse(it->second));
  }
  if (!document_ids.empty()) {
    out.by_document_id = Dump(json{{"where", {{"document_id", {{"$in", document_ids}}}}}});
  }
  if (keep.size() == plan.ids.size()) {
    out.by_id = plan.body;  // nothing missing: the original bytes
  } else if (!keep.empty()) {
    json body = Parse(plan.body);
    body["ids"] = keep;
    out.by_id = Dump(body);
  }
  return out;
}

}  // namespace chroma_ha
