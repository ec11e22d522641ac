#include "server/unknown_ids.h"

namespace chroma_ha {

std::string UnknownIdCache::Key(std::string_view tenant, std::string_view database,
                                std::string_view id) {
  // Length-prefixed, so that no two (tenant, database, id) triples share a key.
  std::string key = std::to_string(tenant.size()) + ":" + std::string(tenant) +
                    std::to_string(database.size()) + ":" + std::string(database);
  key.append(id);
  return key;
}

bool UnknownIdCache::IsUnknown(std::string_view tenant, std::string_view database,
                               std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = until_.find(Key(tenant, database, id));
  if (it == until_.end()) return false;
  if (clock_.Now() >= it->second) {
    until_.erase(it);
    return false;
  }
  ++hits_;
  return true;
}

void UnknownIdCache::Remember(std::string_view tenant, std::string_view database,
                              std::string_view id) {
  const auto now = clock_.Now();
  std::lock_guard<std::mutex> lock(mu_);
  if (until_.size() >= options_.max_entries) {
    std::erase_if(until_, [&](const auto& entry) { return now >= entry.second; });
    if (until_.size() >= options_.max_entries) until_.clear();
  }
  until_[Key(tenant, database, id)] = now + options_.ttl;
}

void UnknownIdCache::Forget(std::string_view tenant, std::string_view database,
                            std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  until_.erase(Key(tenant, database, id));
}

std::size_t UnknownIdCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return until_.size();
}

}  // namespace chroma_ha
