// PostgresWalStore, part 4: resync progress (wal_store.h "Resync", src/resync/). Rare calls:
// plain parameterised statements, not prepared ones.
#include <pqxx/pqxx>

#include "wal/lease_rules.h"
#include "wal/postgres_store.h"
#include "wal/text_check.h"

namespace chroma_ha {
namespace {

constexpr const char* kSelectLastSeq = "SELECT COALESCE(MAX(seq), 0) FROM wal_entries";
constexpr const char* kUpsertResync =
    "INSERT INTO wal_resyncs (instance, state) VALUES ($1, $2) "
    "ON CONFLICT (instance) DO UPDATE SET state = excluded.state";
constexpr const char* kSelectResyncs = "SELECT instance, state FROM wal_resyncs";

}  // namespace

Result<int64_t> PostgresWalStore::LastSeq() {
  int64_t out = 0;
  Status s = Run("last seq", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out = t.exec1(kSelectLastSeq)[0].as<int64_t>();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresWalStore::PutResync(const std::string& instance, const std::string& state,
                                   const Fence& fence) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  if (Status s = CheckText("resync state", state); !s.ok()) return s;
  bool fenced_out = false;
  Status s = Run("put resync", [&](pqxx::connection_base& c) {
    fenced_out = false;
    pqxx::work w(c);
    if (!FenceHolds(w, fence)) {
      fenced_out = true;
      return;
    }
    w.exec_params(kUpsertResync, instance, state);
    CommitLocked(w);
  });
  if (!s.ok()) return s;
  if (fenced_out) return lease_rules::Lost(fence.lease, fence.holder, fence.term);
  return Status::Ok();
}

Result<std::map<std::string, std::string>> PostgresWalStore::LoadResyncs() {
  std::map<std::string, std::string> out;
  Status s = Run("load resyncs", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::read_transaction t(c);
    for (const pqxx::row& r : t.exec(kSelectResyncs))
      out[r[0].as<std::string>()] = r[1].as<std::string>();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace chroma_ha
