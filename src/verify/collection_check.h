// One collection on two instances, cheap first: the metadata and configuration, then the
// digests (verify/digest.h) read page by page; the full record comparison only when the
// digests differ. Blocking (HTTP through ChromaApi); used by the anti-entropy checker.
#ifndef CHROMA_HA_VERIFY_COLLECTION_CHECK_H_
#define CHROMA_HA_VERIFY_COLLECTION_CHECK_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "chroma_ha/status.h"
#include "verify/chroma_reader.h"
#include "verify/compare.h"
#include "verify/digest.h"

namespace chroma_ha {

struct CollectionCheck {
  bool digest_mismatch = false;  // counts/hashes differed (a full comparison was made)
  Differences differences{5};    // empty: the collection is the same on both
};

// Digest of collection `id` on `api`.
Result<CollectionDigest> ReadDigest(ChromaApi& api, const std::string& tenant,
                                    const std::string& database, const std::string& id,
                                    int page_size);

// `a` and `b` are the collection objects of the two listings (nullopt: absent on that side).
Result<CollectionCheck> CheckCollection(ChromaApi& a, ChromaApi& b, const std::string& tenant,
                                        const std::string& database, const std::string& name,
                                        const std::optional<nlohmann::json>& xa,
                                        const std::optional<nlohmann::json>& xb, int page_size);

}  // namespace chroma_ha

#endif  // CHROMA_HA_VERIFY_COLLECTION_CHECK_H_
