// The sync worker's view of the collection identity map (DESIGN.md §4): which UUID a
// collection (tenant, database, name) has on each instance. The proxy adapts its identity map
// (src/collections/) to this interface; tests use a plain map.
//
// Thread-safety: the sync worker calls these from its own thread (or the thread that calls
// RunOnce), concurrently with the proxy's own use of the map, so implementations must be
// thread-safe. Calls must not block for long (no network); persisting a learned id to the WAL
// store may happen here or be queued.
#ifndef CHROMA_HA_SYNC_COLLECTION_IDS_H_
#define CHROMA_HA_SYNC_COLLECTION_IDS_H_

#include <optional>
#include <string>

namespace chroma_ha {

class CollectionIds {
 public:
  virtual ~CollectionIds() = default;

  // The id of collection `name` on `instance`, or nullopt when not known. A known id may be
  // stale (the collection was deleted and re-created around the proxy): the worker re-resolves
  // it by name when the instance answers 404 for it.
  virtual std::optional<std::string> IdOn(const std::string& tenant, const std::string& database,
                                          const std::string& name, const std::string& instance) = 0;

  // Records that collection `name` has id `id` on `instance` (replacing any previous id).
  virtual void Learn(const std::string& tenant, const std::string& database,
                     const std::string& name, const std::string& instance,
                     const std::string& id) = 0;

  // Records that collection `name` no longer exists on `instance` (replayed delete, or the old
  // name of a replayed rename). Optional: the default does nothing, which is safe because stale
  // ids are re-resolved on 404.
  virtual void Forget(const std::string& /*tenant*/, const std::string& /*database*/,
                      const std::string& /*name*/, const std::string& /*instance*/) {}
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_COLLECTION_IDS_H_
