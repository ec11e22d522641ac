// The progress of one resync (docs/design.md "Resync"): what the engine (resync_engine.h)
// persists in the WAL store after every page (WalStore::PutResync, as JSON text) and what
// GET /admin/instances/{name}/resync shows (PublicJson).
//
// The plan is the ordered list of the source's collections made when the resync started;
// plan[0, next) are done, plan[next] is being copied and `offset` of its records (in the
// source's get order) are on the target. A restarted chroma-ha resumes there.
#ifndef CHROMA_HA_RESYNC_RESYNC_RECORD_H_
#define CHROMA_HA_RESYNC_RESYNC_RECORD_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chroma_ha/status.h"

namespace chroma_ha {

inline constexpr const char* kResyncIdle = "idle";
inline constexpr const char* kResyncRunning = "running";
inline constexpr const char* kResyncDone = "done";
inline constexpr const char* kResyncFailed = "failed";

struct ResyncCollection {
  std::string tenant;
  std::string database;
  std::string name;
  int64_t records = 0;  // the source's count when planned
  bool operator==(const ResyncCollection&) const = default;
};

struct ResyncRecord {
  std::string instance;  // the target
  std::string source;
  std::string state = kResyncIdle;
  std::string reason;                // failed only
  std::vector<std::string> tenants;  // what is copied (Chroma cannot list tenants)
  int64_t start_seq = 0;             // the WAL's last seq when the resync started
  bool prepared = false;             // start_seq taken, the target's old backlog dropped, plan made
  std::vector<ResyncCollection> plan;
  int64_t next = 0;    // index in plan of the collection being copied
  int64_t offset = 0;  // records of plan[next] on the target
  int64_t records_done = 0;
  int64_t records_total = 0;
  int64_t records_recopied = 0;  // copied again after a restart (at most a page per collection)
  int64_t extra_removed = 0;     // databases, collections and records only on the target
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;  // 0 while not finished
  std::string trigger;         // "admin" or what started it automatically
  // Set: only this collection is resynced (tenants ignored; only its backlog is dropped).
  std::optional<ResyncCollection> scope;

  bool running() const { return state == kResyncRunning; }
  int64_t collections_done() const { return next; }
  int64_t collections_total() const { return static_cast<int64_t>(plan.size()); }
};

// Store form (WalStore::PutResync) and back. kCorruption for text this did not write.
std::string ToStoreText(const ResyncRecord& p);
Result<ResyncRecord> FromStoreText(const std::string& text);

// The state object of GET/POST /admin/instances/{name}/resync. `records_per_second` is the
// copy rate measured by the running engine (0 when not running); eta from it.
nlohmann::json PublicJson(const ResyncRecord& p, double records_per_second);

}  // namespace chroma_ha

#endif  // CHROMA_HA_RESYNC_RESYNC_RECORD_H_
