// PostgresWalStore, part 3: leases, fences and members (wal_store.h "Leases and fencing"). The
// rules are those of lease_rules.h, run in SQL (postgres_sql.h) on the server's clock, so every
// process sharing the database agrees on when a lease expires.
#include <pqxx/pqxx>

#include "wal/lease_rules.h"
#include "wal/postgres_sql.h"
#include "wal/postgres_store.h"

namespace chroma_ha {
namespace {

std::string Text(const pqxx::field& f) { return std::string(f.c_str(), f.size()); }

Lease ReadLease(const pqxx::row& r) {
  return {Text(r[0]), Text(r[1]), r[2].as<int64_t>(), r[3].as<int64_t>(), r[4].as<int64_t>()};
}

}  // namespace

bool PostgresWalStore::FenceHolds(pqxx::transaction_base& t, const Fence& fence) {
  return !fence.fenced() ||
         !t.exec_prepared(kCheckFence.name, fence.lease, fence.holder, fence.term).empty();
}

Result<Lease> PostgresWalStore::AcquireLease(const std::string& name, const std::string& holder,
                                             int64_t ttl_ms) {
  if (Status s = lease_rules::CheckArgs(name, holder, ttl_ms); !s.ok()) return s;
  Lease out;
  Status s = Run("acquire lease", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kAcquireLease.name, name, holder, ttl_ms);
    out = ReadLease(w.exec_prepared1(kSelectLease.name, name));
    CommitLocked(w);
  });
  if (!s.ok()) return s;
  return out;
}

Result<Lease> PostgresWalStore::RenewLease(const std::string& name, const std::string& holder,
                                           int64_t term, int64_t ttl_ms) {
  if (Status s = lease_rules::CheckArgs(name, holder, ttl_ms); !s.ok()) return s;
  std::optional<Lease> out;
  Status s = Run("renew lease", [&](pqxx::connection_base& c) {
    out.reset();
    pqxx::work w(c);
    const pqxx::result r = w.exec_prepared(kRenewLease.name, name, holder, term, ttl_ms);
    if (r.empty()) return;  // lost: nothing changed (rolled back)
    out = ReadLease(r[0]);
    CommitLocked(w);
  });
  if (!s.ok()) return s;
  if (!out) return lease_rules::Lost(name, holder, term);
  return *out;
}

Status PostgresWalStore::ReleaseLease(const std::string& name, const std::string& holder,
                                      int64_t term) {
  return Run("release lease", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kReleaseLease.name, name, holder, term);
    CommitLocked(w);
  });
}

Result<std::vector<Lease>> PostgresWalStore::ListLeases() {
  std::vector<Lease> out;
  Status s = Run("list leases", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::read_transaction t(c);
    for (const pqxx::row& r : t.exec_prepared(kSelectLeases.name)) out.push_back(ReadLease(r));
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresWalStore::Heartbeat(const std::string& member) {
  if (member.empty()) return Status::InvalidArgument("a member needs an id");
  if (Status s = CheckText("member", member); !s.ok()) return s;
  return Run("heartbeat", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kForgetMembers.name, kMemberForgetMs);
    w.exec_prepared(kHeartbeat.name, member);
    CommitLocked(w);
  });
}

Result<std::vector<Member>> PostgresWalStore::ListMembers() {
  std::vector<Member> out;
  Status s = Run("list members", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::read_transaction t(c);
    for (const pqxx::row& r : t.exec_prepared(kSelectMembers.name, kMemberForgetMs)) {
      out.push_back({Text(r[0]), r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>()});
    }
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace chroma_ha
