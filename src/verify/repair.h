// `chroma-ha verify --repair`: makes a target instance equal to a source instance, through the
// Chroma API of both (blocking; on the caller's thread, never on the event loop).
//
// What changes on the target:
//   - a tenant or database missing there is created; a database only there is deleted (Chroma
//     cannot delete tenants: a tenant only on the target is left and reported as a difference);
//   - a collection missing there is created with the source's metadata and configuration, one
//     only there is deleted, one whose metadata differs gets the source's metadata;
//   - records missing there are added, records only there are deleted, records that differ in
//     any field are deleted and added again (Chroma's upsert merges metadata keys, so an upsert
//     could leave a key the source does not have).
// Records are read whole for the collection (as `verify` does) and written in batches of
// `page_size`. Concurrent writes through chroma-ha may race a repair; callers that run while
// chroma-ha serves (the anti-entropy checker) repair only collections with no WAL entry pending.
#ifndef CHROMA_HA_VERIFY_REPAIR_H_
#define CHROMA_HA_VERIFY_REPAIR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "chroma_ha/status.h"
#include "verify/chroma_reader.h"

namespace chroma_ha {

// What a repair changed in one collection (tenant/database/name) of the target.
struct CollectionRepair {
  std::string where;
  bool created = false;       // the collection was missing and was created
  bool deleted = false;       // the collection existed only on the target and was deleted
  bool metadata_set = false;  // its metadata was replaced by the source's
  int64_t added = 0;          // records missing on the target
  int64_t removed = 0;        // records only on the target
  int64_t replaced = 0;       // records that differed
  bool changed() const {
    return created || deleted || metadata_set || added || removed || replaced;
  }
};

struct RepairReport {
  std::string target;
  std::vector<std::string> created_tenants, created_databases, deleted_databases;
  std::vector<std::string> notes;             // differences repair cannot fix (e.g. a tenant)
  std::vector<CollectionRepair> collections;  // only those that changed
  int64_t records_changed() const;
};

// Makes collection tenant/database/name on `target` equal to the one on `source` (created,
// deleted or its records fixed). The tenant and database must exist on the target when the
// collection exists on the source. `*out` says what changed (also on error: what was done).
Status RepairCollection(ChromaApi& source, ChromaApi& target, const std::string& tenant,
                        const std::string& database, const std::string& name, int page_size,
                        CollectionRepair* out);

// Creates tenant and database on `target` where missing.
Status EnsureDatabase(ChromaApi& target, const std::string& tenant, const std::string& database);

// The anti-entropy checker's repair (AntiEntropyChecker::Repair): RepairCollection from
// `instances[0]` to the instance named `instance`, tenant and database created where missing.
// The clients are not owned and must outlive the function. kNotFound for an unknown instance.
using CollectionRepairer =
    std::function<Status(const std::string& instance, const std::string& tenant,
                         const std::string& database, const std::string& collection)>;
CollectionRepairer MakeCollectionRepairer(std::vector<InstanceClient*> instances, int page_size);

// Everything of `tenants` on `target` made equal to `source`.
Status RepairInstance(ChromaApi& source, ChromaApi& target, const std::vector<std::string>& tenants,
                      int page_size, RepairReport* out);

// Human-readable lines of a report ("repaired replica: default_tenant/default_database/c:
// created, 3 added, 1 removed, 2 replaced").
std::vector<std::string> DescribeRepair(const RepairReport& report);

}  // namespace chroma_ha

#endif  // CHROMA_HA_VERIFY_REPAIR_H_
