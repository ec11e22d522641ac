// A tiny in-memory Chroma for the verify and anti-entropy tests: tenants, databases, collections
// (by name, with metadata and a made-up id) and records kept in insertion order, served through
// FakeInstance's handler for exactly the requests ChromaApi makes. Not thread-safe beyond
// FakeInstance's own locking (tests drive one pass at a time).
#ifndef CHROMA_HA_TESTS_FAKES_FAKE_CHROMA_H_
#define CHROMA_HA_TESTS_FAKES_FAKE_CHROMA_H_

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fake_instance.h"

namespace chroma_ha {

class FakeChroma {
 public:
  using json = nlohmann::json;
  struct Collection {
    std::string id;
    json metadata;
    std::vector<std::pair<std::string, json>> records;  // id -> {embedding, document, ...}
  };
  using Database = std::map<std::string, Collection>;

  explicit FakeChroma(std::string name);
  FakeInstance& client() { return *client_; }

  void AddCollection(const std::string& tenant, const std::string& database,
                     const std::string& name, json metadata = nullptr);
  // Appends (or replaces in place) a record.
  void Put(const std::string& tenant, const std::string& database, const std::string& name,
           const std::string& id, std::vector<float> embedding, json document = nullptr,
           json metadata = nullptr);
  void Remove(const std::string& tenant, const std::string& database, const std::string& name,
              const std::string& id);
  Collection* Find(const std::string& tenant, const std::string& database, const std::string& name);
  // Requests that wrote (POST add/delete/create, PUT, DELETE).
  int writes() const { return writes_; }

  std::map<std::string, std::map<std::string, Database>> tenants;

 private:
  Result<HttpResponse> Handle(const HttpRequest& request);
  Collection* ById(const std::string& tenant, const std::string& database, const std::string& id);

  std::unique_ptr<FakeInstance> client_;
  int next_id_ = 0;
  int writes_ = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_FAKE_CHROMA_H_
