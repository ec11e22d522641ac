// SqliteWalStore, part 3: leases, fences and members (wal_store.h "Leases and fencing"). One
// process per file (sqlite_file_lock.h), so the process clock is the one clock: expiry is
// decided with system_clock. The rules themselves are lease_rules.h.
#include <sqlite3.h>

#include <chrono>
#include <optional>

#include "wal/lease_rules.h"
#include "wal/sqlite_statement.h"
#include "wal/sqlite_store.h"

namespace chroma_ha {
namespace {

constexpr const char* kSelectLease =
    "SELECT name, holder, term, expires_ms FROM wal_leases WHERE name = ?";
constexpr const char* kSelectLeases =
    "SELECT name, holder, term, expires_ms FROM wal_leases ORDER BY name";
constexpr const char* kUpsertLease =
    "INSERT INTO wal_leases (name, holder, term, expires_ms) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, term = excluded.term, "
    "expires_ms = excluded.expires_ms";
constexpr const char* kUpsertMember =
    "INSERT INTO wal_members (member, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?2) "
    "ON CONFLICT (member) DO UPDATE SET last_seen_ms = excluded.last_seen_ms";
constexpr const char* kForgetMembers = "DELETE FROM wal_members WHERE last_seen_ms < ?";
constexpr const char* kSelectMembers =
    "SELECT member, first_seen_ms, last_seen_ms FROM wal_members WHERE last_seen_ms >= ? "
    "ORDER BY member";

}  // namespace

int64_t SqliteWalStore::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::optional<Lease>> SqliteWalStore::LeaseLocked(const std::string& name) {
  CHROMA_HA_PREPARE(stmt, kSelectLease);
  const int rc = stmt.Text(name).Step();
  if (rc == SQLITE_DONE) return std::optional<Lease>();
  if (rc != SQLITE_ROW) return ErrorLocked(rc, "read lease");
  return std::optional<Lease>(
      Lease{stmt.ColumnBytes(0), stmt.ColumnBytes(1), stmt.ColumnInt(2), stmt.ColumnInt(3), 0});
}

Status SqliteWalStore::FenceLocked(const Fence& fence) {
  if (!fence.fenced()) return Status::Ok();
  Result<std::optional<Lease>> current = LeaseLocked(fence.lease);
  if (!current.ok()) return current.status();
  return lease_rules::CheckFence(fence, *current, NowMs());
}

Status SqliteWalStore::WriteLeaseLocked(const Lease& l) {
  CHROMA_HA_PREPARE(stmt, kUpsertLease);
  const int rc = stmt.Text(l.name).Text(l.holder).Int(l.term).Int(l.expires_ms).Step();
  return rc == SQLITE_DONE ? Status::Ok() : ErrorLocked(rc, "write lease");
}

Result<Lease> SqliteWalStore::AcquireLease(const std::string& name, const std::string& holder,
                                           int64_t ttl_ms) {
  if (Status s = lease_rules::CheckArgs(name, holder, ttl_ms); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  Result<std::optional<Lease>> current = LeaseLocked(name);
  CHROMA_HA_OR_ROLLBACK(current.status());
  const Lease after = lease_rules::Acquire(*current, name, holder, ttl_ms, NowMs());
  CHROMA_HA_OR_ROLLBACK(WriteLeaseLocked(after));
  CHROMA_HA_COMMIT();
  return after;
}

Result<Lease> SqliteWalStore::RenewLease(const std::string& name, const std::string& holder,
                                         int64_t term, int64_t ttl_ms) {
  if (Status s = lease_rules::CheckArgs(name, holder, ttl_ms); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  Result<std::optional<Lease>> current = LeaseLocked(name);
  CHROMA_HA_OR_ROLLBACK(current.status());
  const int64_t now = NowMs();
  if (!lease_rules::Current(*current, holder, term, now)) {
    CHROMA_HA_OR_ROLLBACK(lease_rules::Lost(name, holder, term));
  }
  Lease after = **current;
  after.expires_ms = now + ttl_ms;
  after.now_ms = now;
  CHROMA_HA_OR_ROLLBACK(WriteLeaseLocked(after));
  CHROMA_HA_COMMIT();
  return after;
}

Status SqliteWalStore::ReleaseLease(const std::string& name, const std::string& holder,
                                    int64_t term) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = BeginLocked(); !s.ok()) return s;
  Result<std::optional<Lease>> current = LeaseLocked(name);
  CHROMA_HA_OR_ROLLBACK(current.status());
  const int64_t now = NowMs();
  if (lease_rules::Current(*current, holder, term, now)) {
    Lease after = **current;
    after.expires_ms = now;
    CHROMA_HA_OR_ROLLBACK(WriteLeaseLocked(after));
  }
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Result<std::vector<Lease>> SqliteWalStore::ListLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  CHROMA_HA_PREPARE(stmt, kSelectLeases);
  const int64_t now = NowMs();
  std::vector<Lease> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    out.push_back(
        {stmt.ColumnBytes(0), stmt.ColumnBytes(1), stmt.ColumnInt(2), stmt.ColumnInt(3), now});
  }
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "list leases");
  return out;
}

Status SqliteWalStore::Heartbeat(const std::string& member) {
  if (member.empty()) return Status::InvalidArgument("a member needs an id");
  if (Status s = CheckText("member", member); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowMs();
  if (Status s = BeginLocked(); !s.ok()) return s;
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kForgetMembers);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Int(now - kMemberForgetMs).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "forget members"));
  }
  {
    Result<sqlite3_stmt*> raw = PrepareLocked(kUpsertMember);
    CHROMA_HA_OR_ROLLBACK(raw.status());
    Stmt stmt(*raw);
    const int rc = stmt.Text(member).Int(now).Step();
    if (rc != SQLITE_DONE) CHROMA_HA_OR_ROLLBACK(ErrorLocked(rc, "heartbeat"));
  }
  CHROMA_HA_COMMIT();
  return Status::Ok();
}

Result<std::vector<Member>> SqliteWalStore::ListMembers() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowMs();
  CHROMA_HA_PREPARE(stmt, kSelectMembers);
  stmt.Int(now - kMemberForgetMs);
  std::vector<Member> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    out.push_back({stmt.ColumnBytes(0), stmt.ColumnInt(1), stmt.ColumnInt(2), now});
  }
  if (rc != SQLITE_DONE) return ErrorLocked(rc, "list members");
  return out;
}

}  // namespace chroma_ha
