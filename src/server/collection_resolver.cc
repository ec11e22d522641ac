#include "server/collection_resolver.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "proxy/id_rewrite.h"
#include "proxy/path_rewrite.h"
#include "server/async_util.h"
#include "sync/chroma_api.h"

namespace chroma_ha {

namespace {

constexpr int kListPageSize = 100;
constexpr int kMaxListPages = 100;  // discovery reads at most 10,000 collections per database

// True for the routes whose answers carry collection objects.
bool ReturnsCollections(const HttpRequest& request, const Route& route) {
  if (route.write == WriteKind::kCreateCollection || route.write == WriteKind::kFork) return true;
  if (request.method != "GET" || route.database.empty()) return false;
  if (route.ref == CollectionRef::kName) return true;  // GET .../collections/{name}
  std::string_view path(request.target);
  path = path.substr(0, path.find('?'));
  return route.ref == CollectionRef::kNone && path.ends_with("/collections");
}

}  // namespace

CollectionResolver::CollectionResolver(const Config& config, Upstreams& upstreams,
                                       CollectionMap& map, PersistFn persist)
    : config_(config), upstreams_(upstreams), map_(map), persist_(std::move(persist)) {}

const std::string& CollectionResolver::InstanceName(std::size_t index) const {
  return config_.instances.at(index).name;
}

void CollectionResolver::EnableUnknownIdCache(const Clock& clock, UnknownIdCache::Options options) {
  unknown_ = std::make_unique<UnknownIdCache>(clock, options);
}

std::string CollectionResolver::Learn(const CollectionKey& key, std::size_t index,
                                      const std::string& id) {
  auto learned = map_.Learn(key, InstanceName(index), id);
  if (learned.changed && persist_) persist_(learned.change);
  if (unknown_) {  // known now (the map is asked first anyway; this keeps the cache small)
    unknown_->Forget(key.tenant, key.database, id);
    unknown_->Forget(key.tenant, key.database, learned.canonical_id);
  }
  return learned.canonical_id;
}

void CollectionResolver::ShareIdentity(SharedIdentity& shared, boost::asio::thread_pool& pool) {
  shared_ = &shared;
  shared_pool_ = &pool;
}

boost::asio::awaitable<std::string> CollectionResolver::See(const CollectionKey& key,
                                                            std::size_t index,
                                                            const std::string& id) {
  if (shared_ && !id.empty()) {
    const std::string& instance = InstanceName(index);
    // The common case, a collection this process has cached with this id, is answered here,
    // without a hop to the store's thread (where it would queue behind causal reads' checks).
    if (map_.IdOn(key, instance) == id) {
      if (auto canonical = map_.CanonicalId(key)) co_return *canonical;
    }
    // By reference (the frame outlives the call): g++ 12 mishandles temporaries with
    // destructors in co_await expressions.
    Result<std::string> canonical =
        co_await RunBlocking(*shared_pool_, [&] { return shared_->See(key, instance, id); });
    if (canonical.ok()) {
      if (unknown_) unknown_->Forget(key.tenant, key.database, id);
      co_return std::move(canonical).value();
    }
    spdlog::warn("identity: the WAL store did not take collection {}/{}/{}: {}", key.tenant,
                 key.database, key.name, canonical.status().ToString());
  }
  co_return Learn(key, index, id);
}

void CollectionResolver::Apply(const MapChange& change) {
  if (!change.empty() && persist_) persist_(change);
}

boost::asio::awaitable<void> CollectionResolver::Share(MapChange change) {
  if (change.empty()) co_return;
  if (shared_) {
    Status s = co_await RunBlocking(*shared_pool_, [&] { return shared_->Write(change); });
    if (s.ok()) co_return;
    spdlog::warn("identity: the WAL store did not take a rename or delete: {}", s.ToString());
  }
  Apply(change);
}

boost::asio::awaitable<std::optional<CollectionKey>> CollectionResolver::KeyOf(const Route& route) {
  if (route.ref == CollectionRef::kName) {
    co_return CollectionKey{route.tenant, route.database, route.collection};
  }
  if (route.ref != CollectionRef::kId) co_return std::nullopt;
  if (auto key = map_.FindById(route.collection)) co_return key;
  if (unknown_ && unknown_->IsUnknown(route.tenant, route.database, route.collection)) {
    co_return std::nullopt;
  }
  if (shared_) {  // another proxy may have learned it
    Result<std::optional<CollectionKey>> found = co_await RunBlocking(*shared_pool_, [&] {
      return shared_->Find(route.tenant, route.database, route.collection);
    });
    if (found.ok() && *found) co_return **found;
  }
  const bool complete = co_await Discover(route.tenant, route.database);
  auto key = map_.FindById(route.collection);
  if (!key && complete && unknown_) {
    unknown_->Remember(route.tenant, route.database, route.collection);
  }
  co_return key;
}

boost::asio::awaitable<bool> CollectionResolver::Discover(const std::string& tenant,
                                                          const std::string& database) {
  bool asked = false;
  bool complete = true;
  for (std::size_t index = 0; index < upstreams_.size(); ++index) {
    if (!upstreams_.Healthy(index)) continue;
    asked = true;
    bool listed = false;
    for (int page = 0; page < kMaxListPages; ++page) {
      HttpRequest list;
      list.method = "GET";
      list.target = CollectionsPath(tenant, database) + "?limit=" + std::to_string(kListPageSize) +
                    "&offset=" + std::to_string(page * kListPageSize);
      auto result = co_await upstreams_.Send(index, std::move(list), config_.request_timeout);
      if (!result.ok() || result->status != 200) break;
      auto seen = FindCollections(result->body);
      for (const auto& c : seen) {
        const CollectionKey key{c.tenant, c.database, c.name};  // named: g++ 12 mishandles
        co_await See(key, index, c.id);                         // temporaries in co_await
      }
      if (static_cast<int>(seen.size()) < kListPageSize) {
        listed = true;
        break;
      }
    }
    complete = complete && listed;
  }
  co_return asked&& complete;
}

boost::asio::awaitable<CollectionResolver::Target> CollectionResolver::TargetFor(
    const HttpRequest& request, const Route& route, std::size_t index) {
  if (route.ref != CollectionRef::kId) co_return Target{Target::kReady, request.target};
  auto key = co_await KeyOf(route);
  if (!key) co_return Target{Target::kReady, request.target};  // nobody knows it: let it 404
  auto id = map_.IdOn(*key, InstanceName(index));
  if (!id) {
    auto looked_up = co_await LookUp(*key, index);
    if (looked_up.kind != Target::kReady) co_return looked_up;
    id = looked_up.target;
  }
  co_return Target{Target::kReady, ReplaceCollectionSegment(request.target, *id)};
}

CollectionResolver::Now CollectionResolver::TargetNow(const HttpRequest& request,
                                                      const Route& route, std::size_t index,
                                                      std::string* mapped) {
  if (route.ref != CollectionRef::kId) return Now::kAsIs;
  auto key = map_.FindById(route.collection);
  if (!key) return Now::kAwait;
  auto id = map_.IdOn(*key, InstanceName(index));
  if (!id) return Now::kAwait;
  *mapped = ReplaceCollectionSegment(request.target, *id);
  return Now::kMapped;
}

bool CollectionResolver::WantsResponse(const HttpRequest& request, const Route& route,
                                       const HttpResponse& response) const {
  if (!Is2xx(response.status)) return false;
  return ReturnsCollections(request, route) || route.write == WriteKind::kModifyCollection ||
         route.write == WriteKind::kDeleteCollection || route.write == WriteKind::kDeleteDatabase;
}

boost::asio::awaitable<CollectionResolver::Target> CollectionResolver::LookUp(
    const CollectionKey& key, std::size_t index) {
  HttpRequest get;
  get.method = "GET";
  get.target = CollectionPath(key.tenant, key.database, key.name);
  auto result = co_await upstreams_.Send(index, std::move(get), config_.request_timeout);
  if (!result.ok()) co_return Target{Target::kUnreachable, ""};
  if (result->status == 404) co_return Target{Target::kAbsent, ""};
  auto seen = FindCollections(result->body);
  if (result->status != 200 || seen.empty()) co_return Target{Target::kUnreachable, ""};
  co_await See(key, index, seen.front().id);
  co_return Target{Target::kReady, seen.front().id};
}

boost::asio::awaitable<void> CollectionResolver::OnResponse(const HttpRequest& request,
                                                            const Route& route, std::size_t index,
                                                            HttpResponse& response) {
  if (!Is2xx(response.status)) co_return;
  if (ReturnsCollections(request, route)) {
    // Shared: each collection settled with the store first; the rewrite then finds it known.
    if (shared_) {
      const auto seen = FindCollections(response.body);
      for (const auto& c : seen) {
        const CollectionKey key{c.tenant, c.database, c.name};
        co_await See(key, index, c.id);
      }
    }
    RewriteCollectionIds(&response.body, [&](const SeenCollection& c) {
      return Learn({c.tenant, c.database, c.name}, index, c.id);
    });
    co_return;
  }
  switch (route.write) {
    case WriteKind::kModifyCollection: {
      auto body = nlohmann::json::parse(request.body, nullptr, false);
      if (!body.is_object() || !body.contains("new_name") || !body["new_name"].is_string()) {
        co_return;
      }
      if (auto key = map_.FindById(route.collection)) {
        MapChange change = map_.Rename(*key, body["new_name"].get<std::string>());
        co_await Share(std::move(change));
      }
      co_return;
    }
    case WriteKind::kDeleteCollection: {
      const CollectionKey key{route.tenant, route.database, route.collection};
      MapChange change = map_.Remove(key);
      // Shared: removed from the store even when this process never saw it.
      if (shared_ && change.empty()) change.removed.push_back(key);
      co_await Share(std::move(change));
      co_return;
    }
    case WriteKind::kDeleteDatabase: {
      MapChange change = map_.RemoveDatabase(route.tenant, route.database);
      co_await Share(std::move(change));
      co_return;
    }
    default:
      co_return;
  }
}

}  // namespace chroma_ha
