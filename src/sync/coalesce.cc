#include "sync/coalesce.h"

#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace chroma_ha {
namespace {

using nlohmann::json;

constexpr const char* kColumns[] = {"ids", "embeddings", "metadatas", "documents", "uris"};

bool IsColumn(const std::string& key) {
  for (const char* c : kColumns) {
    if (key == c) return true;
  }
  return false;
}

}  // namespace

struct WriteCoalescer::State {
  std::string kind, tenant, database, collection, method, path;
  std::set<std::string> columns;  // non-null columns, "ids" included
  std::set<std::string> ids;
  json merged = json::object();
  std::size_t bytes = 0;
};

bool IsReplayBarrier(const WalEntry& entry) {
  return entry.collection.empty() || entry.kind == "modify_collection";
}

WriteCoalescer::WriteCoalescer(std::size_t max_bytes) : max_bytes_(max_bytes) {}

WriteCoalescer::~WriteCoalescer() = default;

bool WriteCoalescer::Start(const WalEntry& first) {
  state_.reset();
  entries_ = 0;
  if (first.kind != "add" && first.kind != "upsert") return false;
  if (!first.extra.empty()) return false;
  state_ = std::make_unique<State>();
  state_->kind = first.kind;
  state_->tenant = first.tenant;
  state_->database = first.database;
  state_->collection = first.collection;
  state_->method = first.method;
  state_->path = first.path;
  if (!Accept(first, /*first=*/true)) {
    state_.reset();
    return false;
  }
  return true;
}

bool WriteCoalescer::Add(const WalEntry& next) {
  if (state_ == nullptr) return false;
  const State& s = *state_;
  if (next.kind != s.kind || next.tenant != s.tenant || next.database != s.database ||
      next.collection != s.collection || next.method != s.method || next.path != s.path ||
      !next.extra.empty()) {
    return false;
  }
  return Accept(next, /*first=*/false);
}

bool WriteCoalescer::Accept(const WalEntry& e, bool first) {
  State& s = *state_;
  if (s.bytes + e.body.size() > max_bytes_ && !first) return false;
  const json body = json::parse(e.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return false;
  auto ids = body.find("ids");
  if (ids == body.end() || !ids->is_array() || ids->empty()) return false;
  std::set<std::string> columns;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (!IsColumn(it.key())) return false;
    if (it->is_null()) continue;
    if (!it->is_array() || it->size() != ids->size()) return false;
    columns.insert(it.key());
  }
  if (!first && columns != s.columns) return false;
  std::set<std::string> fresh;
  for (const json& id : *ids) {
    if (!id.is_string()) return false;
    const std::string& value = id.get_ref<const std::string&>();
    if (s.ids.count(value) != 0 || !fresh.insert(value).second) return false;
  }
  // Accepted: merge.
  if (first) s.columns = columns;
  s.ids.insert(fresh.begin(), fresh.end());
  for (const std::string& column : s.columns) {
    json& out = s.merged[column];
    if (!out.is_array()) out = json::array();
    for (const json& v : body.at(column)) out.push_back(v);
  }
  s.bytes += e.body.size();
  ++entries_;
  return true;
}

std::string WriteCoalescer::Body() const {
  if (state_ == nullptr) return "{}";
  return state_->merged.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace chroma_ha
