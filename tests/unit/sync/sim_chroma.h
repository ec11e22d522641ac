// A tiny simulated Chroma server for sync tests: enough of the collection routes to replay
// against (create/get/delete/modify collection by name or id, add/upsert/update/delete/get of
// records with a `document_id` metadata), recording the writes it applied, in order.
// Attach() installs it as a FakeInstance's handler. Thread-safe (one mutex): a sync worker may
// send it several requests at once.
#ifndef CHROMA_HA_TESTS_UNIT_SYNC_SIM_CHROMA_H_
#define CHROMA_HA_TESTS_UNIT_SYNC_SIM_CHROMA_H_

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fakes/fake_instance.h"

namespace chroma_ha {

class SimChroma {
 public:
  struct Collection {
    std::string id;
    std::string name;
    nlohmann::json metadata;
    nlohmann::json configuration;
    std::map<std::string, std::string> records;  // id -> document_id ("" when none)
  };
  struct Write {             // one applied write
    std::string collection;  // name
    std::string op;          // "add", "delete", "create", ...
    std::string body;
  };

  explicit SimChroma(std::string prefix) : prefix_(std::move(prefix)) {}

  void Attach(FakeInstance& instance) {
    instance.SetHandler([this](const HttpRequest& r) { return Handle(r); });
  }

  // Creates a collection directly (as if written around the proxy); returns its id.
  std::string Create(const std::string& name, nlohmann::json metadata = nullptr,
                     nlohmann::json configuration = nlohmann::json::object()) {
    std::lock_guard<std::mutex> lock(mu_);
    return CreateLocked(name, std::move(metadata), std::move(configuration));
  }
  void Put(const std::string& name, const std::string& id, const std::string& document_id) {
    std::lock_guard<std::mutex> lock(mu_);
    by_name_.at(name).records[id] = document_id;
  }
  std::optional<Collection> Find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return std::nullopt;
    return it->second;
  }
  std::string IdOf(const std::string& name) const { return Find(name).value().id; }
  std::vector<Write> writes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return writes_;
  }
  // The next write (not a GET) whose body contains `needle` is answered `status` with `body`
  // and not applied. Unlike a FakeInstance's queued answers, this does not depend on which of
  // several concurrent requests arrives first.
  void RefuseNext(std::string needle, int status, std::string body = "{}") {
    std::lock_guard<std::mutex> lock(mu_);
    refusals_.push_back({std::move(needle), status, std::move(body)});
  }

 private:
  using json = nlohmann::json;

  static HttpResponse Reply(int status, const json& body) {
    return FakeInstance::Response(status, body.dump());
  }
  static HttpResponse NotFound() {
    return Reply(404, {{"error", "NotFoundError"}, {"message", "collection not found"}});
  }
  json Object(const Collection& c) const {
    return {{"id", c.id},
            {"name", c.name},
            {"metadata", c.metadata},
            {"configuration_json", c.configuration},
            {"tenant", "t"},
            {"database", "d"}};
  }
  std::string CreateLocked(const std::string& name, json metadata, json configuration) {
    Collection c{prefix_ + "-" + name + "-" + std::to_string(++next_id_),
                 name,
                 std::move(metadata),
                 std::move(configuration),
                 {}};
    by_name_[name] = c;
    return c.id;
  }
  Collection* ById(const std::string& id) {
    for (auto& [name, c] : by_name_) {
      if (c.id == id) return &c;
    }
    return nullptr;
  }

  static std::string Decode(const std::string& in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '%' && i + 2 < in.size()) {
        out.push_back(static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(in[i]);
      }
    }
    return out;
  }
  static std::vector<std::string> Split(const std::string& path) {
    std::vector<std::string> out;
    size_t start = 1;
    while (start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      out.push_back(Decode(path.substr(start, end - start)));
      start = end + 1;
    }
    return out;
  }

  Result<HttpResponse> Handle(const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = refusals_.begin(); r.method != "GET" && it != refusals_.end(); ++it) {
      if (r.body.find(it->needle) == std::string::npos) continue;
      HttpResponse refused = FakeInstance::Response(it->status, it->body);
      refusals_.erase(it);
      return refused;
    }
    // api v2 tenants T databases D collections [X [op]]
    const std::vector<std::string> s = Split(r.target);
    if (s.size() < 7 || s[6] != "collections") return Reply(200, json::object());
    const json body = json::parse(r.body, nullptr, false);
    if (s.size() == 7) {  // POST collections
      const std::string name = body.value("name", "");
      if (by_name_.count(name) != 0) return Reply(409, {{"error", "ChromaError"}});
      CreateLocked(name, body.value("metadata", json()),
                   body.value("configuration", json::object()));
      writes_.push_back({name, "create", r.body});
      return Reply(200, Object(by_name_.at(name)));
    }
    const std::string& x = s[7];
    if (s.size() == 8 && r.method == "GET") {
      auto it = by_name_.find(x);
      return it == by_name_.end() ? NotFound() : Reply(200, Object(it->second));
    }
    if (s.size() == 8 && r.method == "DELETE") {
      if (by_name_.erase(x) == 0) return NotFound();
      writes_.push_back({x, "delete_collection", r.body});
      return Reply(200, json::object());
    }
    Collection* c = ById(x);
    if (c == nullptr) return NotFound();
    if (s.size() == 8 && r.method == "PUT") {
      writes_.push_back({c->name, "modify", r.body});
      if (body.contains("new_name")) {
        Collection moved = *c;
        by_name_.erase(c->name);
        moved.name = body["new_name"];
        by_name_[moved.name] = moved;
      }
      return Reply(200, json::object());
    }
    const std::string op = s.size() > 8 ? s[8] : "";
    if (op == "get") {
      json ids = json::array();
      for (const auto& id : body["ids"]) {
        if (c->records.count(id) != 0) ids.push_back(id);
      }
      return Reply(200, {{"ids", ids}});
    }
    if (op == "add" || op == "upsert" || op == "update") {
      if (body.contains("ids")) {
        for (size_t i = 0; i < body["ids"].size(); ++i) {
          std::string document_id;
          if (body.contains("metadatas") && body["metadatas"][i].contains("document_id")) {
            document_id = body["metadatas"][i]["document_id"];
          }
          if (op == "add" && c->records.count(body["ids"][i]) != 0) continue;
          if (op == "update" && c->records.count(body["ids"][i]) == 0) continue;
          c->records[body["ids"][i]] = document_id;
        }
      }
      writes_.push_back({c->name, op, r.body});
      return Reply(op == "add" ? 201 : 200, json::object());
    }
    if (op == "delete") {
      writes_.push_back({c->name, op, r.body});
      std::set<std::string> doomed;
      if (body.contains("ids")) {
        for (const auto& id : body["ids"]) doomed.insert(id);
      } else if (body.contains("where")) {
        std::set<std::string> docs;
        for (const auto& d : body["where"]["document_id"]["$in"]) docs.insert(d);
        for (const auto& [id, doc] : c->records) {
          if (docs.count(doc) != 0) doomed.insert(id);
        }
      }
      for (const auto& id : doomed) c->records.erase(id);
      return Reply(200, json::object());
    }
    return Reply(404, json::object());
  }

  const std::string prefix_;
  mutable std::mutex mu_;
  int next_id_ = 0;
  std::map<std::string, Collection> by_name_;
  std::vector<Write> writes_;
  struct Refusal {
    std::string needle;
    int status;
    std::string body;
  };
  std::vector<Refusal> refusals_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_UNIT_SYNC_SIM_CHROMA_H_
