#include "verify/collection_check.h"

namespace chroma_ha {
namespace {

Result<std::string> IdOf(const nlohmann::json& collection, const std::string& where) {
  auto it = collection.find("id");
  if (it == collection.end() || !it->is_string()) {
    return Status::Internal("collection " + where + " has no id");
  }
  return it->get<std::string>();
}

}  // namespace

Result<CollectionDigest> ReadDigest(ChromaApi& api, const std::string& tenant,
                                    const std::string& database, const std::string& id,
                                    int page_size) {
  CollectionDigest digest;
  Status s = api.ForEachPage(tenant, database, id, page_size, [&](const nlohmann::json& page) {
    Status added = AddPageToDigest(page, &digest);
    if (!added.ok()) return Status::Internal(api.label() + ": get " + id + ": " + added.message());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return digest;
}

Result<CollectionCheck> CheckCollection(ChromaApi& a, ChromaApi& b, const std::string& tenant,
                                        const std::string& database, const std::string& name,
                                        const std::optional<nlohmann::json>& xa,
                                        const std::optional<nlohmann::json>& xb, int page_size) {
  const std::string where = tenant + "/" + database + "/" + name;
  CollectionCheck out;
  if (!xa || !xb) {
    if (xa || xb) {
      out.differences.Add("collection " + where + " only on " + (xa ? a : b).label());
    }
    return out;
  }
  CompareCollectionObjects(where, *xa, *xb, a.label(), b.label(), &out.differences);
  auto ia = IdOf(*xa, where);
  if (!ia.ok()) return ia.status();
  auto ib = IdOf(*xb, where);
  if (!ib.ok()) return ib.status();
  auto da = ReadDigest(a, tenant, database, *ia, page_size);
  if (!da.ok()) return da.status();
  auto db = ReadDigest(b, tenant, database, *ib, page_size);
  if (!db.ok()) return db.status();
  if (*da == *db) return out;
  out.digest_mismatch = true;
  auto ra = a.Records(tenant, database, *ia, page_size);
  if (!ra.ok()) return ra.status();
  auto rb = b.Records(tenant, database, *ib, page_size);
  if (!rb.ok()) return rb.status();
  CompareRecords(where, *ra, *rb, a.label(), b.label(), &out.differences);
  return out;
}

}  // namespace chroma_ha
