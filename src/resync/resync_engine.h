// Copies one Chroma instance (the source) onto another (the target) while chroma-ha serves
// (docs/design.md "Resync"). Blocking; runs on its own thread (ResyncManager), never on an
// event loop. Uses the blocking instance clients and the WAL store.
//
// Protocol (the caller pauses the sync worker's replay to the target for the whole run, and
// routes no reads there):
// A resync may be scoped to one collection (ResyncRecord::scope): then only it is planned
// (deleted on the target when the source lacks it) and only its backlog is dropped.
//
//  1. Prepare (once): start_seq = the WAL's last seq; the target's replay backlog up to
//     start_seq is marked applied (the source already has those writes, so the copy carries
//     them), except entries the source has not applied itself; tenants and databases are
//     created on the target, databases and collections only on the target are deleted, and the
//     plan (the source's collections, with counts) is recorded.
//  2. Copy, collection by collection, in pages of `page_size` records (the source's get order,
//     by offset): create the collection on the target from the source's definition (metadata
//     and configuration) or, when it exists, delete its records the source does not have; then
//     upsert each page (ids, embeddings, documents, metadatas, uris). Progress is persisted
//     after every page, under the target's replay lease (fenced), so a restart resumes at the
//     last recorded page (that page may be copied twice: counted in records_recopied).
//  3. Done. Writes that arrived since start_seq are still in the target's replay backlog (the
//     store never prunes them: they are not applied there); once the sync worker resumes it
//     replays them in WAL order, onto a copy that already holds everything before them. Adds,
//     upserts and deletes by id re-applied onto their own effect leave the same records
//     (wal_store.h MarkAppliedBatch).
//
// Errors: no answer, 5xx or 429 from an instance is retried (kAttempts times, backing off);
// any other refusal, or retries exhausted, fails the resync with a reason. A store error, the
// lease lost, or Stop: Run returns non-OK and leaves the state "running" for the next holder.
#ifndef CHROMA_HA_RESYNC_RESYNC_ENGINE_H_
#define CHROMA_HA_RESYNC_RESYNC_ENGINE_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/instance_client.h"
#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"
#include "resync/resync_record.h"
#include "sync/collection_ids.h"

namespace chroma_ha {

class ResyncEngine {
 public:
  struct Options {
    int page_size = 1000;
    int attempts = 5;                            // per request, on no answer / 5xx / 429
    std::chrono::milliseconds retry_delay{200};  // doubled after each failed attempt
  };
  // The fence to write progress under (the target's replay lease); nullopt when it is no longer
  // held (the run stops, state left "running").
  using FenceFn = std::function<std::optional<Fence>()>;
  // Called after every persisted step, with the progress as stored.
  using ProgressFn = std::function<void(const ResyncRecord&)>;

  // Not owned; must outlive the engine. `ids` may be null (learned target ids are then not
  // recorded).
  ResyncEngine(WalStore& store, InstanceClient& source, InstanceClient& target, CollectionIds* ids,
               Options options, FenceFn fence, const Clock& clock);

  // Runs `p` (state running) to its end: OK with p.state done or failed; non-OK (store error,
  // lease lost, Stop) leaves p running and persisted as of its last step.
  Status Run(ResyncRecord& p, const ProgressFn& on_progress);
  // Makes Run return soon (between requests); thread-safe.
  void Stop() { stopping_ = true; }

 private:
  // An instance call: OK with the parsed body (null for an empty body) on 2xx; `allowed` other
  // statuses return OK with a null body. kUnavailable after the retries, kInvalidArgument on a
  // permanent refusal (message: what, status, error).
  Result<nlohmann::json> Call(InstanceClient& instance, const std::string& method,
                              const std::string& target, const std::string& body,
                              std::initializer_list<int> allowed = {});
  Status Persist(ResyncRecord& p, const ProgressFn& on_progress);
  Status Prepare(ResyncRecord& p);
  Status DropOldBacklog(const ResyncRecord& p, const Fence& fence);
  Status PlanTenant(ResyncRecord& p, const std::string& tenant);
  Status PlanDatabase(ResyncRecord& p, const std::string& tenant, const std::string& db);
  Status PlanCollection(ResyncRecord& p, const ResyncCollection& c);  // p.scope
  Result<std::vector<nlohmann::json>> ListCollections(InstanceClient& instance,
                                                      const std::string& tenant,
                                                      const std::string& db);
  // resync_copy.cc
  Status CopyCollection(ResyncRecord& p, const ProgressFn& on_progress);
  // The target's id of collection `c`, created from `definition` when absent (*created true).
  Result<std::string> EnsureTargetCollection(ResyncRecord& p, const ResyncCollection& c,
                                             const nlohmann::json& definition, bool* created);
  Status RemoveExtraRecords(ResyncRecord& p, const ResyncCollection& c,
                            const std::string& source_id, const std::string& target_id);
  // After the pages: copies the records the source has and the target lacks (a record deleted
  // on the source during the copy shifts the offsets of the pages after it).
  Status CopyMissing(ResyncRecord& p, const ResyncCollection& c, const std::string& source_id,
                     const std::string& target_id);
  // Every id of collection `id` on `instance`, in pages (ids only); empty if it is gone.
  Result<std::vector<std::string>> ListIds(InstanceClient& instance, const ResyncCollection& c,
                                           const std::string& id);
  bool Stopping() const { return stopping_.load(); }
  // An instance answered something unusable: the resync fails with `message`.
  Status Refused(std::string message) {
    instance_failed_ = true;
    return Status::InvalidArgument(std::move(message));
  }

  WalStore& store_;
  InstanceClient& source_;
  InstanceClient& target_;
  CollectionIds* ids_;
  const Options options_;
  const FenceFn fence_;
  const Clock& clock_;
  std::atomic<bool> stopping_{false};
  bool instance_failed_ = false;  // the run ended on an instance's refusal or silence
};

// The upsert body for a get answer's records (fields that are all null are left out); nullopt
// when the answer has no ids array. Exposed for tests.
std::optional<nlohmann::json> UpsertBodyFromGet(const nlohmann::json& got);

}  // namespace chroma_ha

#endif  // CHROMA_HA_RESYNC_RESYNC_ENGINE_H_
