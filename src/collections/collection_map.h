// The collection identity map (DESIGN.md §4): for each collection, keyed by (tenant, database,
// name), the UUID it has on each instance and the canonical id clients see (the first id ever
// learned for that key). The WAL store is the source of truth: load the map from
// WalStore::LoadCollections() at start, and persist every MapChange a mutating call returns
// (PutCollection for `put`, RemoveCollection for `removed`). The map itself does no I/O.
//
// Thread-safe: lookups take a shared lock (they run on every request), mutations an exclusive
// one. Every call copies its results out; nothing returned refers into the map.
#ifndef CHROMA_HA_COLLECTIONS_COLLECTION_MAP_H_
#define CHROMA_HA_COLLECTIONS_COLLECTION_MAP_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "chroma_ha/wal_store.h"

namespace chroma_ha {

struct CollectionKey {
  std::string tenant;
  std::string database;
  std::string name;
  bool operator==(const CollectionKey&) const = default;
};

struct CollectionKeyHash {
  std::size_t operator()(const CollectionKey& k) const;
};

CollectionKey KeyOf(const CollectionIdentity& identity);

// What a mutation changed, for the caller to persist in the WAL store.
struct MapChange {
  std::vector<CollectionIdentity> put;  // WalStore::PutCollection each
  std::vector<CollectionKey> removed;   // WalStore::RemoveCollection each
  bool empty() const { return put.empty() && removed.empty(); }
};

struct LearnResult {
  std::string canonical_id;     // the id to show clients for this collection
  CollectionIdentity identity;  // the key's identity after the call
  bool changed = false;         // true when `change` is not empty: persist it
  MapChange change;
};

class CollectionMap {
 public:
  CollectionMap() = default;
  CollectionMap(const CollectionMap&) = delete;
  CollectionMap& operator=(const CollectionMap&) = delete;

  // Records that `key` has id `id` on `instance` (from a response or a lookup). A new key gets
  // `id` as its canonical id. If the instance already had another id for the key (the collection
  // was re-created), the new id replaces it; the canonical id never changes. If `id` was known
  // under another key (the collection was renamed outside chroma-ha), it is moved to `key`, and
  // the old key is dropped once it holds no instance id. Empty `id` or `instance`: no-op.
  LearnResult Learn(const CollectionKey& key, const std::string& instance, const std::string& id);

  // The key of the collection that `id` names: a canonical id or any instance's id.
  std::optional<CollectionKey> FindById(const std::string& id) const;
  // The collection's id on `instance`, if known.
  std::optional<std::string> IdOn(const CollectionKey& key, const std::string& instance) const;
  // The collection's canonical id, if known.
  std::optional<std::string> CanonicalId(const CollectionKey& key) const;
  // The whole identity, if known.
  std::optional<CollectionIdentity> Get(const CollectionKey& key) const;

  // Replaces the key's identity with `identity`, the one the WAL store holds (a fleet's shared
  // identity, docs/design.md "One identity for the fleet"). Its ids that were known under
  // another key leave that key, which is dropped once it holds no instance id. Nothing to
  // persist: the identity came from the store. No ids or no canonical id: no-op.
  void Adopt(const CollectionIdentity& identity);

  // The collection was renamed (PUT with new_name): its identity moves to the new name, keeping
  // every id. An identity already under the new name is replaced. Unknown old key: no change.
  MapChange Rename(const CollectionKey& old_key, const std::string& new_name);
  // The collection was deleted.
  MapChange Remove(const CollectionKey& key);
  // The database was deleted: every collection in it goes.
  MapChange RemoveDatabase(const std::string& tenant, const std::string& database);

  // Replaces the whole map with `identities` (from WalStore::LoadCollections). Identities with
  // an empty canonical id take their first instance id as canonical.
  void Load(const std::vector<CollectionIdentity>& identities);
  // Every identity, sorted by (tenant, database, name).
  std::vector<CollectionIdentity> Snapshot() const;
  // Forgets everything (POST /api/v2/reset).
  void Clear();
  std::size_t size() const;

 private:
  void IndexLocked(const CollectionIdentity& identity, const CollectionKey& key);
  void UnindexLocked(const CollectionIdentity& identity, const CollectionKey& key);
  void EraseLocked(const CollectionKey& key);

  mutable std::shared_mutex mu_;
  std::unordered_map<CollectionKey, CollectionIdentity, CollectionKeyHash> by_key_;
  // Every canonical and instance id -> its key.
  std::unordered_map<std::string, CollectionKey> by_id_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_COLLECTIONS_COLLECTION_MAP_H_
