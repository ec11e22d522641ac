// Collection identity on the request path (DESIGN.md §4): every Chroma server gives a collection
// its own UUID; clients see one canonical id. The resolver translates the id in a request path to
// the target instance's id (looking it up on the instance when unknown), learns ids from
// responses and rewrites them to the canonical one, and keeps the map current on renames and
// deletes. The map itself is pure (src/collections/); persistence goes through `persist`.
#ifndef CHROMA_HA_SERVER_COLLECTION_RESOLVER_H_
#define CHROMA_HA_SERVER_COLLECTION_RESOLVER_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "chroma_ha/config.h"
#include "chroma_ha/http_message.h"
#include "chroma_ha/route.h"
#include "chroma_ha/wal_store.h"
#include "collections/collection_map.h"
#include "collections/shared_identity.h"
#include "server/unknown_ids.h"
#include "upstream/upstream.h"

namespace chroma_ha {

class CollectionResolver {
 public:
  // Called after the map changed, so the change can be written to the WAL store. Must not
  // block: queue the write.
  using PersistFn = std::function<void(const MapChange& change)>;

  // References must outlive the resolver. `persist` may be empty.
  CollectionResolver(const Config& config, Upstreams& upstreams, CollectionMap& map,
                     PersistFn persist);

  struct Target {
    enum Kind { kReady, kAbsent, kUnreachable } kind = kReady;
    std::string target;  // the request-target to send (kReady)
  };

  // The request-target to send to instance `index` for `route`: unchanged when the path names
  // no collection by id (or an id nobody knows); the instance's own id otherwise. kAbsent when
  // the instance answered 404 for the collection's name; kUnreachable when the lookup got no
  // answer.
  boost::asio::awaitable<Target> TargetFor(const HttpRequest& request, const Route& route,
                                           std::size_t index);
  // What TargetFor would answer, when that is known without I/O (no coroutine: the request
  // path calls this first). kAsIs: send request.target unchanged; kMapped: send `*mapped` (an
  // id this process has cached); kAwait: only TargetFor can tell.
  enum class Now { kAsIs, kMapped, kAwait };
  Now TargetNow(const HttpRequest& request, const Route& route, std::size_t index,
                std::string* mapped);

  // Remembers ids that a complete lookup round did not find (server/unknown_ids.h), so that
  // repeated requests for them do not list the database again within `options.ttl`. Off until
  // called. Call before serving; `clock` must outlive the resolver.
  void EnableUnknownIdCache(const Clock& clock, UnknownIdCache::Options options = {});
  const UnknownIdCache* unknown_ids() const { return unknown_.get(); }

  // A fleet on one PostgreSQL WAL: from now on the map takes no change without the store
  // (collections/shared_identity.h); `shared`'s blocking calls run on `pool`. A failing store
  // call falls back to the process-local path (the map + PersistFn). Call before serving.
  void ShareIdentity(SharedIdentity& shared, boost::asio::thread_pool& pool);

  // The (tenant, database, name) of the collection the route names, resolving an unknown id by
  // listing the collections of the route's database on every healthy instance (unless the
  // unknown-id cache says that was done recently and found nothing).
  boost::asio::awaitable<std::optional<CollectionKey>> KeyOf(const Route& route);

  // After instance `index` answered `response` (any status) to `request`: on 2xx, learns the
  // collection ids in the body and rewrites them to canonical ids, and applies renames,
  // deletes and resets to the map (and, shared, to the store before it returns).
  boost::asio::awaitable<void> OnResponse(const HttpRequest& request, const Route& route,
                                          std::size_t index, HttpResponse& response);
  // False when OnResponse would do nothing (most answers): the request path skips it.
  bool WantsResponse(const HttpRequest& request, const Route& route,
                     const HttpResponse& response) const;

  CollectionMap& map() { return map_; }

 private:
  // Lists the database on every healthy instance and learns what it finds. True when the round
  // was complete: at least one instance was asked and every one asked answered every page.
  boost::asio::awaitable<bool> Discover(const std::string& tenant, const std::string& database);
  // GET .../collections/{name} on instance `index`; kReady carries the instance's id.
  boost::asio::awaitable<Target> LookUp(const CollectionKey& key, std::size_t index);
  std::string Learn(const CollectionKey& key, std::size_t index, const std::string& id);
  // Learn, through the store when shared.
  boost::asio::awaitable<std::string> See(const CollectionKey& key, std::size_t index,
                                          const std::string& id);
  void Apply(const MapChange& change);
  // Apply, written to the store first when shared.
  boost::asio::awaitable<void> Share(MapChange change);
  const std::string& InstanceName(std::size_t index) const;

  const Config& config_;
  Upstreams& upstreams_;
  CollectionMap& map_;
  PersistFn persist_;
  std::unique_ptr<UnknownIdCache> unknown_;  // null: off
  SharedIdentity* shared_ = nullptr;         // null: process-local identity
  boost::asio::thread_pool* shared_pool_ = nullptr;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_COLLECTION_RESOLVER_H_
