// What `chroma-ha resync` shows: the resync state object of GET /admin/instances/{name}/resync
// parsed, and rendered as one line. Pure; no I/O.
//
// Terminal (redrawn in place by the caller):
//   replica ####################-----------  42%  4,200/10,000 records  1,234 rec/s  ETA 4s  3/7
//   collections
// Plain (one line per change, for logs and pipes):
//   resync replica: running 42% records 4200/10000 collections 3/7 rate 1234 records/s eta 4 s
#ifndef CHROMA_HA_MONITOR_RESYNC_PROGRESS_H_
#define CHROMA_HA_MONITOR_RESYNC_PROGRESS_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "chroma_ha/status.h"

namespace chroma_ha {

struct ResyncProgress {
  std::string instance, source;
  std::string state;  // "idle" | "running" | "done" | "failed"
  std::string reason;
  int64_t collections_done = 0, collections_total = 0;
  int64_t records_done = 0, records_total = 0, records_recopied = 0;
  double records_per_second = 0;
  std::optional<double> eta_seconds;  // null: unknown
  int64_t started_at_ms = 0;
  std::optional<int64_t> finished_at_ms;
};

// kInvalidArgument when `body` is not a state object (no string "state").
Result<ResyncProgress> ParseResyncProgress(const nlohmann::json& body);

// "1,234,567".
std::string GroupThousands(int64_t n);
// "4s", "3m05s", "1h02m"; "--" when unknown.
std::string FormatEta(std::optional<double> seconds);

// One line without a newline or control characters. `width` (terminal columns) bounds the
// terminal form; the bar shrinks to fit (at least 10 cells).
std::string RenderTerminal(const ResyncProgress& p, int width);
std::string RenderPlain(const ResyncProgress& p);

}  // namespace chroma_ha

#endif  // CHROMA_HA_MONITOR_RESYNC_PROGRESS_H_
