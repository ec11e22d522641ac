// The cheap digest of one collection on one instance, for the anti-entropy checker: the record
// count and a hash over every record's id and contents (embedding as float32 bytes, document,
// metadata, uri), computed page by page as the records are read. The hash is a sum (mod 2^64)
// of per-record hashes, so it does not depend on the order the server pages the records in:
// two instances holding the same records have the same digest whatever their internal order.
// Pure; thread-compatible.
#ifndef CHROMA_HA_VERIFY_DIGEST_H_
#define CHROMA_HA_VERIFY_DIGEST_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "chroma_ha/status.h"
#include "verify/compare.h"

namespace chroma_ha {

struct CollectionDigest {
  int64_t count = 0;
  uint64_t hash = 0;
  bool operator==(const CollectionDigest& o) const { return count == o.count && hash == o.hash; }
  bool operator!=(const CollectionDigest& o) const { return !(*this == o); }
};

// The hash of one record (64-bit FNV-1a over a canonical encoding, then mixed).
uint64_t RecordHash(const std::string& id, const Record& record);

// Adds the records of one parsed `POST .../get` page to `*digest`; kInvalidArgument when the
// page is not a get response (see AddGetPage).
Status AddPageToDigest(const nlohmann::json& page, CollectionDigest* digest);

}  // namespace chroma_ha

#endif  // CHROMA_HA_VERIFY_DIGEST_H_
