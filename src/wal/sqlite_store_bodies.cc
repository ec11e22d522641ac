// SqliteWalStore, part 4: where entry bodies go and come from. A body shorter than
// BodyFiles::kMinExternalBytes is a BLOB in `wal_bodies`; a longer one is in the body files
// (wal/sqlite_bodies.h) and its row holds where (schema version 6).
#include <sqlite3.h>

#include <algorithm>

#include "wal/sqlite_bodies.h"
#include "wal/sqlite_statement.h"
#include "wal/sqlite_store.h"

namespace chroma_ha {
namespace {

constexpr const char* kInsertBody = "INSERT INTO wal_bodies (seq, body) VALUES (?, ?)";
constexpr const char* kInsertBodyRef =
    "INSERT INTO wal_bodies (seq, body, file_segment, file_offset, file_length) "
    "VALUES (?, x'', ?, ?, ?)";
constexpr const char* kOldestBodySegment =
    "SELECT MIN(file_segment) FROM wal_bodies WHERE file_segment IS NOT NULL";

}  // namespace

Status SqliteWalStore::InsertBodyLocked(int64_t seq, const std::string& body, bool* external) {
  if (body.size() < BodyFiles::kMinExternalBytes) {
    CHROMA_HA_PREPARE(stmt, kInsertBody);
    const int rc = stmt.Int(seq).Blob(body).Step();
    return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "append");
  }
  Result<BodyRef> ref = bodies_->Append(body);
  if (!ref.ok()) return ref.status();
  *external = true;
  CHROMA_HA_PREPARE(stmt, kInsertBodyRef);
  const int rc = stmt.Int(seq).Int(ref->segment).Int(ref->offset).Int(ref->length).Step();
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "append");
}

Status SqliteWalStore::ReadBodyLocked(int64_t seq, const BodyRef& ref, std::string* body) {
  Status s = bodies_->Read(ref, body);
  if (s.code() != StatusCode::kCorruption) return s;
  return Status::Corruption("body of WAL entry " + std::to_string(seq) + ": " + s.message());
}

Status SqliteWalStore::CommitDroppingBodyFilesLocked() {
  // Which segments rows still refer to, read inside the transaction that deleted rows. The
  // newest is read first: an append of another store on this file (inside its own
  // transaction, so not now) goes to it or to a newer one, never below.
  const int64_t newest = bodies_->Newest();
  int64_t below = newest;
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kOldestBodySegment);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Step();
    if (rc != SQLITE_ROW) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "find unreferenced body files"));
    if (!stmt.ColumnIsNull(0)) below = std::min(newest, stmt.ColumnInt(0));
  }
  CHROMA_HA_COMMIT();
  // A segment that cannot be deleted now is tried again by the next Prune (the error says why).
  Result<int> dropped = bodies_->DropBelow(below);
  return dropped.ok() ? Status::Ok() : dropped.status();
}

}  // namespace chroma_ha
