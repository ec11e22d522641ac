// Out-of-line definitions for include/chroma_ha/wal_store.h.
#include "chroma_ha/wal_store.h"

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

}  // namespace chroma_ha
