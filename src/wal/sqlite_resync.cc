// SqliteWalStore, part 4: resync progress (wal_store.h "Resync", src/resync/).
#include <sqlite3.h>

#include "wal/sqlite_statement.h"
#include "wal/sqlite_store.h"
#include "wal/text_check.h"

namespace chroma_ha {
namespace {

constexpr const char* kSelectLastSeq = "SELECT COALESCE(MAX(seq), 0) FROM wal_entries";
constexpr const char* kUpsertResync =
    "INSERT INTO wal_resyncs (instance, state) VALUES (?1, ?2) "
    "ON CONFLICT (instance) DO UPDATE SET state = excluded.state";
constexpr const char* kSelectResyncs = "SELECT instance, state FROM wal_resyncs";

}  // namespace

Result<int64_t> SqliteWalStore::LastSeq() {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectLastSeq);
  const int rc = stmt.Step();
  if (rc != SQLITE_ROW) return ErrorLocked(rc, "last seq");
  return stmt.ColumnInt(0);
}

Status SqliteWalStore::PutResync(const std::string& instance, const std::string& state,
                                 const Fence& fence) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  if (Status s = CheckText("resync state", state); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  CHROMA_HA_OR_ROLLBACK(FenceLocked(fence));
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kUpsertResync);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Text(instance).Text(state).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "put resync"));
  }
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Result<std::map<std::string, std::string>> SqliteWalStore::LoadResyncs() {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectResyncs);
  std::map<std::string, std::string> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) out[stmt.ColumnBytes(0)] = stmt.ColumnBytes(1);
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "load resyncs");
  return out;
}

}  // namespace chroma_ha
