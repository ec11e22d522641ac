// A small in-memory Chroma for resync tests: tenants, databases, collections (id, name,
// metadata, configuration_json) and ordered records (id, embedding, document, metadata, uri),
// with the routes the resync engine uses: tenant get/create, database list/create/delete,
// collection list (limit/offset)/get by name/create/delete by name/modify, count, get (ids or
// limit/offset, include), upsert, delete by ids. A `fail` hook may answer any request first.
#ifndef CHROMA_HA_TESTS_UNIT_RESYNC_MINI_CHROMA_H_
#define CHROMA_HA_TESTS_UNIT_RESYNC_MINI_CHROMA_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fakes/fake_instance.h"

namespace chroma_ha {

class MiniChroma {
 public:
  using json = nlohmann::json;
  struct Record {
    std::string id;
    json embedding, document, metadata, uri;
    bool operator==(const Record&) const = default;
  };
  struct Collection {
    std::string id, name;
    json metadata, configuration = json::object();
    std::vector<Record> records;
  };
  using Db = std::map<std::string, Collection>;  // by name
  // Answers a request before the server does (e.g. a failure); nullopt: served normally.
  std::function<std::optional<Result<HttpResponse>>(const HttpRequest&)> fail;

  MiniChroma(std::string prefix, FakeInstance& instance) : prefix_(std::move(prefix)) {
    tenants_["default_tenant"]["default_database"];
    instance.SetHandler([this](const HttpRequest& r) { return Handle(r); });
  }

  std::mutex mu;  // guards everything below; held by Handle
  std::map<std::string, std::map<std::string, Db>>& tenants() { return tenants_; }
  Collection& Make(const std::string& t, const std::string& d, const std::string& name,
                   json metadata = nullptr) {
    tenants_[t][d][name] = {
        prefix_ + std::to_string(++next_id_), name, std::move(metadata), json::object(), {}};
    return tenants_[t][d][name];
  }
  void Fill(Collection& c, int n, const std::string& tag = "") {
    for (int i = 0; i < n; ++i) {
      const std::string id = "r" + std::to_string(c.records.size());
      c.records.push_back(
          {id, json::array({i * 0.5, 1.0}), "doc " + id + tag, json{{"i", i}}, nullptr});
    }
  }
  int upserts = 0;  // upsert requests served

 private:
  static HttpResponse Answer(int status, const json& body) {
    return FakeInstance::Response(status, body.dump());
  }
  static HttpResponse NotFound() {
    return Answer(404, {{"error", "NotFoundError"}, {"message", "not found"}});
  }
  static std::vector<std::string> Split(const std::string& path) {
    std::vector<std::string> out;
    size_t pos = 1;
    while (pos <= path.size()) {
      size_t end = path.find('/', pos);
      if (end == std::string::npos) end = path.size();
      out.push_back(path.substr(pos, end - pos));
      pos = end + 1;
    }
    return out;
  }
  json CollectionJson(const Collection& c) const {
    return {{"id", c.id},
            {"name", c.name},
            {"metadata", c.metadata},
            {"configuration_json", c.configuration}};
  }
  Collection* ById(Db& db, const std::string& id) {
    for (auto& [name, c] : db) {
      if (c.id == id) return &c;
    }
    return nullptr;
  }
  Result<HttpResponse> Handle(const HttpRequest& r) {
    if (fail) {
      if (auto answer = fail(r)) return *answer;
    }
    std::lock_guard<std::mutex> lock(mu);
    std::string path = r.target, query;
    if (auto q = path.find('?'); q != std::string::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    const std::vector<std::string> s = Split(path);  // api v2 tenants T databases D ...
    const json body = json::parse(r.body.empty() ? "null" : r.body, nullptr, false);
    if (s.size() == 3 && r.method == "POST") {  // create tenant
      if (tenants_.count(body["name"])) return Answer(409, {{"error", "exists"}});
      tenants_[body["name"].get<std::string>()];
      return Answer(200, json::object());
    }
    if (s.size() < 4 || !tenants_.count(s[3])) return NotFound();
    auto& dbs = tenants_[s[3]];
    if (s.size() == 4) return Answer(200, {{"name", s[3]}});
    if (s.size() == 5) {
      if (r.method == "POST") {
        if (dbs.count(body["name"])) return Answer(409, {{"error", "exists"}});
        dbs[body["name"].get<std::string>()];
        return Answer(200, json::object());
      }
      json out = json::array();
      for (const auto& [name, db] : dbs) out.push_back({{"name", name}});
      return Answer(200, out);
    }
    if (!dbs.count(s[5])) return NotFound();
    Db& db = dbs[s[5]];
    if (s.size() == 6 && r.method == "DELETE") {
      dbs.erase(s[5]);
      return Answer(200, json::object());
    }
    if (s.size() == 7 && s[6] == "collections_count") return Answer(200, json(db.size()));
    if (s.size() == 7) return Collections(r, db, query, body);
    Collection* c = s.size() >= 8 ? ById(db, s[7]) : nullptr;
    if (s.size() == 8 && r.method != "PUT") {
      if (!db.count(s[7])) return NotFound();
      if (r.method == "DELETE") {
        db.erase(s[7]);
        return Answer(200, json::object());
      }
      return Answer(200, CollectionJson(db[s[7]]));
    }
    if (c == nullptr) return NotFound();
    if (s.size() == 8) {
      c->metadata = body["new_metadata"];
      return Answer(200, json::object());
    }
    return Records(s[8], *c, body);
  }
  Result<HttpResponse> Collections(const HttpRequest& r, Db& db, const std::string& query,
                                   const json& body) {
    if (r.method == "POST") {
      const std::string name = body["name"];
      if (!db.count(name)) {
        db[name] = {prefix_ + std::to_string(++next_id_),
                    name,
                    body.value("metadata", json()),
                    body.value("configuration", json::object()),
                    {}};
      }
      return Answer(200, CollectionJson(db[name]));
    }
    size_t limit = 1000000, offset = 0;
    if (auto p = query.find("limit="); p != std::string::npos)
      limit = std::stoul(query.substr(p + 6));
    if (auto p = query.find("offset="); p != std::string::npos)
      offset = std::stoul(query.substr(p + 7));
    json out = json::array();
    size_t i = 0;
    for (const auto& [name, c] : db) {
      if (i++ >= offset && out.size() < limit) out.push_back(CollectionJson(c));
    }
    return Answer(200, out);
  }
  // Chroma's base64 embeddings (little-endian float32s) back to numbers.
  static json Decode(const json& e) {
    if (!e.is_string()) return e;
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    uint32_t acc = 0;
    int bits = 0;
    for (char ch : e.get<std::string>()) {
      if (ch == '=') break;
      acc = (acc << 6) | static_cast<uint32_t>(alphabet.find(ch));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes.push_back(static_cast<char>((acc >> bits) & 0xFF));
      }
    }
    json out = json::array();
    for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
      uint32_t v = 0;
      for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(bytes[i + k]);
      float f;
      std::memcpy(&f, &v, sizeof f);
      out.push_back(static_cast<double>(f));
    }
    return out;
  }
  Result<HttpResponse> Records(const std::string& op, Collection& c, const json& body) {
    if (op == "count") return Answer(200, json(c.records.size()));
    if (op == "upsert") {
      ++upserts;
      for (size_t i = 0; i < body["ids"].size(); ++i) {
        Record rec{body["ids"][i], Decode(body["embeddings"][i]),
                   body.value("documents", json())[i], body.value("metadatas", json())[i], nullptr};
        if (body.contains("uris")) rec.uri = body["uris"][i];
        auto it = std::find_if(c.records.begin(), c.records.end(),
                               [&](const Record& x) { return x.id == rec.id; });
        if (it == c.records.end()) {
          c.records.push_back(rec);
          continue;
        }
        // As Chroma does: an upsert merges metadata keys into the record's and keeps the
        // document and uri when the body has none.
        if (it->metadata.is_object() && rec.metadata.is_object()) {
          json merged = it->metadata;
          merged.update(rec.metadata);
          rec.metadata = std::move(merged);
        } else if (rec.metadata.is_null()) {
          rec.metadata = it->metadata;
        }
        if (!body.contains("documents")) rec.document = it->document;
        if (!body.contains("uris")) rec.uri = it->uri;
        *it = rec;
      }
      return Answer(200, json::object());
    }
    if (op == "delete") {
      for (const json& id : body["ids"]) {
        std::erase_if(c.records, [&](const Record& x) { return x.id == id; });
      }
      return Answer(200, json::object());
    }
    // get
    std::vector<const Record*> chosen;
    if (body.contains("ids")) {
      for (const Record& x : c.records) {
        for (const json& id : body["ids"]) {
          if (x.id == id) chosen.push_back(&x);
        }
      }
    } else {
      const size_t offset = body.value("offset", 0), limit = body.value("limit", 1000000);
      for (size_t i = offset; i < c.records.size() && chosen.size() < limit; ++i) {
        chosen.push_back(&c.records[i]);
      }
    }
    json out = {{"ids", json::array()},
                {"embeddings", json::array()},
                {"documents", json::array()},
                {"metadatas", json::array()},
                {"uris", json::array()}};
    for (const Record* x : chosen) {
      out["ids"].push_back(x->id);
      out["embeddings"].push_back(x->embedding);
      out["documents"].push_back(x->document);
      out["metadatas"].push_back(x->metadata);
      out["uris"].push_back(x->uri);
    }
    return Answer(200, out);
  }

  const std::string prefix_;
  int next_id_ = 0;
  std::map<std::string, std::map<std::string, Db>> tenants_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_UNIT_RESYNC_MINI_CHROMA_H_
