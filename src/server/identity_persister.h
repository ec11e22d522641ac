// Writes collection identity-map changes (DESIGN.md §4) to the WAL store in the background,
// and keeps each change until the store has taken it: a store that is down or hangs delays the
// write, never loses it (before, a failed write was logged once and dropped, and the map in the
// store silently diverged from the one in memory).
//
// Queue: one pending operation per collection key (tenant, database, name), the latest one
// winning: PutCollection is insert-or-replace and RemoveCollection is idempotent, so only the
// last operation on a key matters and the queue is bounded by the number of distinct keys
// changed while the store is away (at most `max_pending`; past it a change is refused, counted
// as dropped and logged at error level).
//
// Retry: the thread writes the queue; on a store error it waits (exponential from
// `retry_base`, capped at `retry_max`) and tries again, until the store takes it or Stop().
// Every failed call is counted (stats) and logged at warn level.
//
// Thread-safety: every method may be called from any thread; Enqueue never blocks on the store.
// The store must outlive the persister; the destructor calls Stop() (which waits for a store
// call in flight, bounded by the store's own timeouts).
#ifndef CHROMA_HA_SERVER_IDENTITY_PERSISTER_H_
#define CHROMA_HA_SERVER_IDENTITY_PERSISTER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"
#include "collections/collection_map.h"

namespace chroma_ha {

struct IdentityPersistStats {
  int64_t written = 0;                          // operations the store took
  int64_t failures = 0;                         // store calls that failed (each is retried)
  int64_t dropped = 0;                          // changes refused because the queue was full
  int64_t pending = 0;                          // operations waiting now
  std::map<std::string, int64_t> errors_by_op;  // "put_collection" / "remove_collection"
};

class IdentityPersister {
 public:
  struct Options {
    std::size_t max_pending = 100000;
    std::chrono::milliseconds retry_base{100};
    std::chrono::milliseconds retry_max{30000};
  };

  IdentityPersister(WalStore& store, Options options);
  explicit IdentityPersister(WalStore& store) : IdentityPersister(store, Options{}) {}
  ~IdentityPersister();
  IdentityPersister(const IdentityPersister&) = delete;
  IdentityPersister& operator=(const IdentityPersister&) = delete;

  void Start();  // starts the writing thread; no-op when running
  void Stop();   // wakes it, lets it try the queue once more, joins it

  // Queues every operation of `change`. False if some were refused (queue full).
  bool Enqueue(const MapChange& change);
  // Writes queued operations, one at a time, until the queue is empty (OK) or the store fails
  // (that error; the operation stays queued). The thread calls this; tests call it directly.
  Status DrainOnce();

  IdentityPersistStats stats() const;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;
  using Op = std::optional<CollectionIdentity>;  // nullopt: remove the key

  void Loop();

  WalStore& store_;
  const Options options_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable wake_;
  std::map<Key, Op> pending_;
  IdentityPersistStats stats_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_IDENTITY_PERSISTER_H_
