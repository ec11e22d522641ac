#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace chroma_ha {

namespace {

constexpr RouteClass kClasses[] = {RouteClass::kSystemRead, RouteClass::kRead,
                                   RouteClass::kWrite,      RouteClass::kOwn,
                                   RouteClass::kUnknown,    RouteClass::kInvalid};
constexpr const char* kStatusClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

std::size_t ClassIndex(RouteClass cls) {
  for (std::size_t i = 0; i < std::size(kClasses); ++i) {
    if (kClasses[i] == cls) return i;
  }
  return 0;
}

const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

}  // namespace

Metrics::Metrics(std::vector<std::string> instances)
    : instances_(std::move(instances)), registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("chroma_ha_requests_total")
                   .Help("Client requests answered, by route class, answering instance and "
                         "status class (instance \"none\": answered by chroma-ha itself)")
                   .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("chroma_ha_request_duration_seconds")
                  .Help("Time from a complete client request to its response, by route class")
                  .Register(*registry_);
  auto& append_latency = prometheus::BuildHistogram()
                             .Name("chroma_ha_wal_append_duration_seconds")
                             .Help("Time for a write's WAL entry to become durable (group commit)")
                             .Register(*registry_);
  append_latency_ = &append_latency.Add({}, kLatencyBuckets);
  auto& appends = prometheus::BuildCounter()
                      .Name("chroma_ha_wal_appends_total")
                      .Help("WAL appends by result (ok: durable; failed: the write got 503)")
                      .Register(*registry_);
  appends_ok_ = &appends.Add({{"result", "ok"}});
  appends_failed_ = &appends.Add({{"result", "failed"}});
  auto& auth = prometheus::BuildCounter()
                   .Name("chroma_ha_auth_failures_total")
                   .Help("Requests refused by client authentication: missing or invalid token "
                         "(401), out of scope (403), address out of failed attempts (429)")
                   .Register(*registry_);
  auth_missing_ = &auth.Add({{"reason", "missing"}});
  auth_invalid_ = &auth.Add({{"reason", "invalid"}});
  auth_forbidden_ = &auth.Add({{"reason", "forbidden"}});
  auth_limited_ = &auth.Add({{"reason", "limited"}});
  auto& reloads = prometheus::BuildCounter()
                      .Name("chroma_ha_auth_reloads_total")
                      .Help("Credentials-file reloads (SIGHUP) by result (failed: old kept)")
                      .Register(*registry_);
  auth_reloads_ok_ = &reloads.Add({{"result", "ok"}});
  auth_reloads_failed_ = &reloads.Add({{"result", "failed"}});

  for (RouteClass cls : kClasses) {
    latency_by_class_.push_back(&latency_->Add({{"route_class", RouteClassName(cls)}},
                                               kLatencyBuckets));
  }
  request_counters_ = std::vector<std::atomic<prometheus::Counter*>>(
      std::size(kClasses) * (instances_.size() + 1) * std::size(kStatusClasses));
}

void Metrics::ObserveAuthFailure(std::string_view reason) {
  if (reason == "missing") {
    auth_missing_->Increment();
  } else if (reason == "forbidden") {
    auth_forbidden_->Increment();
  } else if (reason == "limited") {
    auth_limited_->Increment();
  } else {
    auth_invalid_->Increment();
  }
}

void Metrics::ObserveAuthReload(bool ok) {
  (ok ? auth_reloads_ok_ : auth_reloads_failed_)->Increment();
}

void Metrics::ObserveRequest(RouteClass cls, int instance, int status, double seconds) {
  std::size_t c = ClassIndex(cls);
  std::size_t i = instance >= 0 && static_cast<std::size_t>(instance) < instances_.size()
                      ? static_cast<std::size_t>(instance) + 1
                      : 0;
  int s = status / 100;
  if (s < 1 || s > 5) s = 5;
  const std::size_t sc = static_cast<std::size_t>(s - 1);
  // Children are created on first use (Family::Add returns the same child for the same
  // labels, so a race only looks it up twice): no series for combinations never seen.
  auto& slot = request_counters_[(c * (instances_.size() + 1) + i) * std::size(kStatusClasses) + sc];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &requests_->Add({{"route_class", RouteClassName(cls)},
                               {"instance", i == 0 ? std::string("none") : instances_[i - 1]},
                               {"status_class", kStatusClasses[sc]}});
    slot.store(counter, std::memory_order_release);
  }
  counter->Increment();
  latency_by_class_[c]->Observe(seconds);
}

void Metrics::ObserveAppend(double seconds, bool ok) {
  (ok ? appends_ok_ : appends_failed_)->Increment();
  if (ok) append_latency_->Observe(seconds);
}

std::string Metrics::Render(const std::vector<prometheus::MetricFamily>& extra) const {
  auto families = registry_->Collect();
  families.insert(families.end(), extra.begin(), extra.end());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

FamilyBuilder::FamilyBuilder(std::string name, std::string help, prometheus::MetricType type) {
  family_.name = std::move(name);
  family_.help = std::move(help);
  family_.type = type;
}

FamilyBuilder& FamilyBuilder::Add(double value, std::map<std::string, std::string> labels) {
  prometheus::ClientMetric m;
  for (auto& [k, v] : labels) m.label.push_back({k, v});
  if (family_.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family_.metric.push_back(std::move(m));
  return *this;
}

}  // namespace chroma_ha
