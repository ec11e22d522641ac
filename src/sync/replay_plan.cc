#include "sync/replay_plan.h"

#include <set>

#include "sync/replay.h"

namespace chroma_ha {

std::vector<ReplayUnit> PlanReplay(const std::vector<WalEntry>& page,
                                   const ValidatedBodies* validated) {
  std::vector<ReplayUnit> units;
  std::vector<bool> taken(page.size());  // part of an earlier unit's coalesced group
  for (size_t i = 0; i < page.size(); ++i) {
    if (taken[i]) continue;
    const WalEntry& first = page[i];
    ReplayUnit unit;
    unit.entries.push_back(&first);
    unit.alone = !IsBatchableReplay(first);
    auto coalescer = std::make_unique<WriteCoalescer>(kMaxCoalescedBytes, validated);
    if (coalescer->Start(first)) {
      // Later adds/upserts of the same collection, up to the next barrier or the first entry of
      // that collection that cannot join.
      for (size_t j = i + 1; j < page.size(); ++j) {
        const WalEntry& next = page[j];
        if (IsReplayBarrier(next)) break;
        if (taken[j] || next.tenant != first.tenant || next.database != first.database ||
            next.collection != first.collection) {
          continue;
        }
        if (!coalescer->Add(next)) break;
        unit.entries.push_back(&next);
        taken[j] = true;
      }
    }
    if (unit.entries.size() > 1) unit.coalescer = std::move(coalescer);
    units.push_back(std::move(unit));
  }
  return units;
}

bool PageWantsMore(const std::vector<WalEntry>& page, int chunk, int reads) {
  if (reads >= kMaxPageReads || chunk <= 0) return false;
  std::set<ReplayKey> collections;
  std::size_t bytes = 0;
  for (const WalEntry& e : page) {
    collections.insert(ReplayKeyOf(e));
    bytes += e.body.size();
  }
  if (bytes >= kMaxPageBytes) return false;
  return page.size() < collections.size() * static_cast<std::size_t>(chunk);
}

}  // namespace chroma_ha
