#include "collections/collection_map.h"

#include <algorithm>
#include <mutex>
#include <tuple>
#include <utility>

namespace chroma_ha {

std::size_t CollectionKeyHash::operator()(const CollectionKey& k) const {
  std::hash<std::string> h;
  std::size_t seed = h(k.tenant);
  seed ^= h(k.database) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  seed ^= h(k.name) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

CollectionKey KeyOf(const CollectionIdentity& identity) {
  return CollectionKey{identity.tenant, identity.database, identity.name};
}

void CollectionMap::IndexLocked(const CollectionIdentity& identity, const CollectionKey& key) {
  if (!identity.canonical_id.empty()) by_id_[identity.canonical_id] = key;
  for (const auto& [instance, id] : identity.ids) by_id_[id] = key;
}

void CollectionMap::UnindexLocked(const CollectionIdentity& identity, const CollectionKey& key) {
  auto erase = [&](const std::string& id) {
    auto it = by_id_.find(id);
    if (it != by_id_.end() && it->second == key) by_id_.erase(it);
  };
  erase(identity.canonical_id);
  for (const auto& [instance, id] : identity.ids) erase(id);
}

void CollectionMap::EraseLocked(const CollectionKey& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  UnindexLocked(it->second, key);
  by_key_.erase(it);
}

LearnResult CollectionMap::Learn(const CollectionKey& key, const std::string& instance,
                                 const std::string& id) {
  std::unique_lock lock(mu_);
  LearnResult result;
  if (id.empty() || instance.empty()) {
    auto it = by_key_.find(key);
    if (it != by_key_.end()) {
      result.identity = it->second;
      result.canonical_id = it->second.canonical_id;
    }
    return result;
  }
  // An id known under another key: renamed outside chroma-ha. Move it.
  if (auto known = by_id_.find(id); known != by_id_.end() && !(known->second == key)) {
    const CollectionKey old_key = known->second;
    auto old = by_key_.find(old_key);
    if (old != by_key_.end()) {
      auto& ids = old->second.ids;
      for (auto i = ids.begin(); i != ids.end();) {
        i = i->second == id ? ids.erase(i) : std::next(i);
      }
      if (ids.empty()) {
        EraseLocked(old_key);
        result.change.removed.push_back(old_key);
      } else {
        result.change.put.push_back(old->second);
      }
    }
    by_id_.erase(id);
  }
  auto [it, inserted] = by_key_.try_emplace(key);
  CollectionIdentity& identity = it->second;
  if (inserted) {
    identity.tenant = key.tenant;
    identity.database = key.database;
    identity.name = key.name;
    identity.canonical_id = id;
  }
  auto slot = identity.ids.find(instance);
  const bool same = slot != identity.ids.end() && slot->second == id;
  if (!same) {
    if (slot != identity.ids.end() && slot->second != identity.canonical_id) {
      auto old_id = by_id_.find(slot->second);
      if (old_id != by_id_.end() && old_id->second == key) by_id_.erase(old_id);
    }
    identity.ids[instance] = id;
    by_id_[id] = key;
    if (!identity.canonical_id.empty()) by_id_[identity.canonical_id] = key;
    result.change.put.insert(result.change.put.begin(), identity);
  }
  result.identity = identity;
  result.canonical_id = identity.canonical_id;
  result.changed = !result.change.empty();
  return result;
}

void CollectionMap::Adopt(const CollectionIdentity& identity) {
  if (identity.canonical_id.empty() || identity.ids.empty()) return;
  const CollectionKey key = KeyOf(identity);
  std::unique_lock lock(mu_);
  EraseLocked(key);
  auto take = [&](const std::string& id) {
    auto known = by_id_.find(id);
    if (known == by_id_.end()) return;
    const CollectionKey other = known->second;
    auto old = by_key_.find(other);
    by_id_.erase(known);
    if (old == by_key_.end()) return;
    auto& ids = old->second.ids;
    for (auto i = ids.begin(); i != ids.end();) i = i->second == id ? ids.erase(i) : std::next(i);
    if (ids.empty()) EraseLocked(other);
  };
  take(identity.canonical_id);
  for (const auto& [instance, id] : identity.ids) take(id);
  IndexLocked(identity, key);
  by_key_.emplace(key, identity);
}

std::optional<CollectionKey> CollectionMap::FindById(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> CollectionMap::IdOn(const CollectionKey& key,
                                               const std::string& instance) const {
  std::shared_lock lock(mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  auto id = it->second.ids.find(instance);
  if (id == it->second.ids.end()) return std::nullopt;
  return id->second;
}

std::optional<std::string> CollectionMap::CanonicalId(const CollectionKey& key) const {
  std::shared_lock lock(mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  return it->second.canonical_id;
}

std::optional<CollectionIdentity> CollectionMap::Get(const CollectionKey& key) const {
  std::shared_lock lock(mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

MapChange CollectionMap::Rename(const CollectionKey& old_key, const std::string& new_name) {
  std::unique_lock lock(mu_);
  MapChange change;
  CollectionKey new_key{old_key.tenant, old_key.database, new_name};
  auto it = by_key_.find(old_key);
  if (it == by_key_.end() || new_key == old_key) return change;
  CollectionIdentity identity = std::move(it->second);
  UnindexLocked(identity, old_key);
  by_key_.erase(it);
  EraseLocked(new_key);
  identity.name = new_name;
  IndexLocked(identity, new_key);
  change.put.push_back(identity);
  change.removed.push_back(old_key);
  by_key_.emplace(new_key, std::move(identity));
  return change;
}

MapChange CollectionMap::Remove(const CollectionKey& key) {
  std::unique_lock lock(mu_);
  MapChange change;
  if (by_key_.count(key) == 0) return change;
  EraseLocked(key);
  change.removed.push_back(key);
  return change;
}

MapChange CollectionMap::RemoveDatabase(const std::string& tenant, const std::string& database) {
  std::unique_lock lock(mu_);
  MapChange change;
  for (const auto& [key, identity] : by_key_) {
    if (key.tenant == tenant && key.database == database) change.removed.push_back(key);
  }
  for (const CollectionKey& key : change.removed) EraseLocked(key);
  return change;
}

void CollectionMap::Load(const std::vector<CollectionIdentity>& identities) {
  std::unique_lock lock(mu_);
  by_key_.clear();
  by_id_.clear();
  for (CollectionIdentity identity : identities) {
    if (identity.canonical_id.empty() && !identity.ids.empty()) {
      identity.canonical_id = identity.ids.begin()->second;
    }
    CollectionKey key = KeyOf(identity);
    EraseLocked(key);
    IndexLocked(identity, key);
    by_key_.emplace(std::move(key), std::move(identity));
  }
}

std::vector<CollectionIdentity> CollectionMap::Snapshot() const {
  std::vector<CollectionIdentity> out;
  {
    std::shared_lock lock(mu_);
    out.reserve(by_key_.size());
    for (const auto& [key, identity] : by_key_) out.push_back(identity);
  }
  std::sort(out.begin(), out.end(), [](const CollectionIdentity& a, const CollectionIdentity& b) {
    return std::tie(a.tenant, a.database, a.name) < std::tie(b.tenant, b.database, b.name);
  });
  return out;
}

void CollectionMap::Clear() {
  std::unique_lock lock(mu_);
  by_key_.clear();
  by_id_.clear();
}

std::size_t CollectionMap::size() const {
  std::shared_lock lock(mu_);
  return by_key_.size();
}

}  // namespace chroma_ha
