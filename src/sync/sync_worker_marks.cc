// SyncWorker, part 2: marking what was applied (sync_worker.h "Marks" and "Drains"): a run now,
// or behind the next page's requests, and counting and calling back once the mark is stored.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <utility>

#include "sync/sync_worker.h"

namespace chroma_ha {
namespace {

// Sorts `run` by seq (requests of different collections finish in any order: marks and
// callbacks go in seq order) and returns its seqs.
std::vector<int64_t> SeqOrder(std::vector<const WalEntry*>& run) {
  std::sort(run.begin(), run.end(),
            [](const WalEntry* a, const WalEntry* b) { return a->seq < b->seq; });
  std::vector<int64_t> seqs;
  seqs.reserve(run.size());
  for (const WalEntry* e : run) seqs.push_back(e->seq);
  return seqs;
}

}  // namespace

Status SyncWorker::MarkRun(Round& round) {
  if (Status s = FinishBehind(round); !s.ok()) {
    round.run.clear();  // re-sent by the retry, after the run behind
    return s;
  }
  if (round.run.empty()) return Status::Ok();
  const std::vector<int64_t> seqs = SeqOrder(round.run);
  return Recorded(round, round.run,
                  store_.MarkAppliedBatch(seqs, round.target.name(), round_fence_));
}

void SyncWorker::MarkBehind(Round& round, std::vector<WalEntry> page) {
  std::vector<int64_t> seqs = SeqOrder(round.run);
  // Moving the page keeps its entries where they are, so the run still points into it.
  round.behind_page = std::move(page);
  for (WalEntry& e : round.behind_page) std::string().swap(e.body);  // only the keys are needed
  round.behind_run = std::move(round.run);
  round.run.clear();
  if (seqs.empty()) return;
  round.behind_mark = std::async(
      std::launch::async,
      [this, seqs = std::move(seqs), &name = round.target.name(), fence = round_fence_] {
        return store_.MarkAppliedBatch(seqs, name, fence);  // a throw is rethrown by get()
      });
}

Status SyncWorker::FinishBehind(Round& round) {
  if (!round.behind_mark.valid()) return Status::Ok();
  Status s = Recorded(round, round.behind_run, round.behind_mark.get());
  round.behind_page.clear();
  return s;
}

Status SyncWorker::Recorded(Round& round, std::vector<const WalEntry*>& run, Status stored) {
  if (!stored.ok()) {
    spdlog::warn("sync: seqs {}..{} applied on {} but not marked (re-sent by the retry)",
                 run.front()->seq, run.back()->seq, round.target.name());
    run.clear();
    return StoreError("mark_applied_batch", std::move(stored));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    InstanceSyncStats& s = stats_.instances[round.index];
    stats_.replayed += static_cast<int64_t>(run.size());
    s.consecutive_failures = 0;
    s.last_applied_seq = std::max(s.last_applied_seq, run.back()->seq);
  }
  if (on_applied_) {
    for (const WalEntry* e : run) on_applied_(*e, round.target.name());
  }
  run.clear();
  return Status::Ok();
}

}  // namespace chroma_ha
