// The anti-entropy checker as chroma-ha runs it: built from the configuration (VERIFY_INTERVAL,
// AUTO_REPAIR), with blocking clients of its own (CONNECT_TIMEOUT_MS / REQUEST_TIMEOUT bound
// every call), the WAL store for pending entries (WalStore::InstancesBehind) and tenants (the
// identity map), and what it shows: the "anti_entropy" object of /status and /wal/status, and
// its /metrics families:
//   chroma_ha_divergent_collections{instance}     gauge: divergent in the last pass
//   chroma_ha_divergences_total                    counter: every divergence found
//   chroma_ha_anti_entropy_repairs_total{result}   counter: ok | failed
//   chroma_ha_anti_entropy_passes_total            counter
//   chroma_ha_anti_entropy_last_pass_timestamp_seconds, _collections_checked,
//   _collections_skipped (WAL entries pending), _digest_mismatches (last pass)
// Thread-safe after Start(); the store and clock must outlive it.
#ifndef CHROMA_HA_VERIFY_ANTI_ENTROPY_SERVICE_H_
#define CHROMA_HA_VERIFY_ANTI_ENTROPY_SERVICE_H_

#include <prometheus/metric_family.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "chroma_ha/config.h"
#include "chroma_ha/wal_store.h"
#include "verify/anti_entropy.h"

namespace chroma_ha {

class AntiEntropyService {
 public:
  // Null when VERIFY_INTERVAL is 0. `store` may be null (no WAL: nothing is ever pending and
  // only default_tenant is walked). `repair`: how a divergent collection is repaired with
  // AUTO_REPAIR; empty = verify/repair.h's MakeCollectionRepairer (the lead may route it to the
  // resync engine instead). `on_pass` hears each pass's divergences (alerts); may be empty.
  static std::unique_ptr<AntiEntropyService> Create(const Config& config, WalStore* store,
                                                    const Clock& clock,
                                                    AntiEntropyChecker::Repair repair,
                                                    AntiEntropyChecker::Listener on_pass);
  ~AntiEntropyService();

  void Start() { checker_->Start(); }
  void Stop() { checker_->Stop(); }
  AntiEntropyChecker& checker() { return *checker_; }

  nlohmann::json StatusJson() const;
  void AddFamilies(std::vector<prometheus::MetricFamily>* out) const;

 private:
  AntiEntropyService() = default;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<InstanceClient>> clients_;
  std::unique_ptr<AntiEntropyChecker> checker_;
};

// The "anti_entropy" object (see the README "Anti-entropy").
nlohmann::json AntiEntropyJson(const AntiEntropyView& view);

}  // namespace chroma_ha

#endif  // CHROMA_HA_VERIFY_ANTI_ENTROPY_SERVICE_H_
