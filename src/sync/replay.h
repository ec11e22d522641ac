// Applies one committed WAL entry to one target instance (DESIGN.md §3 "Replay"): substitutes
// the target's own collection id for "{collection}" (looking it up by name when unknown or
// stale), heals a collection the target lacks by creating it from the origin's definition,
// converts deletes by ids (deletion_conversion.h), sends, and says what the answer means.
// It never touches the WAL store: the sync worker records the outcome.
//
// Thread-safety: Apply may run on several threads at once (the sync worker's lanes, for
// entries of different collections): a Replayer keeps no state of its own between calls, and
// InstanceClient and CollectionIds are thread-safe. The instance clients and the CollectionIds
// must outlive it. Never throws (beyond std::bad_alloc).
#ifndef CHROMA_HA_SYNC_REPLAY_H_
#define CHROMA_HA_SYNC_REPLAY_H_

#include <optional>
#include <string>
#include <vector>

#include "chroma_ha/http_message.h"
#include "chroma_ha/instance_client.h"
#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"
#include "sync/collection_ids.h"

namespace chroma_ha {

struct ReplayOutcome {
  enum Kind {
    kApplied,    // 2xx, or an answer that means "already applied" (409 on create, 404 on delete)
    kTransient,  // no answer, 5xx or 429 (on the entry or on a lookup it needed): retry later
    kPermanent,  // any other answer: block the collection on this instance
  };
  Kind kind = kApplied;
  std::string error;       // kTransient / kPermanent: status and error name, never a body
  bool healed = false;     // the collection was created on the target from the origin's copy
  bool converted = false;  // a delete by ids was (partly) replayed by document_id
};

class Replayer {
 public:
  // `instances` are every instance (to find an entry's origin by name); not owned.
  Replayer(bool deletion_conversion, CollectionIds& ids, std::vector<InstanceClient*> instances);

  ReplayOutcome Apply(const WalEntry& entry, InstanceClient& target);

 private:
  // Where a collection id lookup ended.
  struct Lookup {
    enum Kind { kFound, kAbsent, kTransient, kPermanent } kind = kFound;
    std::string id;           // kFound
    bool from_cache = false;  // kFound: from CollectionIds (may be stale)
    std::string error;        // kTransient / kPermanent
  };

  ReplayOutcome ApplyById(const WalEntry& entry, InstanceClient& target);
  Lookup ResolveId(const WalEntry& entry, InstanceClient& target, bool use_cache);
  Lookup LookupByName(const std::string& tenant, const std::string& database,
                      const std::string& name, InstanceClient& instance);
  Lookup Heal(const WalEntry& entry, InstanceClient& target);
  // Sends the entry with "{collection}" = `id`; for a convertible delete, the converted steps.
  Result<HttpResponse> SendWithId(const WalEntry& entry, InstanceClient& target,
                                  const std::string& id, bool* converted);
  ReplayOutcome Classify(const WalEntry& entry, InstanceClient& target,
                         const Result<HttpResponse>& answer, const std::string& id);
  void LearnFromApplied(const WalEntry& entry, InstanceClient& target, const HttpResponse& response,
                        const std::string& id);
  InstanceClient* FindInstance(const std::string& name) const;

  const bool deletion_conversion_;
  CollectionIds& ids_;
  const std::vector<InstanceClient*> instances_;
};

// Entry kinds whose missing collection is healed: add, upsert, update, delete, modify.
bool IsHealableKind(const std::string& kind);

// True for entries whose applied marks may be batched (WalStore::MarkAppliedBatch): any run of
// them, re-applied in order right after itself, leaves every record as it was. That holds for
// add, upsert and a delete by ids alone (no `where`/`where_document` filter, and no resolved
// document_ids, whose conversion deletes by document_id whatever has it now).
bool IsBatchableReplay(const WalEntry& entry);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_REPLAY_H_
