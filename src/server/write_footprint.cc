#include "server/write_footprint.h"

#include <string>
#include <vector>

#include "text/json_scan.h"

namespace chroma_ha {
namespace {

bool IsRecordWrite(WriteKind kind) {
  return kind == WriteKind::kAdd || kind == WriteKind::kUpsert || kind == WriteKind::kUpdate ||
         kind == WriteKind::kDelete;
}

// The ids of a validated top-level object: every member "ids" must be an array of strings (their
// ids are collected; a duplicated key's arrays together), and no "where" / "where_document" may
// be non-null. False otherwise (the write may touch any record).
bool ReadIds(const JsonScan& scan, std::vector<std::string>* ids) {
  bool saw_ids = false;
  for (const JsonMember& m : scan.members) {
    if (m.KeyIs("where") || m.KeyIs("where_document")) {
      if (!m.is_null()) return false;
      continue;
    }
    if (!m.KeyIs("ids") || !m.is_array()) continue;
    if (!m.all_strings) return false;
    saw_ids = true;
    for (std::string_view literal : JsonArrayElements(m.value)) {
      ids->push_back(JsonStringValue(literal));
    }
  }
  return saw_ids;
}

}  // namespace

ScannedBody ScanWriteBody(std::string_view body, WriteKind kind) {
  ScannedBody out;
  // Validates without converting a number (an add of 100 × 384 holds ~40,000 of them).
  // The record columns are listed too, for the layout an add or upsert leaves for replay.
  const JsonScan scan = ScanJson(
      body, {"ids", "where", "where_document", "embeddings", "metadatas", "documents", "uris"});
  out.valid_json = scan.valid;
  if (!scan.valid || !scan.object || scan.truncated || !IsRecordWrite(kind)) return out;
  if (kind == WriteKind::kAdd || kind == WriteKind::kUpsert) out.layout = LayoutOf(body, scan);
  std::vector<std::string> ids;
  if (ReadIds(scan, &ids)) out.footprint = MakeFootprint(std::move(ids));
  return out;
}

}  // namespace chroma_ha
