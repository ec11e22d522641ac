// Deletion conversion (DESIGN.md §3, WAL_DELETION_CONVERSION): a "delete" by ids whose entry
// carries the ids' `document_id`s (entry.extra = {"document_ids": {"<id>": "<document_id>"}})
// is replayed as: ids that exist on the target are deleted by id; for ids missing there, their
// documents are deleted by `{"where": {"document_id": {"$in": [...]}}}`. Ids with no
// document_id are skipped. Nothing else is ever deleted. A delete that also has `where` or
// `where_document` is never converted.
//
// This file is the pure part (planning request bodies); the replayer does the I/O.
// Thread-safe; never throws (beyond std::bad_alloc).
#ifndef CHROMA_HA_SYNC_DELETION_CONVERSION_H_
#define CHROMA_HA_SYNC_DELETION_CONVERSION_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace chroma_ha {

struct ConversionPlan {
  std::vector<std::string> ids;                     // the delete's ids, in body order
  std::map<std::string, std::string> document_ids;  // id -> document_id (JSON text of the value)
  std::string body;                                 // the original delete body
};

// A plan when the entry qualifies: `body` is a JSON object with a non-empty string array "ids"
// and no non-null "where"/"where_document", and `extra` holds a "document_ids" object.
// nullopt otherwise (replay the entry as is).
std::optional<ConversionPlan> PlanDeletionConversion(std::string_view body, std::string_view extra);

// Body of the `.../get` that asks the target which ids exist: {"ids": [...], "include": []}.
std::string ExistingIdsQuery(const ConversionPlan& plan);

// The ids in a `.../get` response body ({"ids": [...], ...}); nullopt when it is not one.
std::optional<std::set<std::string>> ParseExistingIds(std::string_view response_body);

// The requests that replay the plan, given the ids that exist on the target.
struct ConvertedDelete {
  std::optional<std::string> by_document_id;  // {"where": {"document_id": {"$in": [...]}}}
  std::optional<std::string> by_id;           // the original body with only existing ids
  bool converted() const { return by_document_id.has_value(); }
};
ConvertedDelete ConvertDelete(const ConversionPlan& plan, const std::set<std::string>& existing);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_DELETION_CONVERSION_H_
