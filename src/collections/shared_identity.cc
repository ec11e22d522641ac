#include "collections/shared_identity.h"

#include <utility>

namespace chroma_ha {

Result<CollectionIdentity> SharedIdentity::Merge(const CollectionIdentity& seen) {
  auto stored = store_.MergeCollection(seen);
  if (!stored.ok()) {
    ++stats_.errors;
    return stored.status();
  }
  ++stats_.merges;
  if (stored->canonical_id != seen.canonical_id) ++stats_.adopted;
  map_.Adopt(*stored);
  return stored;
}

Result<std::string> SharedIdentity::See(const CollectionKey& key, const std::string& instance,
                                        const std::string& id) {
  // A proposal only: the store keeps the canonical id of a key it already holds. The cached
  // canonical id is proposed when the cache has no id on this instance yet (a collection known
  // here, first seen on another instance); a cached id that differs means the collection was
  // deleted and created again, perhaps through another proxy: then the new id is proposed.
  std::string proposal = id;
  if (auto known = map_.Get(key)) {
    auto slot = known->ids.find(instance);
    if (slot != known->ids.end() && slot->second == id) return known->canonical_id;
    if (slot == known->ids.end()) proposal = known->canonical_id;
  }
  auto stored = Merge(CollectionIdentity{key.tenant, key.database, key.name, proposal,
                                         {{instance, id}}});
  if (!stored.ok()) return stored.status();
  return stored->canonical_id;
}

Status SharedIdentity::Write(const MapChange& change) {
  for (const CollectionIdentity& put : change.put) {
    if (auto stored = Merge(put); !stored.ok()) return stored.status();
  }
  for (const CollectionKey& key : change.removed) {
    if (Status s = store_.RemoveCollection(key.tenant, key.database, key.name); !s.ok()) {
      ++stats_.errors;
      return s;
    }
  }
  ++stats_.writes;
  return Status::Ok();
}

Result<std::optional<CollectionKey>> SharedIdentity::Find(const std::string& tenant,
                                                          const std::string& database,
                                                          const std::string& id) {
  ++stats_.lookups;
  auto stored = store_.FindCollection(tenant, database, id);
  if (!stored.ok()) {
    ++stats_.errors;
    return stored.status();
  }
  if (!*stored) return std::optional<CollectionKey>();
  ++stats_.found;
  map_.Adopt(**stored);
  return std::optional<CollectionKey>(KeyOf(**stored));
}

}  // namespace chroma_ha
