// Out-of-line definitions for include/chroma_ha/wal_store.h.
#include "chroma_ha/wal_store.h"

#include <mutex>

namespace chroma_ha {

const char* EntryStateName(EntryState s) {
  switch (s) {
    case EntryState::kPending: return "pending";
    case EntryState::kCommitted: return "committed";
    case EntryState::kRejected: return "rejected";
  }
  return "unknown";
}

bool InReadScope(const WalEntry& e, const std::string& tenant, const std::string& database,
                 const std::string& collection) {
  if (e.tenant.empty()) return true;
  if (e.tenant != tenant) return false;
  if (database.empty() || e.database.empty()) return true;
  if (e.database != database) return false;
  // A rename is logged under the old name; the new name's reads depend on it too.
  return collection.empty() || e.collection.empty() || e.collection == collection ||
         e.kind == "modify_collection";
}

namespace {

Result<std::optional<CollectionIdentity>> FindByKey(WalStore& store, const std::string& tenant,
                                                     const std::string& database,
                                                              const std::string& name) {
  auto all = store.LoadCollections();
  if (!all.ok()) return all.status();
  for (CollectionIdentity& c : *all) {
    if (c.tenant == tenant && c.database == database && c.name == name) {
      return std::optional<CollectionIdentity>(std::move(c));
    }
  }
  return std::optional<CollectionIdentity>();
}

// The default MergeCollection is two store calls: one mutex per process makes it atomic for the
// stores that serve one process (SQLite's file lock refuses a second one).
std::mutex merge_mu;

}  // namespace

Result<CollectionIdentity> WalStore::MergeCollection(const CollectionIdentity& seen) {
  std::lock_guard lock(merge_mu);
  auto stored = FindByKey(*this, seen.tenant, seen.database, seen.name);
  if (!stored.ok()) return stored.status();
  CollectionIdentity merged;
  if (*stored) {
    merged = std::move(**stored);
  } else {
    merged = seen;
    merged.ids.clear();
    if (merged.canonical_id.empty() && !seen.ids.empty()) {
      merged.canonical_id = seen.ids.begin()->second;
    }
  }
  for (const auto& [instance, id] : seen.ids) merged.ids[instance] = id;
  if (Status s = PutCollection(merged); !s.ok()) return s;
  return merged;
}

Result<std::optional<CollectionIdentity>> WalStore::FindCollection(const std::string& tenant,
                                                                   const std::string& database,
                                                                   const std::string& id) {
  auto all = LoadCollections();
  if (!all.ok()) return all.status();
  for (CollectionIdentity& c : *all) {
    if (c.tenant != tenant || c.database != database) continue;
    bool named = c.canonical_id == id;
    for (const auto& [instance, instance_id] : c.ids) named = named || instance_id == id;
    if (named) return std::optional<CollectionIdentity>(std::move(c));
  }
  return std::optional<CollectionIdentity>();
}

}  // namespace chroma_ha
