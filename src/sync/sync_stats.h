// Counters and per-instance state of the sync worker, as a plain snapshot for /wal/status,
// /wal/stats and /metrics. Values only; copying a snapshot is all readers do.
#ifndef CHROMA_HA_SYNC_SYNC_STATS_H_
#define CHROMA_HA_SYNC_SYNC_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace chroma_ha {

struct InstanceSyncStats {
  std::string instance;
  int64_t backoff_until_ms = 0;  // Unix ms until which replay to it waits; 0 = not waiting
  int consecutive_failures = 0;  // transient failures in a row (reset by an applied entry)
  std::string last_error;        // last transient or permanent failure; never a body
  int batch_size = 0;            // page size used by the last round
  int64_t last_applied_seq = 0;  // highest seq applied by this process (0 = none yet)
  // With leases (several processes on one store): whether this process held the instance's
  // replay lease at its last round (true when the worker runs without leases).
  bool replay_lease_held = true;
};

struct SyncStats {
  // Totals since this process started.
  int64_t replayed = 0;            // entries applied on a target (incl. "already applied")
  int64_t retried = 0;             // transient failures (each leads to a backoff)
  int64_t failed = 0;              // permanent failures (each blocks a collection)
  int64_t conversions = 0;         // deletes by ids replayed (partly) by document_id
  int64_t collections_healed = 0;  // collections created on a target from the origin's copy
  int64_t coalesced_requests = 0;  // requests that carried several adds/upserts (coalesce.h)
  int64_t last_sync_ms = 0;        // Unix ms when the last RunOnce finished; 0 = never
  // WAL store calls of replay rounds that failed, by operation ("pending_for", "list_blocked",
  // "backlog", "mark_applied_batch", "block"). A round that had one is run again after a
  // backoff (store_retry_at_ms), without waiting for new writes or the sync interval.
  std::map<std::string, int64_t> store_errors;
  int consecutive_store_errors = 0;  // rounds in a row that ended with a store error
  int64_t store_retry_at_ms = 0;     // Unix ms of that retry; 0 = none scheduled
  int64_t fenced = 0;  // marks/blocks refused because this process's replay lease had ended
  std::vector<InstanceSyncStats> instances;  // index-aligned with config.instances
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_SYNC_STATS_H_
