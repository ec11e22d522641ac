#include "fake_chroma.h"

#include <algorithm>
#include <sstream>

namespace chroma_ha {
namespace {

using json = nlohmann::json;

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

HttpResponse Json(int status, const json& body) {
  return FakeInstance::Response(status, body.dump());
}

json Slice(const json& all, const std::string& query) {
  int64_t limit = 1000000, offset = 0;
  std::sscanf(query.c_str(), "limit=%ld&offset=%ld", &limit, &offset);
  json out = json::array();
  for (int64_t i = offset; i < static_cast<int64_t>(all.size()) && i < offset + limit; ++i) {
    out.push_back(all[static_cast<std::size_t>(i)]);
  }
  return out;
}

}  // namespace

FakeChroma::FakeChroma(std::string name) : client_(std::make_unique<FakeInstance>(name)) {
  tenants["default_tenant"]["default_database"];
  client_->SetHandler([this](const HttpRequest& r) { return Handle(r); });
}

void FakeChroma::AddCollection(const std::string& tenant, const std::string& database,
                               const std::string& name, json metadata) {
  tenants[tenant][database][name] = {"id" + std::to_string(++next_id_), metadata, {}};
}

FakeChroma::Collection* FakeChroma::Find(const std::string& tenant, const std::string& database,
                                         const std::string& name) {
  auto& db = tenants[tenant][database];
  auto it = db.find(name);
  return it == db.end() ? nullptr : &it->second;
}

FakeChroma::Collection* FakeChroma::ById(const std::string& tenant, const std::string& database,
                                         const std::string& id) {
  for (auto& [name, c] : tenants[tenant][database]) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

void FakeChroma::Put(const std::string& tenant, const std::string& database,
                     const std::string& name, const std::string& id, std::vector<float> embedding,
                     json document, json metadata) {
  Collection* c = Find(tenant, database, name);
  json record = {
      {"embedding", embedding}, {"document", document}, {"metadata", metadata}, {"uri", nullptr}};
  for (auto& [rid, r] : c->records) {
    if (rid == id) {
      r = record;
      return;
    }
  }
  c->records.emplace_back(id, record);
}

void FakeChroma::Remove(const std::string& tenant, const std::string& database,
                        const std::string& name, const std::string& id) {
  auto& rs = Find(tenant, database, name)->records;
  rs.erase(std::remove_if(rs.begin(), rs.end(), [&](auto& r) { return r.first == id; }), rs.end());
}

Result<HttpResponse> FakeChroma::Handle(const HttpRequest& request) {
  const auto q = request.target.find('?');
  const std::string query = q == std::string::npos ? "" : request.target.substr(q + 1);
  const auto p = Split(request.target.substr(0, q));  // api v2 tenants T databases D ...
  const json body = request.body.empty() ? json() : json::parse(request.body);
  const std::string& m = request.method;
  if (m != "GET" && (p.empty() || p.back() != "get")) ++writes_;
  if (p.size() == 3 && m == "POST") {
    tenants[body["name"].get<std::string>()];
    return Json(200, {{"name", body["name"]}});
  }
  if (p.size() < 4 || !tenants.count(p[3])) return Json(404, {{"error", "NotFound"}});
  auto& tenant = tenants[p[3]];
  if (p.size() == 4) return Json(200, {{"name", p[3]}});
  if (p.size() == 5 && m == "POST") {
    tenant[body["name"].get<std::string>()];
    return Json(200, {{"name", body["name"]}});
  }
  if (p.size() == 5) {
    json all = json::array();
    for (const auto& [name, db] : tenant) all.push_back({{"name", name}});
    return Json(200, Slice(all, query));
  }
  if (p.size() == 6 && m == "DELETE") {
    tenant.erase(p[5]);
    return Json(200, json::object());
  }
  if (!tenant.count(p[5])) return Json(404, {{"error", "NotFound"}});
  auto& db = tenant[p[5]];
  if (p.size() == 7 && m == "POST") {
    const std::string name = body["name"];
    AddCollection(p[3], p[5], name, body.value("metadata", json()));
    return Json(200, {{"id", db[name].id}, {"name", name}, {"metadata", db[name].metadata}});
  }
  if (p.size() == 7) {
    json all = json::array();
    for (const auto& [name, c] : db) {
      all.push_back({{"id", c.id}, {"name", name}, {"metadata", c.metadata}});
    }
    return Json(200, Slice(all, query));
  }
  if (p.size() == 8 && m == "DELETE") {
    db.erase(p[7]);
    return Json(200, json::object());
  }
  Collection* c = ById(p[3], p[5], p[7]);
  if (c == nullptr) return Json(404, {{"error", "NotFound"}});
  if (p.size() == 8 && m == "PUT") {
    c->metadata = body["new_metadata"];
    return Json(200, json::object());
  }
  const std::string op = p.size() == 9 ? p[8] : "";
  if (op == "get") {
    const auto offset = body["offset"].get<std::size_t>(), limit = body["limit"].get<std::size_t>();
    json page = {{"ids", json::array()},
                 {"embeddings", json::array()},
                 {"documents", json::array()},
                 {"metadatas", json::array()},
                 {"uris", json::array()}};
    for (std::size_t i = offset; i < c->records.size() && i < offset + limit; ++i) {
      const auto& [id, r] = c->records[i];
      page["ids"].push_back(id);
      page["embeddings"].push_back(r["embedding"]);
      page["documents"].push_back(r["document"]);
      page["metadatas"].push_back(r["metadata"]);
      page["uris"].push_back(r["uri"]);
    }
    return Json(200, page);
  }
  auto column = [&](const char* key, std::size_t i) {
    return body.contains(key) ? body[key][i] : json();
  };
  if (op == "add") {
    for (std::size_t i = 0; i < body["ids"].size(); ++i) {
      c->records.emplace_back(body["ids"][i], json{{"embedding", column("embeddings", i)},
                                                   {"document", column("documents", i)},
                                                   {"metadata", column("metadatas", i)},
                                                   {"uri", column("uris", i)}});
    }
    return Json(201, json::object());
  }
  if (op == "delete") {
    for (const auto& id : body["ids"]) {
      auto& rs = c->records;
      rs.erase(std::remove_if(rs.begin(), rs.end(), [&](auto& r) { return r.first == id; }),
               rs.end());
    }
    return Json(200, json::object());
  }
  return Json(404, {{"error", "NotFound"}});
}

}  // namespace chroma_ha
