// One identity for a fleet of proxies on one PostgreSQL WAL (docs/design.md "One identity for
// the fleet"). Each process keeps its CollectionMap as a cache; the WAL store holds the truth.
// The cache takes no change without the store: an instance id the cache has not seen for a key
// is merged into the store's identity (WalStore::MergeCollection: the first process to record a
// collection sets its canonical id, every later one gets that id back) and the store's identity
// replaces the cached one; renames and deletes are written before the client is answered; an
// id the cache does not know is looked up in the store.
//
// Every method is blocking (store calls, bounded by the store's own timeouts): call it off the
// event loop. On a store error the cache is left unchanged and the error returned, so the caller
// can fall back to the process-local path (CollectionMap::Learn + the background persister).
// Thread-safe: the map and the store are.
#ifndef CHROMA_HA_COLLECTIONS_SHARED_IDENTITY_H_
#define CHROMA_HA_COLLECTIONS_SHARED_IDENTITY_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"
#include "collections/collection_map.h"

namespace chroma_ha {

struct SharedIdentityStats {
  std::atomic<int64_t> merges{0};   // ids recorded in the store (MergeCollection)
  std::atomic<int64_t> adopted{0};  // merges whose canonical id differed from the proposal
  std::atomic<int64_t> lookups{0};  // unknown ids looked up in the store
  std::atomic<int64_t> found{0};    // ... and found there
  std::atomic<int64_t> writes{0};   // renames and deletes written
  std::atomic<int64_t> errors{0};   // store calls that failed (the local path took over)
};

class SharedIdentity {
 public:
  // References must outlive this object.
  SharedIdentity(WalStore& store, CollectionMap& map) : store_(store), map_(map) {}
  SharedIdentity(const SharedIdentity&) = delete;
  SharedIdentity& operator=(const SharedIdentity&) = delete;

  // `instance` answered that the collection `key` has id `id` there. Returns the canonical id
  // clients see for it: at once when the cache already holds that id, else after merging it
  // into the store's identity and adopting the store's answer (a key the store does not hold
  // gets the cached canonical id when the cache had no id on `instance`, else `id`).
  Result<std::string> See(const CollectionKey& key, const std::string& instance,
                          const std::string& id);
  // Writes a rename or a delete the cache made: each removed key is removed from the store, and
  // each put identity merged and adopted from the store's answer.
  Status Write(const MapChange& change);
  // The key of the collection that `id` names in tenant/database according to the store
  // (adopted into the cache), or nullopt when the store knows no such id.
  Result<std::optional<CollectionKey>> Find(const std::string& tenant, const std::string& database,
                                            const std::string& id);

  const SharedIdentityStats& stats() const { return stats_; }

 private:
  Result<CollectionIdentity> Merge(const CollectionIdentity& seen);

  WalStore& store_;
  CollectionMap& map_;
  SharedIdentityStats stats_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_COLLECTIONS_SHARED_IDENTITY_H_
