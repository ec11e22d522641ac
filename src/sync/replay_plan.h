// How the sync worker cuts a page of pending WAL entries into replay requests ("units"), and
// how much of the backlog a page should hold (docs/design.md "Replay", issue 14 item 4).
//
// Units: a run of adds (or upserts) of one collection goes out as one coalesced request
// (sync/coalesce.h), which ends at the next barrier (IsReplayBarrier) or at the first entry of
// that collection that cannot join; every other entry is a unit of its own. Units are listed in
// the order of their first entry. A unit is `alone` when its entry is not batchable
// (IsBatchableReplay: an update, a delete by filter, a collection/database/tenant operation):
// the worker sends it with nothing else in flight, after every earlier unit and before every
// later one, and marks it on its own. Units that are not alone may be in flight together when
// they are of different collections; those of one collection go one after the other.
//
// Page size: the configured page (WAL_BATCH_SIZE / WAL_HIGH_VOLUME_BATCH_SIZE) is per
// collection. A full read over several collections splits each collection's run into a share
// of the page (8 collections in a page of 200: requests of 25 records, for which Chroma's
// fixed cost per request dominates), so the worker keeps reading while PageWantsMore says so.
//
// Thread-safety: plain functions and values. Units point into the page they were planned from.
#ifndef CHROMA_HA_SYNC_REPLAY_PLAN_H_
#define CHROMA_HA_SYNC_REPLAY_PLAN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "chroma_ha/wal_store.h"
#include "sync/coalesce.h"
#include "sync/validated_bodies.h"

namespace chroma_ha {

// A page reads at most this many times the configured page size, and stops adding reads once
// it holds kMaxPageBytes of bodies (the first read is always whole).
inline constexpr int kMaxPageReads = 16;
inline constexpr std::size_t kMaxPageBytes = 4 * kMaxCoalescedBytes;

using ReplayKey = std::tuple<std::string, std::string, std::string>;  // tenant, db, coll

inline ReplayKey ReplayKeyOf(const WalEntry& e) { return {e.tenant, e.database, e.collection}; }

struct ReplayUnit {
  std::vector<const WalEntry*> entries;       // in seq order; more than one: coalesced
  std::unique_ptr<WriteCoalescer> coalescer;  // set when coalesced: builds the merged body
  bool alone = false;                         // see above
};

// `validated` (may be null): layouts of bodies the write path validated (sync/validated_bodies.h).
std::vector<ReplayUnit> PlanReplay(const std::vector<WalEntry>& page,
                                   const ValidatedBodies* validated = nullptr);

// After a full read of `chunk` entries: true while the page (everything read so far) should
// grow by another read: fewer than `chunk` entries per distinct collection on average, under
// kMaxPageReads reads and kMaxPageBytes of bodies.
bool PageWantsMore(const std::vector<WalEntry>& page, int chunk, int reads);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_REPLAY_PLAN_H_
