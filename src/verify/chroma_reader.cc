#include "verify/chroma_reader.h"

#include <utility>

#include "sync/chroma_api.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string TenantPath(const std::string& tenant) {
  return "/api/v2/tenants/" + EncodePathSegment(tenant);
}

std::string DatabasesPath(const std::string& tenant) { return TenantPath(tenant) + "/databases"; }

// The non-null keys of a collection's "configuration_json" (what create accepts back).
json CreateConfiguration(const json& source) {
  json config = json::object();
  auto it = source.find("configuration_json");
  if (it == source.end() || !it->is_object()) return config;
  for (auto e = it->begin(); e != it->end(); ++e) {
    if (!e.value().is_null()) config[e.key()] = e.value();
  }
  return config;
}

}  // namespace

Result<HttpResponse> ChromaApi::Send(const HttpRequest& request) {
  auto r = client_.Send(request);
  if (!r.ok()) {
    std::string what =
        label_ + ": " + request.method + " " + request.target + ": " + r.status().message();
    if (r.status().code() == StatusCode::kTimeout) return Status::Timeout(std::move(what));
    return Status::Unavailable(std::move(what));
  }
  return r;
}

Status ChromaApi::Unexpected(const std::string& what, const HttpResponse& r) {
  return Status::Internal(label_ + ": " + what + " answered HTTP " + std::to_string(r.status) +
                          ": " + Utf8Prefix(r.body, 300));
}

Result<json> ChromaApi::Call(const std::string& method, const std::string& target,
                             const std::string& body) {
  auto r = Send(JsonRequest(method, target, body));
  if (!r.ok()) return r.status();
  if (!Is2xx(r->status)) return Unexpected(method + " " + target, *r);
  if (r->body.empty()) return json();
  json parsed = json::parse(r->body, nullptr, false);
  if (parsed.is_discarded()) {
    return Status::Internal(label_ + ": " + method + " " + target + ": answer is not JSON");
  }
  return parsed;
}

Result<bool> ChromaApi::TenantExists(const std::string& tenant) {
  auto r = Send(JsonRequest("GET", TenantPath(tenant), ""));
  if (!r.ok()) return r.status();
  if (r->status == 404) return false;
  if (r->status != 200) return Unexpected("GET tenant " + tenant, *r);
  return true;
}

Result<std::vector<json>> ChromaApi::List(const std::string& target, int page_size) {
  std::vector<json> out;
  for (int64_t offset = 0;; offset += page_size) {
    auto page = Call("GET", target + "?limit=" + std::to_string(page_size) +
                                "&offset=" + std::to_string(offset));
    if (!page.ok()) return page.status();
    if (!page->is_array()) return Status::Internal(label_ + ": GET " + target + ": not a list");
    for (auto& e : *page) out.push_back(std::move(e));
    if (static_cast<int>(page->size()) < page_size) return out;
  }
}

Result<std::vector<json>> ChromaApi::Databases(const std::string& tenant, int page_size) {
  return List(DatabasesPath(tenant), page_size);
}

Result<std::vector<json>> ChromaApi::Collections(const std::string& tenant,
                                                 const std::string& database, int page_size) {
  return List(CollectionsPath(tenant, database), page_size);
}

Status ChromaApi::ForEachPage(const std::string& tenant, const std::string& database,
                              const std::string& id, int page_size,
                              const std::function<Status(const json&)>& page) {
  const std::string target = CollectionPath(tenant, database, id) + "/get";
  for (int64_t offset = 0;; offset += page_size) {
    json body = {{"limit", page_size},
                 {"offset", offset},
                 {"include", {"embeddings", "documents", "metadatas", "uris"}}};
    auto got = Call("POST", target, body.dump());
    if (!got.ok()) return got.status();
    auto ids = got->is_object() ? got->find("ids") : got->end();
    if (!got->is_object() || ids == got->end() || !ids->is_array()) {
      return Status::Internal(label_ + ": POST " + target + ": not a get response");
    }
    const auto n = static_cast<int>(ids->size());
    if (auto s = page(*got); !s.ok()) return s;
    if (n < page_size) return Status::Ok();
  }
}

Result<RecordSet> ChromaApi::Records(const std::string& tenant, const std::string& database,
                                     const std::string& id, int page_size) {
  RecordSet out;
  Status s = ForEachPage(tenant, database, id, page_size, [&](const json& page) -> Status {
    auto n = AddGetPage(page, &out);
    if (!n.ok()) return Status::Internal(label_ + ": get " + id + ": " + n.status().message());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Status ChromaApi::CreateTenant(const std::string& tenant) {
  return Call("POST", "/api/v2/tenants", Dump({{"name", tenant}})).status();
}

Status ChromaApi::CreateDatabase(const std::string& tenant, const std::string& database) {
  return Call("POST", DatabasesPath(tenant), Dump({{"name", database}})).status();
}

Status ChromaApi::DeleteDatabase(const std::string& tenant, const std::string& database) {
  return Call("DELETE", DatabasesPath(tenant) + "/" + EncodePathSegment(database)).status();
}

Result<json> ChromaApi::CreateCollection(const std::string& tenant, const std::string& database,
                                         const std::string& name, const json& source) {
  json create = {{"name", name}};
  auto metadata = source.find("metadata");
  if (metadata != source.end() && metadata->is_object() && !metadata->empty()) {
    create["metadata"] = *metadata;
  }
  json config = CreateConfiguration(source);
  if (!config.empty()) create["configuration"] = std::move(config);
  auto created = Call("POST", CollectionsPath(tenant, database), Dump(create));
  if (!created.ok()) return created.status();
  if (!created->is_object() || !created->contains("id") || !(*created)["id"].is_string()) {
    return Status::Internal(label_ + ": create collection " + name + ": answer has no id");
  }
  return created;
}

Status ChromaApi::DeleteCollection(const std::string& tenant, const std::string& database,
                                   const std::string& name) {
  return Call("DELETE", CollectionPath(tenant, database, name)).status();
}

Status ChromaApi::SetCollectionMetadata(const std::string& tenant, const std::string& database,
                                        const std::string& id, const json& metadata) {
  json body = {{"new_metadata", metadata.is_null() ? json::object() : metadata}};
  return Call("PUT", CollectionPath(tenant, database, id), Dump(body)).status();
}

Status ChromaApi::AddRecords(const std::string& tenant, const std::string& database,
                             const std::string& id, const std::vector<std::string>& ids,
                             const RecordSet& records) {
  if (ids.empty()) return Status::Ok();
  json body = {{"ids", ids}};
  json embeddings = json::array(), documents = json::array(), metadatas = json::array(),
       uris = json::array();
  bool any_document = false, any_metadata = false, any_uri = false;
  for (const std::string& rid : ids) {
    const Record& r = records.at(rid);
    embeddings.push_back(r.embedding ? json(*r.embedding) : json());
    documents.push_back(r.document);
    metadatas.push_back(r.metadata);
    uris.push_back(r.uri);
    any_document |= !r.document.is_null();
    any_metadata |= !r.metadata.is_null();
    any_uri |= !r.uri.is_null();
  }
  body["embeddings"] = std::move(embeddings);
  if (any_document) body["documents"] = std::move(documents);
  if (any_metadata) body["metadatas"] = std::move(metadatas);
  if (any_uri) body["uris"] = std::move(uris);
  return Call("POST", CollectionPath(tenant, database, id) + "/add", Dump(body)).status();
}

Status ChromaApi::DeleteRecords(const std::string& tenant, const std::string& database,
                                const std::string& id, const std::vector<std::string>& ids) {
  if (ids.empty()) return Status::Ok();
  return Call("POST", CollectionPath(tenant, database, id) + "/delete", Dump({{"ids", ids}}))
      .status();
}

}  // namespace chroma_ha
