// Shared fixture for the sync worker tests: a primary and a replica (FakeInstances driven by
// SimChroma), an in-memory WAL store (optionally behind a FaultStore), a FakeClock and a plain
// CollectionIds map. Verbs: AppendCommitted(...), ReplicaReturns(503), RunOnce(), Pending(...).
#ifndef CHROMA_HA_TESTS_UNIT_SYNC_SYNC_FIXTURE_H_
#define CHROMA_HA_TESTS_UNIT_SYNC_SYNC_FIXTURE_H_

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "chroma_ha/config.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_instance.h"
#include "fakes/fault_store.h"
#include "fakes/memory_store.h"
#include "sim_chroma.h"
#include "sync/collection_ids.h"
#include "sync/sync_worker.h"

namespace chroma_ha {

// A committed write of kind `kind` (add, upsert, ...) to collection t/d/`collection`, as the
// write path logs it: what replay pages are built from in coalescing tests.
inline WalEntry CommittedWrite(int64_t seq, const std::string& kind, const std::string& body,
                               const std::string& collection) {
  WalEntry e;
  e.seq = seq;
  e.tenant = "t";
  e.database = "d";
  e.collection = collection;
  e.kind = kind;
  e.method = "POST";
  e.path = "/api/v2/tenants/t/databases/d/collections/{collection}/" + kind;
  e.body = body;
  e.state = EntryState::kCommitted;
  e.origin = "primary";
  return e;
}

inline constexpr char kTenant[] = "t";
inline constexpr char kDatabase[] = "d";

class MapIds final : public CollectionIds {
 public:
  std::optional<std::string> IdOn(const std::string& t, const std::string& d,
                                  const std::string& name, const std::string& instance) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ids_.find({t, d, name, instance});
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  void Learn(const std::string& t, const std::string& d, const std::string& name,
             const std::string& instance, const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ids_[{t, d, name, instance}] = id;
  }
  void Forget(const std::string& t, const std::string& d, const std::string& name,
              const std::string& instance) override {
    std::lock_guard<std::mutex> lock(mu_);
    ids_.erase({t, d, name, instance});
  }

 private:
  std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::string> ids_;
};

// A primary and a replica simulated by SimChroma behind FakeInstances, both holding collection
// "c1", and a memory WAL behind a fault-injecting wrapper: one fresh world per fault-loop step.
struct SimulatedPair {
  SimulatedPair() {
    primary_sim.Attach(primary);
    replica_sim.Attach(replica);
    primary_sim.Create("c1");
    replica_sim.Create("c1");
  }
  MemoryWalStore memory;
  FaultStore fault{&memory};
  MapIds ids;
  FakeInstance primary{"primary"};
  FakeInstance replica{"replica"};
  SimChroma primary_sim{"p"};
  SimChroma replica_sim{"r"};
};

class SyncTest : public ::testing::Test {
 protected:
  SyncTest() {
    config_.instances = {{"primary", "http://p:1", "p", 1, false, true},
                         {"replica", "http://r:2", "r", 2, false, false}};
    config_.wal_retry_delay = std::chrono::milliseconds(1000);
    config_.wal_sync_interval = std::chrono::hours(1);
    config_.wal_high_volume_batch_size = 200;  // the page arithmetic of the tests is for 200
    primary_sim_.Attach(primary_);
    replica_sim_.Attach(replica_);
  }

  WalStore& store() { return faulty_ ? static_cast<WalStore&>(fault_) : memory_; }

  std::unique_ptr<SyncWorker> NewWorker() {
    auto worker = std::make_unique<SyncWorker>(config_, store(),
                                               std::vector<InstanceClient*>{&primary_, &replica_},
                                               ids_, clock_, [this] { return pressure_; });
    RecordApplied(*worker);
    return worker;
  }
  // Records the worker's applied callbacks in applied_.
  void RecordApplied(SyncWorker& worker) {
    worker.SetOnApplied([this](const WalEntry& e, const std::string& instance) {
      std::lock_guard<std::mutex> lock(applied_mu_);
      applied_.push_back({e.seq, instance});
    });
  }
  SyncWorker& worker() {
    if (!worker_) worker_ = NewWorker();
    return *worker_;
  }

  static std::string PathFor(const std::string& kind) {
    const std::string base = "/api/v2/tenants/t/databases/d";
    if (kind == "create_tenant") return "/api/v2/tenants";
    if (kind == "create_database") return "/api/v2/tenants/t/databases";
    if (kind == "delete_database") return base;
    if (kind == "create_collection") return base + "/collections";
    if (kind == "delete_collection" || kind == "modify_collection") {
      return base + "/collections/{collection}";
    }
    return base + "/collections/{collection}/" + kind;
  }
  static std::string MethodFor(const std::string& kind) {
    if (kind == "delete_collection" || kind == "delete_database") return "DELETE";
    if (kind == "modify_collection") return "PUT";
    return "POST";
  }

  int64_t Append(EntryState state, const std::string& collection, const std::string& kind,
                 const std::string& body, const std::string& origin = "primary",
                 const std::string& extra = "") {
    WalEntry e;
    e.tenant = kTenant;
    e.database = (kind == "create_tenant" || kind == "create_database") ? "" : kDatabase;
    e.collection = collection;
    e.kind = kind;
    e.method = MethodFor(kind);
    e.path = PathFor(kind);
    e.body = body;
    e.state = state;
    e.origin = origin;
    e.extra = extra;
    std::vector<WalEntry> entries{e};
    EXPECT_TRUE(memory_.Append(&entries).ok());
    return entries[0].seq;
  }
  int64_t AppendCommitted(const std::string& collection, const std::string& kind,
                          const std::string& body, const std::string& origin = "primary",
                          const std::string& extra = "") {
    return Append(EntryState::kCommitted, collection, kind, body, origin, extra);
  }
  // An add of one record whose id is `id` (the marker tests use to check order).
  int64_t AppendAdd(const std::string& collection, const std::string& id) {
    return AppendCommitted(collection, "add", AddBody(id));
  }
  static std::string AddBody(const std::string& id, const std::string& document_id = "doc") {
    return nlohmann::json{{"ids", {id}},
                          {"embeddings", {{1.0, 2.0}}},
                          {"metadatas", {{{"document_id", document_id}}}}}
        .dump();
  }

  // Both instances have the collection (as after a replicated create).
  void CollectionEverywhere(const std::string& name) {
    primary_sim_.Create(name);
    replica_sim_.Create(name);
  }

  void ReplicaReturns(int status) { replica_.AlwaysRespond(status); }
  void ReplicaRecovers() { replica_.AlwaysRespond(0); }
  Status RunOnce() { return worker().RunOnce(); }

  int64_t Pending(const std::string& instance) {
    auto backlog = memory_.Backlog({instance});
    EXPECT_TRUE(backlog.ok());
    return backlog->front().entries;
  }
  // The ids of the adds/upserts the replica applied to `collection`, in order (every id of a
  // coalesced request).
  std::vector<std::string> ReplicaAdds(const std::string& collection) const {
    std::vector<std::string> out;
    for (const auto& w : replica_sim_.writes()) {
      if (w.collection != collection || (w.op != "add" && w.op != "upsert")) continue;
      const nlohmann::json body = nlohmann::json::parse(w.body);  // not a temporary in the for
      for (const auto& id : body["ids"]) out.push_back(id);
    }
    return out;
  }
  std::vector<HttpRequest> ReplicaWritesSent() const {  // requests other than GETs
    std::vector<HttpRequest> out;
    for (const auto& r : replica_.requests()) {
      if (r.method != "GET") out.push_back(r);
    }
    return out;
  }
  std::vector<BlockedCollection> Blocked() {
    auto blocked = memory_.ListBlocked();
    EXPECT_TRUE(blocked.ok());
    return *blocked;
  }
  InstanceSyncStats ReplicaStats() { return worker().stats().instances.at(1); }

  Config config_;
  FakeClock clock_;  // before memory_, whose leases expire on it
  MemoryWalStore memory_{{"primary", "replica"}, &clock_};
  FaultStore fault_{&memory_};
  bool faulty_ = false;
  bool pressure_ = false;
  MapIds ids_;
  FakeInstance primary_{"primary"};
  FakeInstance replica_{"replica"};
  SimChroma primary_sim_{"p"};
  SimChroma replica_sim_{"r"};
  std::mutex applied_mu_;
  std::vector<std::pair<int64_t, std::string>> applied_;
  std::unique_ptr<SyncWorker> worker_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_UNIT_SYNC_SYNC_FIXTURE_H_
