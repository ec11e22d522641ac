// Replay coalescing: a run of adds (or of upserts) of one collection is sent to an instance as
// ONE request holding all their records, instead of one request per entry. Chroma pays a fixed
// cost per write request (≈ 50 ms for a one-record add on a loaded 2-core machine, against
// ≈ 1.5 ms per record when 50 come together), so this is what makes a backlog drain quickly.
//
// Equivalence: one add (upsert) request with records r1..rn leaves the same records as the n
// requests in order, provided no id appears twice (a later add of the same id would be ignored,
// a later upsert would win: such an entry ends the group instead) and every entry has the same
// record columns (so the merged arrays stay aligned). Entries of other collections may be
// applied after the group although some come between its entries in the WAL: DESIGN.md §3
// allows reordering across collections, never within one, and never across a tenant or
// database operation or a rename (IsReplayBarrier), at which a group ends.
//
// Thread-safety: none (one object per group). Never throws.
#ifndef CHROMA_HA_SYNC_COALESCE_H_
#define CHROMA_HA_SYNC_COALESCE_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "chroma_ha/wal_store.h"
#include "sync/validated_bodies.h"
#include "text/json_scan.h"

namespace chroma_ha {

// Largest merged body (Chroma accepts up to 40 MiB).
inline constexpr std::size_t kMaxCoalescedBytes = 8u << 20;

// Entries that other collections' entries must not be moved across: tenant and database
// operations (collection "") and collection renames (they change what a name refers to).
bool IsReplayBarrier(const WalEntry& entry);

class WriteCoalescer {
 public:
  // `validated` (optional, outliving this object): layouts of bodies the write path validated,
  // which are then not scanned again (see sync/validated_bodies.h).
  explicit WriteCoalescer(std::size_t max_bytes = kMaxCoalescedBytes,
                          const ValidatedBodies* validated = nullptr);
  ~WriteCoalescer();
  WriteCoalescer(const WriteCoalescer&) = delete;
  WriteCoalescer& operator=(const WriteCoalescer&) = delete;

  // The group keeps views of the entries' bodies: every entry passed to Start and Add must
  // outlive the last Body() (temporaries are refused at compile time).
  //
  // Starts a group with `first`: false (and no group) unless it is an add or upsert whose body
  // is a JSON object of record columns (ids, embeddings, metadatas, documents, uris) with an
  // `ids` array of strings and every other column null or an array as long as `ids`.
  bool Start(const WalEntry& first);
  // Adds `next` to the group: false (nothing added) unless it has the first entry's kind,
  // collection, method and path, the same non-null columns, no id already in the group, and the
  // merged body stays under the size limit. A caller must end the group before a same-collection
  // entry that was refused.
  bool Add(const WalEntry& next);
  bool Start(WalEntry&&) = delete;
  bool Add(WalEntry&&) = delete;

  std::size_t entries() const { return entries_; }
  // The merged request body (a JSON object, columns concatenated in entry order): each entry's
  // arrays are spliced as text, so values keep the spelling the client sent (no number is
  // converted or respelled), and the body means what the parsed and re-serialised merge meant.
  std::string Body() const;

 private:
  struct State;
  bool Columns(const WalEntry& e, std::map<std::string, JsonMember>* out) const;
  bool Accept(const WalEntry& e, bool first);

  const std::size_t max_bytes_;
  const ValidatedBodies* const validated_;
  std::size_t entries_ = 0;
  std::unique_ptr<State> state_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SYNC_COALESCE_H_
