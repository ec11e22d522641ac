// ChromaApi: the reads and writes `verify`, `verify --repair` and the anti-entropy checker make
// on one Chroma instance through its HTTP API (blocking, on the caller's thread: never on the
// event loop). Every answer but the expected one is a non-OK Status naming the instance and the
// request: kUnavailable/kTimeout when no answer came (the client's deadline), kInternal for an
// unexpected HTTP status or body.
//
// Thread-compatible; the InstanceClient is not owned and must outlive it.
#ifndef CHROMA_HA_VERIFY_CHROMA_READER_H_
#define CHROMA_HA_VERIFY_CHROMA_READER_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chroma_ha/instance_client.h"
#include "chroma_ha/status.h"
#include "verify/compare.h"

namespace chroma_ha {

class ChromaApi {
 public:
  ChromaApi(std::string label, InstanceClient& client)
      : label_(std::move(label)), client_(client) {}
  const std::string& label() const { return label_; }

  // GET /api/v2/tenants/{t}: true if it exists, false on 404.
  Result<bool> TenantExists(const std::string& tenant);
  // Every element of a paged list (GET target?limit=&offset=).
  Result<std::vector<nlohmann::json>> List(const std::string& target, int page_size);
  // The databases of `tenant` / the collections of tenant/database (collection objects).
  Result<std::vector<nlohmann::json>> Databases(const std::string& tenant, int page_size);
  Result<std::vector<nlohmann::json>> Collections(const std::string& tenant,
                                                  const std::string& database, int page_size);
  // Calls `page` with each parsed `POST .../get` page of collection `id` (every field
  // included), in the server's order, until a page holds fewer than `page_size` ids or `page`
  // returns a non-OK Status (returned as is).
  Status ForEachPage(const std::string& tenant, const std::string& database, const std::string& id,
                     int page_size, const std::function<Status(const nlohmann::json&)>& page);
  // Every record of collection `id`.
  Result<RecordSet> Records(const std::string& tenant, const std::string& database,
                            const std::string& id, int page_size);

  // Writes (repair). Each expects a 2xx answer.
  Status CreateTenant(const std::string& tenant);
  Status CreateDatabase(const std::string& tenant, const std::string& database);
  Status DeleteDatabase(const std::string& tenant, const std::string& database);
  // Creates collection `name` with the metadata and configuration of `source` (a collection
  // object from another instance); returns the new collection object.
  Result<nlohmann::json> CreateCollection(const std::string& tenant, const std::string& database,
                                          const std::string& name, const nlohmann::json& source);
  Status DeleteCollection(const std::string& tenant, const std::string& database,
                          const std::string& name);
  // PUT new_metadata (Chroma replaces the metadata).
  Status SetCollectionMetadata(const std::string& tenant, const std::string& database,
                               const std::string& id, const nlohmann::json& metadata);
  // POST .../add of `ids` with their values from `records` (every id must be in it).
  Status AddRecords(const std::string& tenant, const std::string& database, const std::string& id,
                    const std::vector<std::string>& ids, const RecordSet& records);
  Status DeleteRecords(const std::string& tenant, const std::string& database,
                       const std::string& id, const std::vector<std::string>& ids);

 private:
  Result<HttpResponse> Send(const HttpRequest& request);
  Status Unexpected(const std::string& what, const HttpResponse& r);
  Result<nlohmann::json> Call(const std::string& method, const std::string& target,
                              const std::string& body = "");

  std::string label_;
  InstanceClient& client_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_VERIFY_CHROMA_READER_H_
