// What the write path learned about a body it validated and appended to the WAL: where its
// record columns are. Replay coalescing (sync/coalesce.h) splices those columns of many entries
// into one request; for a body this process validated (ScanJson, the whole text) it takes the
// columns from here instead of scanning the body again (≈ 1 ms per 0.8 MB add, issue 14).
//
// Trust is by seq and for the exact bytes: a layout is used only for the entry of the seq it
// was remembered for and a body of the remembered length whose column spans still start and
// end as arrays (or null) do; the `ids` column is always validated again (it is small). A
// body read back from another process's WAL, from an older build or from any writer that did
// not remember it here is validated as before. Were stored bytes changed under a layout, the
// merged request would be refused by the instance, and a refused group is replayed one entry
// at a time (SyncWorker::ReplayGroup): nothing unvalidated is ever merged into a request that
// the instance then accepts with another meaning unless its own single body would have been.
//
// Bounded: the newest kDefaultCapacity seqs (a layout is a few hundred bytes); an evicted seq is
// simply validated again. Thread-safe (the write path remembers on the event loop, the sync
// worker reads on its own thread).
#ifndef CHROMA_HA_SYNC_VALIDATED_BODIES_H_
#define CHROMA_HA_SYNC_VALIDATED_BODIES_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/json_scan.h"

namespace chroma_ha {

// The record columns of a validated top-level JSON object.
struct BodyLayout {
  struct Column {
    std::string key;         // decoded: "ids", "embeddings", "metadatas", "documents", "uris"
    std::size_t offset = 0;  // the value's span in the body
    std::size_t length = 0;
    std::size_t elements = 0;  // an array's element count
  };
  std::size_t size = 0;          // the body's length
  std::size_t member_count = 0;  // all the object's members, columns or not
  std::vector<Column> columns;   // in text order (a repeated key appears twice)
};

// The layout of `body` from a scan of it that listed (at least) every record column: nullopt
// unless the scan found a valid object and listed all the members it was asked for.
std::optional<BodyLayout> LayoutOf(std::string_view body, const JsonScan& scan);

class ValidatedBodies {
 public:
  static constexpr std::size_t kDefaultCapacity = 4096;
  explicit ValidatedBodies(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // `seq`'s body was validated, with this layout. The oldest seq goes past the capacity.
  void Remember(int64_t seq, BodyLayout layout);
  std::optional<BodyLayout> Find(int64_t seq) const;
  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::map<int64_t, BodyLayout> layouts_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_VALIDATED_BODIES_H_
