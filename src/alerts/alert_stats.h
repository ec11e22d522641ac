// Counters of the alert senders, for /metrics (chroma_ha_alerts_total{result}). Shared by every
// WebhookAlerter of one process; updated from their threads, read from any thread.
#ifndef CHROMA_HA_ALERTS_ALERT_STATS_H_
#define CHROMA_HA_ALERTS_ALERT_STATS_H_

#include <atomic>
#include <cstdint>

namespace chroma_ha {

struct AlertStats {
  std::atomic<int64_t> sent{0};        // delivered: the receiver answered 2xx
  std::atomic<int64_t> suppressed{0};  // deduplicated or rate limited (deferred ones included)
  std::atomic<int64_t> failed{0};      // delivery failed (connect, TLS, timeout, non-2xx)
  std::atomic<int64_t> dropped{0};     // the sender's queue was full
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERTS_ALERT_STATS_H_
