// chroma-ha's Prometheus metrics (prometheus-cpp core; served as text by our own listener at
// GET /metrics). Two kinds:
//  - instruments updated on the request path (request counts and latency, WAL append latency),
//    kept in a prometheus::Registry, cheap and thread-safe;
//  - values other components already count (upstream health, WAL backlog, replay counters,
//    process resources), turned into metric families at scrape time by the caller.
// Names follow Prometheus conventions: `chroma_ha_` prefix, `_total` counters, base units.
// No label is unbounded: route class, instance name and status class only.
#ifndef CHROMA_HA_METRICS_METRICS_H_
#define CHROMA_HA_METRICS_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chroma_ha/route.h"

namespace chroma_ha {

class Metrics {
 public:
  // `instances`: the configured instance names, in configuration order.
  explicit Metrics(std::vector<std::string> instances);

  // One client request answered: its route class, the instance that answered (-1 when
  // chroma-ha answered itself), the HTTP status and the time from request to response.
  void ObserveRequest(RouteClass cls, int instance, int status, double seconds);
  // One WAL append (from queueing to durable, or failed).
  void ObserveAppend(double seconds, bool ok);

  // A request refused by client auth (src/auth/): reason "missing" or "invalid" (401),
  // "forbidden" (403), "limited" (429); any other reason is counted as "invalid".
  void ObserveAuthFailure(std::string_view reason);
  // A credentials-file reload (SIGHUP): applied, or refused (the old credentials stay).
  void ObserveAuthReload(bool ok);

  // The text exposition: the registry's families followed by `extra` (scrape-time values).
  std::string Render(const std::vector<prometheus::MetricFamily>& extra) const;

 private:
  std::vector<std::string> instances_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Histogram* append_latency_;
  prometheus::Counter* appends_ok_;
  prometheus::Counter* appends_failed_;
  prometheus::Counter* auth_missing_;
  prometheus::Counter* auth_invalid_;
  prometheus::Counter* auth_forbidden_;
  prometheus::Counter* auth_limited_;
  prometheus::Counter* auth_reloads_ok_;
  prometheus::Counter* auth_reloads_failed_;
  // Children by [route class][instance + 1][status class], created on first use.
  std::vector<std::atomic<prometheus::Counter*>> request_counters_;
  std::vector<prometheus::Histogram*> latency_by_class_;
};

// Builders for scrape-time families.
class FamilyBuilder {
 public:
  FamilyBuilder(std::string name, std::string help, prometheus::MetricType type);
  // Adds one sample with the given labels.
  FamilyBuilder& Add(double value, std::map<std::string, std::string> labels = {});
  // Moves the family out; the builder is empty afterwards.
  prometheus::MetricFamily Build() { return std::move(family_); }

 private:
  prometheus::MetricFamily family_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_METRICS_METRICS_H_
