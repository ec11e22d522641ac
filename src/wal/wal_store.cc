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

}  // namespace chroma_ha
