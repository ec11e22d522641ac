// The footprint of a record write: which record ids an add / upsert / update / delete touches,
// read from its JSON body in one pass that also validates it (text/json_scan.h: no document is
// built, no number converted).
// Writes whose ids are disjoint commute, so the Sequencer lets them be forwarded together.
#ifndef CHROMA_HA_SERVER_WRITE_FOOTPRINT_H_
#define CHROMA_HA_SERVER_WRITE_FOOTPRINT_H_

#include <optional>
#include <string_view>

#include "chroma_ha/route.h"
#include "server/sequencer.h"
#include "sync/validated_bodies.h"

namespace chroma_ha {

struct ScannedBody {
  bool valid_json = false;
  // The ids written, or null (the whole collection) when the kind is not a record write by ids,
  // `ids` is missing, empty or holds a non-string, or a delete also has a `where` /
  // `where_document` (it may touch any record).
  Footprint footprint;
  // An add or upsert: where its record columns are (sync/validated_bodies.h), when it is a valid
  // object whose members could all be listed.
  std::optional<BodyLayout> layout;
};

ScannedBody ScanWriteBody(std::string_view body, WriteKind kind);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_WRITE_FOOTPRINT_H_
