#include "sync/coalesce.h"

#include <map>
#include <set>
#include <utility>

#include "text/json_scan.h"

namespace chroma_ha {
namespace {

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
  // Per column, the elements of every accepted entry's array, as written, comma-separated.
  std::map<std::string, std::string> merged;
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
  // Validated and split into members without converting a number; the arrays are spliced as
  // text, so every number, string and object keeps the spelling the client sent.
  const JsonScan body = ScanJson(e.body, {"ids", "embeddings", "metadatas", "documents", "uris"});
  // Any other member (or a column repeated past the listing limit) is refused.
  if (!body.valid || !body.object || body.member_count != body.members.size()) return false;
  std::map<std::string, const JsonMember*> members;
  for (const JsonMember& m : body.members) {
    std::string key = m.Key();
    if (!IsColumn(key)) return false;
    // A repeated key: nlohmann kept the last value; such a body is simply replayed alone.
    if (!members.emplace(std::move(key), &m).second) return false;
  }
  auto ids = members.find("ids");
  if (ids == members.end() || !ids->second->is_array() || ids->second->elements == 0) {
    return false;
  }
  const std::size_t rows = ids->second->elements;
  std::set<std::string> columns;
  for (const auto& [key, m] : members) {
    if (m->is_null()) continue;
    if (!m->is_array() || m->elements != rows) return false;
    columns.insert(key);
  }
  if (!first && columns != s.columns) return false;
  if (!ids->second->all_strings) return false;
  std::set<std::string> fresh;
  for (std::string_view literal : JsonArrayElements(ids->second->value)) {
    std::string value = JsonStringValue(literal);
    if (s.ids.count(value) != 0 || !fresh.insert(std::move(value)).second) return false;
  }
  // Accepted: merge.
  if (first) s.columns = columns;
  s.ids.merge(fresh);
  for (const std::string& column : s.columns) {
    std::string& out = s.merged[column];
    if (!out.empty()) out += ',';
    out += JsonArrayInside(members.at(column)->value);
  }
  s.bytes += e.body.size();
  ++entries_;
  return true;
}

std::string WriteCoalescer::Body() const {
  if (state_ == nullptr) return "{}";
  std::size_t size = 2;
  for (const auto& [column, elements] : state_->merged) size += column.size() + elements.size() + 6;
  std::string out;
  out.reserve(size);
  out += '{';
  for (const auto& [column, elements] : state_->merged) {
    if (out.size() > 1) out += ',';
    out.append(1, '"').append(column).append("\":[").append(elements).append(1, ']');
  }
  out += '}';
  return out;
}

}  // namespace chroma_ha
