// `chroma-ha resync INSTANCE [--source NAME] [--interval SECONDS]`: asks chroma-ha (PROXY_URL,
// with ADMIN_TOKEN, the variables `chroma-ha monitor` reads) to resync INSTANCE from NAME
// (default: chroma-ha's choice, the primary) through POST /admin/instances/{name}/resync, or
// follows the resync already running, polling GET .../resync every --interval (1 s) until it is
// done or failed.
//
// Output: on a terminal, one progress line redrawn in place (bar, records, records/s, ETA,
// collections: monitor/resync_progress.h); otherwise a plain line each time the state changes.
// Exit status: 0 done; 1 failed (the reason on stderr); 2 bad arguments or configuration,
// chroma-ha refused the request (4xx, its message on stderr) or could not be reached for
// kUnreachableFor in a row. Blocking, on the calling thread; every request has a deadline.
#ifndef CHROMA_HA_MONITOR_RESYNC_CLI_H_
#define CHROMA_HA_MONITOR_RESYNC_CLI_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace chroma_ha {

// How long polling tolerates chroma-ha not answering (e.g. while it restarts) before giving up.
inline constexpr std::chrono::seconds kUnreachableFor{30};

int RunResync(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

std::string ResyncHelpText();

}  // namespace chroma_ha

#endif  // CHROMA_HA_MONITOR_RESYNC_CLI_H_
