// PostgresWalStore, part 2: the queries. The connection, schema and migrations are in
// postgres_schema.cc.
#include "wal/postgres_store.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <tuple>
#include <utility>

#include "wal/lease_rules.h"
#include "wal/postgres_sql.h"
#include "wal/text_check.h"

namespace chroma_ha {
namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NotFoundMessage(int64_t seq) { return "no WAL entry with seq " + std::to_string(seq); }

Status NotRegistered(const std::string& instance) {
  return Status::InvalidArgument("instance '" + instance +
                                 "' is not registered with the WAL store");
}

// A PostgreSQL array literal of bigints, e.g. "{1,2,3}".
std::string BigintArray(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}

std::string Bytes(const pqxx::field& f) { return std::string(f.c_str(), f.size()); }

WalEntry ReadEntry(const pqxx::row& r) {
  WalEntry e;
  e.seq = r[0].as<int64_t>();
  e.created_ms = r[1].as<int64_t>();
  e.tenant = Bytes(r[2]);
  e.database = Bytes(r[3]);
  e.collection = Bytes(r[4]);
  e.kind = Bytes(r[5]);
  e.method = Bytes(r[6]);
  e.path = Bytes(r[7]);
  e.body = pqxx::binarystring(r[8]).str();
  e.state = static_cast<EntryState>(r[9].as<int>());
  e.origin = Bytes(r[10]);
  e.attempts = r[11].as<int>();
  e.last_error = Bytes(r[12]);
  e.extra = Bytes(r[13]);
  e.writer = Bytes(r[14]);
  return e;
}

std::vector<WalEntry> ReadEntries(const pqxx::result& result) {
  std::vector<WalEntry> out;
  out.reserve(result.size());
  for (const pqxx::row& r : result) out.push_back(ReadEntry(r));
  return out;
}

}  // namespace

Status PostgresWalStore::Append(std::vector<WalEntry>* entries) {
  if (Status s = CheckEntries(*entries); !s.ok()) return s;
  if (entries->empty()) return Status::Ok();
  const int64_t now = NowMillis();
  std::vector<int64_t> seqs;
  Status s = Run("append", [&](pqxx::connection_base& c) {
    seqs.clear();
    pqxx::work w(c);
    w.exec_prepared(kLockAppends.name, kAppendLockKey, kInstancesLockKey);
    for (const WalEntry& e : *entries) {
      const pqxx::row r =
          w.exec_prepared1(kInsertEntry.name, e.created_ms != 0 ? e.created_ms : now, e.tenant,
                           e.database, e.collection, e.kind, e.method, e.path,
                           pqxx::binarystring(e.body), static_cast<int>(e.state), e.origin,
                           e.attempts, SanitizeText(e.last_error), e.extra, e.writer);
      seqs.push_back(r[0].as<int64_t>());
      if (e.state == EntryState::kCommitted && !e.origin.empty()) {
        w.exec_prepared(kInsertApplied.name, seqs.back(), e.origin);
      }
      if (e.state == EntryState::kCommitted) {
        w.exec_prepared(kInsertTodo.name, seqs.back(), e.origin);
      }
    }
    CommitLocked(w);
  });
  if (s.code() == StatusCode::kTimeout) {  // in doubt: report the seqs the commit would keep
    const bool all = seqs.size() == entries->size();
    for (size_t i = 0; i < entries->size(); ++i) (*entries)[i].seq = all ? seqs[i] : 0;
  }
  if (!s.ok()) return s;
  for (size_t i = 0; i < entries->size(); ++i) {
    WalEntry& e = (*entries)[i];
    e.seq = seqs[i];
    if (e.created_ms == 0) e.created_ms = now;
    e.last_error = SanitizeText(e.last_error);
  }
  return Status::Ok();
}

Status PostgresWalStore::SetOutcome(int64_t seq, EntryState state, const std::string& origin,
                                    int attempts, const std::string& last_error, const Fence& fence,
                                    bool* written) {
  if (Status s = CheckText("origin", origin); !s.ok()) return s;
  int64_t updated = 0;
  bool fenced = false;
  bool pending = true;
  Status s = Run("set outcome", [&](pqxx::connection_base& c) {
    pending = true;  // (the lambda may run again on a new connection)
    pqxx::work w(c);
    if ((fenced = !FenceHolds(w, fence))) return;  // rolled back
    w.exec_prepared(kLockCommits.name, kInstancesLockKey);  // first, as every outcome takes it
    if (written != nullptr) {  // only while still pending: the row stays locked until the commit
      const pqxx::result r = w.exec_prepared(kLockEntryState.name, seq);
      if (r.empty()) return;  // updated == 0: not found
      if (!(pending = r[0][0].as<int>() == static_cast<int>(EntryState::kPending))) return;
    }
    updated = w.exec_prepared1(kSetOutcome.name, static_cast<int>(state), origin, attempts,
                               SanitizeText(last_error), seq)[0]
                  .as<int64_t>();
    CommitLocked(w);
  });
  if (!s.ok()) return s;
  if (fenced) return lease_rules::Lost(fence.lease, fence.holder, fence.term);
  if (written != nullptr) *written = pending && updated != 0;
  if (!pending) return Status::Ok();
  return updated == 0 ? Status::NotFound(NotFoundMessage(seq)) : Status::Ok();
}

Status PostgresWalStore::SetExtra(int64_t seq, const std::string& extra) {
  if (Status s = CheckText("extra", extra); !s.ok()) return s;
  int64_t updated = 0;
  Status s = Run("set extra", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    updated = w.exec_prepared(kSetExtra.name, extra, seq).affected_rows();
    CommitLocked(w);
  });
  if (!s.ok()) return s;
  return updated == 0 ? Status::NotFound(NotFoundMessage(seq)) : Status::Ok();
}

Status PostgresWalStore::MarkApplied(int64_t seq, const std::string& instance,
                                     bool* was_pending, const Fence& fence) {
  int64_t removed = 0;
  const Status s = MarkAppliedImpl({seq}, instance, &removed, fence);
  if (s.ok() && was_pending != nullptr) *was_pending = removed > 0;
  return s;
}

Status PostgresWalStore::MarkAppliedBatch(const std::vector<int64_t>& seqs,
                                          const std::string& instance, const Fence& fence) {
  int64_t removed = 0;
  return MarkAppliedImpl(seqs, instance, &removed, fence);
}

Status PostgresWalStore::MarkAppliedImpl(const std::vector<int64_t>& seqs,
                                         const std::string& instance, int64_t* todo_removed,
                                         const Fence& fence) {
  if (Status s = CheckText("instance", instance); !s.ok()) return s;
  if (seqs.empty()) return Status::Ok();
  std::vector<int64_t> distinct = seqs;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  int64_t found = 0;
  int64_t removed = 0;
  bool fenced = false;
  Status s = Run("mark applied", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    if ((fenced = !FenceHolds(w, fence))) return;  // rolled back
    const pqxx::row r = w.exec_prepared1(kMarkApplied.name, BigintArray(distinct), instance);
    found = r[0].as<int64_t>();
    removed = r[1].as<int64_t>();
    if (found == static_cast<int64_t>(distinct.size())) CommitLocked(w);  // else: rolled back
  });
  if (!s.ok()) return s;
  if (fenced) return lease_rules::Lost(fence.lease, fence.holder, fence.term);
  if (found != static_cast<int64_t>(distinct.size())) {
    return Status::NotFound("a WAL entry of seqs " + BigintArray(distinct) + " does not exist");
  }
  *todo_removed = removed;
  return Status::Ok();
}

Result<std::vector<WalEntry>> PostgresWalStore::PendingFor(const std::string& instance,
                                                           int64_t after_seq, int limit) {
  if (!Registered(instance)) return NotRegistered(instance);
  std::vector<WalEntry> out;
  if (limit <= 0) return out;
  Status s = Run("pending for", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out = ReadEntries(t.exec_prepared(kSelectPendingFor.name, instance, after_seq, limit));
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<WalEntry>> PostgresWalStore::Unresolved() {
  std::vector<WalEntry> out;
  Status s = Run("unresolved", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out = ReadEntries(t.exec_prepared(kSelectUnresolved.name));
  });
  if (!s.ok()) return s;
  return out;
}

Result<int64_t> PostgresWalStore::ResolvedAfter(const WalEntry& entry) {
  int64_t seq = 0;
  Status s = Run("resolved after", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    seq = t.exec_prepared1(kSelectResolvedAfter.name, entry.seq, entry.tenant, entry.database,
                           entry.collection)[0]
              .as<int64_t>();
  });
  if (!s.ok()) return s;
  return seq;
}

Result<std::vector<std::string>> PostgresWalStore::InstancesBehind(const std::string& tenant,
                                                                   const std::string& database,
                                                                   const std::string& collection,
                                                                   int64_t up_to) {
  std::vector<std::string> out;
  Status s = Run("instances behind", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out.clear();
    for (const auto& row :
         t.exec_prepared(kSelectInstancesBehind.name, up_to, tenant, database, collection)) {
      out.push_back(row[0].as<std::string>());
    }
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<int64_t>> PostgresWalStore::PendingBefore(const std::string& tenant,
                                                             const std::string& database,
                                                             const std::string& collection,
                                                             int64_t before) {
  std::vector<int64_t> out;
  Status s = Run("pending before", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out.clear();
    for (const auto& row :
         t.exec_prepared(kSelectPendingBefore.name, before, tenant, database, collection)) {
      out.push_back(row[0].as<int64_t>());
    }
  });
  if (!s.ok()) return s;
  return out;
}

Result<WalEntry> PostgresWalStore::Get(int64_t seq) {
  std::vector<WalEntry> out;
  Status s = Run("get", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    out = ReadEntries(t.exec_prepared(kSelectEntry.name, seq));
  });
  if (!s.ok()) return s;
  if (out.empty()) return Status::NotFound(NotFoundMessage(seq));
  return std::move(out.front());
}

Result<std::vector<InstanceBacklog>> PostgresWalStore::Backlog(
    const std::vector<std::string>& instances) {
  for (const std::string& instance : instances) {
    if (!Registered(instance)) return NotRegistered(instance);
  }
  std::vector<InstanceBacklog> out;
  Status s = Run("backlog", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::read_transaction t(c);
    for (const std::string& instance : instances) {
      const pqxx::row r = t.exec_prepared1(kSelectBacklog.name, instance);
      out.push_back({instance, r[0].as<int64_t>(), r[1].as<int64_t>()});
    }
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::map<EntryState, int64_t>> PostgresWalStore::CountByState() {
  std::map<EntryState, int64_t> out = {
      {EntryState::kPending, 0}, {EntryState::kCommitted, 0}, {EntryState::kRejected, 0}};
  Status s = Run("count by state", [&](pqxx::connection_base& c) {
    pqxx::read_transaction t(c);
    for (const pqxx::row& r : t.exec_prepared(kCountByState.name)) {
      out[static_cast<EntryState>(r[0].as<int>())] = r[1].as<int64_t>();
    }
  });
  if (!s.ok()) return s;
  return out;
}

Result<int64_t> PostgresWalStore::Prune(int64_t before_ms,
                                        const std::vector<std::string>& instances,
                                        const Fence& fence) {
  int64_t pruned = 0;
  bool fenced = false;
  Status s = Run("prune", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    if ((fenced = !FenceHolds(w, fence))) return;  // rolled back
    pruned = w.exec_prepared(kPrune.name, before_ms, JsonStringArray(instances)).affected_rows();
    CommitLocked(w);
  });
  if (!s.ok()) return s;
  if (fenced) return lease_rules::Lost(fence.lease, fence.holder, fence.term);
  return pruned;
}

Status PostgresWalStore::PutCollection(const CollectionIdentity& c) {
  if (Status s = CheckIdentity(c); !s.ok()) return s;
  return Run("put collection", [&](pqxx::connection_base& conn) {
    pqxx::work w(conn);
    w.exec_prepared(kDeleteCollection.name, c.tenant, c.database, c.name);  // cascades to ids
    w.exec_prepared(kInsertCollection.name, c.tenant, c.database, c.name, c.canonical_id);
    for (const auto& [instance, id] : c.ids) {
      w.exec_prepared(kInsertCollectionId.name, c.tenant, c.database, c.name, instance, id);
    }
    CommitLocked(w);
  });
}

Status PostgresWalStore::RemoveCollection(const std::string& tenant, const std::string& database,
                                          const std::string& name) {
  return Run("remove collection", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec_prepared(kDeleteCollection.name, tenant, database, name);
    CommitLocked(w);
  });
}

Result<std::vector<CollectionIdentity>> PostgresWalStore::LoadCollections() {
  std::vector<CollectionIdentity> out;
  Status s = Run("load collections", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> t(c);
    std::map<std::tuple<std::string, std::string, std::string>, size_t> index;
    for (const pqxx::row& r : t.exec_prepared(kSelectCollections.name)) {
      CollectionIdentity ci;
      ci.tenant = Bytes(r[0]);
      ci.database = Bytes(r[1]);
      ci.name = Bytes(r[2]);
      ci.canonical_id = Bytes(r[3]);
      index[{ci.tenant, ci.database, ci.name}] = out.size();
      out.push_back(std::move(ci));
    }
    for (const pqxx::row& r : t.exec_prepared(kSelectCollectionIds.name)) {
      auto it = index.find({Bytes(r[0]), Bytes(r[1]), Bytes(r[2])});
      if (it != index.end()) out[it->second].ids[Bytes(r[3])] = Bytes(r[4]);
    }
  });
  if (!s.ok()) return s;
  return out;
}

Result<CollectionIdentity> PostgresWalStore::MergeCollection(const CollectionIdentity& seen) {
  CollectionIdentity proposal = seen;
  if (proposal.canonical_id.empty() && !proposal.ids.empty()) {
    proposal.canonical_id = proposal.ids.begin()->second;
  }
  if (Status s = CheckIdentity(proposal); !s.ok()) return s;
  CollectionIdentity out;
  Status s = Run("merge collection", [&](pqxx::connection_base& conn) {
    out = CollectionIdentity{seen.tenant, seen.database, seen.name, "", {}};
    pqxx::work w(conn);
    // Insert-if-absent, then the seen ids over the stored ones: a concurrent first insert of
    // the same key makes this one wait on the key and then do nothing, so both read its
    // canonical id below.
    w.exec_prepared(kInsertCollectionIfAbsent.name, seen.tenant, seen.database, seen.name,
                    proposal.canonical_id);
    for (const auto& [instance, id] : seen.ids) {
      w.exec_prepared(kUpsertCollectionId.name, seen.tenant, seen.database, seen.name, instance,
                      id);
    }
    const pqxx::result row =
        w.exec_prepared(kSelectCollection.name, seen.tenant, seen.database, seen.name);
    if (!row.empty()) out.canonical_id = Bytes(row[0][0]);
    for (const pqxx::row& r :
         w.exec_prepared(kSelectIdsOfCollection.name, seen.tenant, seen.database, seen.name)) {
      out.ids[Bytes(r[0])] = Bytes(r[1]);
    }
    CommitLocked(w);
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::optional<CollectionIdentity>> PostgresWalStore::FindCollection(
    const std::string& tenant, const std::string& database, const std::string& id) {
  std::optional<CollectionIdentity> out;
  Status s = Run("find collection", [&](pqxx::connection_base& conn) {
    out.reset();
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> t(conn);
    const pqxx::result named = t.exec_prepared(kFindCollectionById.name, tenant, database, id);
    if (named.empty()) return;
    CollectionIdentity c{tenant, database, Bytes(named[0][0]), "", {}};
    const pqxx::result row = t.exec_prepared(kSelectCollection.name, tenant, database, c.name);
    if (!row.empty()) c.canonical_id = Bytes(row[0][0]);
    for (const pqxx::row& r : t.exec_prepared(kSelectIdsOfCollection.name, tenant, database,
                                              c.name)) {
      c.ids[Bytes(r[0])] = Bytes(r[1]);
    }
    out = std::move(c);
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresWalStore::Block(const BlockedCollection& b, const Fence& fence) {
  if (Status s = CheckBlocked(b); !s.ok()) return s;
  bool fenced = false;
  Status s = Run("block", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    if ((fenced = !FenceHolds(w, fence))) return;  // rolled back
    w.exec_prepared(kUpsertBlocked.name, b.instance, b.tenant, b.database, b.collection, b.seq,
                    b.since_ms, SanitizeText(b.error));
    CommitLocked(w);
  });
  if (s.ok() && fenced) return lease_rules::Lost(fence.lease, fence.holder, fence.term);
  return s;
}

Status PostgresWalStore::Unblock(const std::string& instance, const std::string& tenant,
                                 const std::string& database, const std::string& collection,
                                 const Fence& fence) {
  bool fenced = false;
  Status s = Run("unblock", [&](pqxx::connection_base& c) {
    pqxx::work w(c);
    if ((fenced = !FenceHolds(w, fence))) return;  // rolled back
    w.exec_prepared(kDeleteBlocked.name, instance, tenant, database, collection);
    CommitLocked(w);
  });
  if (s.ok() && fenced) return lease_rules::Lost(fence.lease, fence.holder, fence.term);
  return s;
}

Result<std::vector<BlockedCollection>> PostgresWalStore::ListBlocked() {
  std::vector<BlockedCollection> out;
  Status s = Run("list blocked", [&](pqxx::connection_base& c) {
    out.clear();
    pqxx::read_transaction t(c);
    for (const pqxx::row& r : t.exec_prepared(kSelectBlocked.name)) {
      out.push_back({Bytes(r[0]), Bytes(r[1]), Bytes(r[2]), Bytes(r[3]), r[4].as<int64_t>(),
                     r[5].as<int64_t>(), Bytes(r[6])});
    }
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresWalStore::Clear() {
  return Run("clear", [this](pqxx::connection_base& c) {
    pqxx::work w(c);
    w.exec(kClear);
    CommitLocked(w);
  });
}

}  // namespace chroma_ha

