#include "sync/coalesce.h"

#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

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

// Every element of a validated array is a string.
bool AllStrings(std::string_view array) {
  for (std::string_view element : JsonArrayElements(array)) {
    if (element.empty() || element.front() != '"') return false;
  }
  return true;
}

}  // namespace

struct WriteCoalescer::State {
  std::string kind, tenant, database, collection, method, path;
  std::set<std::string> columns;  // non-null columns, "ids" included
  std::set<std::string> ids;
  // Per column, the elements of every accepted entry's array, as written (views into the
  // entries' bodies): Body() copies each byte once.
  std::map<std::string, std::vector<std::string_view>> merged;
  std::size_t bytes = 0;
};

bool IsReplayBarrier(const WalEntry& entry) {
  return entry.collection.empty() || entry.kind == "modify_collection";
}

WriteCoalescer::WriteCoalescer(std::size_t max_bytes, const ValidatedBodies* validated)
    : max_bytes_(max_bytes), validated_(validated) {}

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

// The entry's record columns, by decoded key: from the layout the write path remembered when
// it validated this body (only `ids` validated again), or from a validating scan. False when
// the body is not an object of record columns only (each once).
bool WriteCoalescer::Columns(const WalEntry& e, std::map<std::string, JsonMember>* out) const {
  std::optional<BodyLayout> layout;
  if (validated_ != nullptr) layout = validated_->Find(e.seq);
  if (layout && layout->size == e.body.size()) {
    if (layout->member_count != layout->columns.size()) return false;  // another member
    const std::string_view body(e.body);
    for (const BodyLayout::Column& c : layout->columns) {
      if (c.offset > body.size() || c.length > body.size() - c.offset || c.length < 2) {
        return false;
      }
      JsonMember m;
      m.value = body.substr(c.offset, c.length);
      m.elements = c.elements;
      if (c.key == "ids") {
        // Small, and read here: validated again.
        const JsonScan ids = ScanJson(m.value);
        if (!ids.valid || ids.object || !m.is_array()) return false;
        m.elements = JsonArrayElements(m.value).size();
        m.all_strings = ids.members.empty() && AllStrings(m.value);
      } else if (!(m.is_array() && m.value.back() == ']') && m.value != "null") {
        return false;
      }
      if (!out->emplace(c.key, m).second) return false;
    }
    return true;
  }
  // Validated and split into members without converting a number.
  const JsonScan body = ScanJson(e.body, {"ids", "embeddings", "metadatas", "documents", "uris"});
  // Any other member (or a column repeated past the listing limit) is refused.
  if (!body.valid || !body.object || body.member_count != body.members.size()) return false;
  for (const JsonMember& m : body.members) {
    std::string key = m.Key();
    if (!IsColumn(key)) return false;
    // A repeated key: nlohmann kept the last value; such a body is simply replayed alone.
    if (!out->emplace(std::move(key), m).second) return false;
  }
  return true;
}

bool WriteCoalescer::Accept(const WalEntry& e, bool first) {
  State& s = *state_;
  if (s.bytes + e.body.size() > max_bytes_ && !first) return false;
  // The arrays are spliced as text, so every number, string and object keeps the spelling the
  // client sent.
  std::map<std::string, JsonMember> members;
  if (!Columns(e, &members)) return false;
  auto ids = members.find("ids");
  if (ids == members.end() || !ids->second.is_array() || ids->second.elements == 0) {
    return false;
  }
  const std::size_t rows = ids->second.elements;
  std::set<std::string> columns;
  for (const auto& [key, m] : members) {
    if (m.is_null()) continue;
    if (!m.is_array() || m.elements != rows) return false;
    columns.insert(key);
  }
  if (!first && columns != s.columns) return false;
  if (!ids->second.all_strings) return false;
  std::set<std::string> fresh;
  for (std::string_view literal : JsonArrayElements(ids->second.value)) {
    std::string value = JsonStringValue(literal);
    if (s.ids.count(value) != 0 || !fresh.insert(std::move(value)).second) return false;
  }
  // Accepted: merge.
  if (first) s.columns = columns;
  s.ids.merge(fresh);
  for (const std::string& column : s.columns) {
    s.merged[column].push_back(JsonArrayInside(members.at(column).value));
  }
  s.bytes += e.body.size();
  ++entries_;
  return true;
}

std::string WriteCoalescer::Body() const {
  if (state_ == nullptr) return "{}";
  std::size_t size = 2;
  for (const auto& [column, parts] : state_->merged) {
    size += column.size() + 6;
    for (std::string_view part : parts) size += part.size() + 1;
  }
  std::string out;
  out.reserve(size);
  out += '{';
  for (const auto& [column, parts] : state_->merged) {
    if (out.size() > 1) out += ',';
    out.append(1, '"').append(column).append("\":[");
    bool any = false;
    for (std::string_view part : parts) {
      if (part.empty()) continue;
      if (any) out += ',';
      out.append(part);
      any = true;
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace chroma_ha
