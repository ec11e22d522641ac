// The lease rules of WalStore ("Leases and fencing" in wal_store.h), as plain functions on a
// lease row, shared by the stores that run them in C++ (SQLite, the memory fake). The
// PostgreSQL store runs the same rules in SQL (postgres_sql.h, kAcquireLease and friends): keep
// them in step (the conformance suite checks all stores against one set of tests).
#ifndef CHROMA_HA_WAL_LEASE_RULES_H_
#define CHROMA_HA_WAL_LEASE_RULES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"
#include "wal/text_check.h"

namespace chroma_ha::lease_rules {

inline Status CheckArgs(const std::string& name, const std::string& holder, int64_t ttl_ms) {
  if (name.empty() || holder.empty()) {
    return Status::InvalidArgument("a lease needs a name and a holder");
  }
  if (Status s = CheckText("lease name", name); !s.ok()) return s;
  if (Status s = CheckText("lease holder", holder); !s.ok()) return s;
  if (ttl_ms <= 0) return Status::InvalidArgument("a lease's ttl must be positive");
  return Status::Ok();
}

// AcquireLease on `current` (nullopt: never taken) at store time `now_ms`: the row after the
// call, with now_ms set.
inline Lease Acquire(const std::optional<Lease>& current, const std::string& name,
                     const std::string& holder, int64_t ttl_ms, int64_t now_ms) {
  Lease out = current.value_or(Lease{name, "", 0, 0, now_ms});
  out.now_ms = now_ms;
  const bool live = out.expires_ms > now_ms;
  if (live && out.holder != holder) return out;  // held by another: unchanged
  if (!live) ++out.term;                         // a new tenure (renewal keeps the term)
  out.holder = holder;
  out.expires_ms = now_ms + ttl_ms;
  return out;
}

// True iff (holder, term) is the current, unexpired tenure of `current`.
inline bool Current(const std::optional<Lease>& current, const std::string& holder, int64_t term,
                    int64_t now_ms) {
  return current.has_value() && current->holder == holder && current->term == term &&
         current->expires_ms > now_ms;
}

inline Status Lost(const std::string& name, const std::string& holder, int64_t term) {
  return Status::FailedPrecondition(std::string(kFencedPrefix) + "lease '" + name + "' term " +
                                    std::to_string(term) + " of " + holder +
                                    " is no longer current (expired or taken over)");
}

// OK when `fence` may write: unfenced, or its tenure is current in `current` (the row of
// fence.lease) at now_ms.
inline Status CheckFence(const Fence& fence, const std::optional<Lease>& current,
                         int64_t now_ms) {
  if (!fence.fenced() || Current(current, fence.holder, fence.term, now_ms)) return Status::Ok();
  return Lost(fence.lease, fence.holder, fence.term);
}

}  // namespace chroma_ha::lease_rules

#endif  // CHROMA_HA_WAL_LEASE_RULES_H_
