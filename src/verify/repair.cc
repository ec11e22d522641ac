#include "verify/repair.h"

#include <map>
#include <optional>
#include <set>

namespace chroma_ha {
namespace {

using json = nlohmann::json;

std::map<std::string, json> ByName(const std::vector<json>& objects) {
  std::map<std::string, json> out;
  for (const json& o : objects) {
    if (o.is_object() && o.contains("name") && o["name"].is_string()) out[o["name"]] = o;
  }
  return out;
}

// Chroma answers null or {} for "no metadata"; both alike.
json Metadata(const json& collection) {
  auto it = collection.find("metadata");
  if (it == collection.end() || it->is_null() || (it->is_object() && it->empty())) return nullptr;
  return *it;
}

Result<std::string> IdOf(const json& collection, const std::string& where) {
  auto it = collection.find("id");
  if (it == collection.end() || !it->is_string()) {
    return Status::Internal("collection " + where + " has no id");
  }
  return it->get<std::string>();
}

bool SameRecord(const Record& a, const Record& b) {
  return Float32Equal(a.embedding, b.embedding) && a.document == b.document &&
         a.metadata == b.metadata && a.uri == b.uri;
}

// Calls `write` with consecutive batches of at most `size` ids.
Status InBatches(const std::vector<std::string>& ids, int size,
                 const std::function<Status(const std::vector<std::string>&)>& write) {
  for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(size)) {
    std::vector<std::string> batch(
        ids.begin() + static_cast<std::ptrdiff_t>(i),
        ids.begin() +
            static_cast<std::ptrdiff_t>(std::min(ids.size(), i + static_cast<std::size_t>(size))));
    if (auto s = write(batch); !s.ok()) return s;
  }
  return Status::Ok();
}

// The records of one collection present on both sides (`xs` on source, `xt` on target).
Status RepairRecords(ChromaApi& source, ChromaApi& target, const std::string& tenant,
                     const std::string& database, const std::string& source_id,
                     const std::string& target_id, int page_size, CollectionRepair* out) {
  auto rs = source.Records(tenant, database, source_id, page_size);
  if (!rs.ok()) return rs.status();
  auto rt = target.Records(tenant, database, target_id, page_size);
  if (!rt.ok()) return rt.status();
  std::vector<std::string> to_delete, to_add;
  for (const auto& [id, record] : *rt) {
    auto it = rs->find(id);
    if (it == rs->end()) {
      to_delete.push_back(id);
      ++out->removed;
    } else if (!SameRecord(it->second, record)) {
      to_delete.push_back(id);
      to_add.push_back(id);
      ++out->replaced;
    }
  }
  for (const auto& [id, record] : *rs) {
    if (!rt->count(id)) {
      to_add.push_back(id);
      ++out->added;
    }
  }
  if (auto s = InBatches(to_delete, page_size,
                         [&](const std::vector<std::string>& batch) {
                           return target.DeleteRecords(tenant, database, target_id, batch);
                         });
      !s.ok()) {
    return s;
  }
  return InBatches(to_add, page_size, [&](const std::vector<std::string>& batch) {
    return target.AddRecords(tenant, database, target_id, batch, *rs);
  });
}

// One collection, given what each side's listing held for its name.
Status RepairListed(ChromaApi& source, ChromaApi& target, const std::string& tenant,
                    const std::string& database, const std::string& name,
                    const std::optional<json>& xs, std::optional<json> xt, int page_size,
                    CollectionRepair* out) {
  out->where = tenant + "/" + database + "/" + name;
  if (!xs) {
    if (!xt) return Status::Ok();
    if (auto s = target.DeleteCollection(tenant, database, name); !s.ok()) return s;
    out->deleted = true;
    return Status::Ok();
  }
  if (!xt) {
    auto created = target.CreateCollection(tenant, database, name, *xs);
    if (!created.ok()) return created.status();
    xt = *created;
    out->created = true;
  } else if (Metadata(*xs) != Metadata(*xt)) {
    auto id = IdOf(*xt, out->where);
    if (!id.ok()) return id.status();
    if (auto s = target.SetCollectionMetadata(tenant, database, *id, Metadata(*xs)); !s.ok()) {
      return s;
    }
    out->metadata_set = true;
  }
  auto source_id = IdOf(*xs, out->where);
  if (!source_id.ok()) return source_id.status();
  auto target_id = IdOf(*xt, out->where);
  if (!target_id.ok()) return target_id.status();
  return RepairRecords(source, target, tenant, database, *source_id, *target_id, page_size, out);
}

std::optional<json> Find(const std::map<std::string, json>& m, const std::string& name) {
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

Status RepairDatabase(ChromaApi& source, ChromaApi& target, const std::string& tenant,
                      const std::string& database, int page_size, RepairReport* out) {
  auto ls = source.Collections(tenant, database, page_size);
  if (!ls.ok()) return ls.status();
  auto lt = target.Collections(tenant, database, page_size);
  if (!lt.ok()) return lt.status();
  auto cs = ByName(*ls), ct = ByName(*lt);
  std::set<std::string> names;
  for (const auto& [n, c] : cs) names.insert(n);
  for (const auto& [n, c] : ct) names.insert(n);
  for (const std::string& name : names) {
    CollectionRepair r;
    Status s = RepairListed(source, target, tenant, database, name, Find(cs, name), Find(ct, name),
                            page_size, &r);
    if (r.changed()) out->collections.push_back(r);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

std::set<std::string> Names(const std::vector<json>& objects) {
  std::set<std::string> out;
  for (const auto& [name, o] : ByName(objects)) out.insert(name);
  return out;
}

Status RepairTenant(ChromaApi& source, ChromaApi& target, const std::string& tenant, int page_size,
                    RepairReport* out) {
  auto es = source.TenantExists(tenant);
  if (!es.ok()) return es.status();
  auto et = target.TenantExists(tenant);
  if (!et.ok()) return et.status();
  if (!*es) {
    if (*et)
      out->notes.push_back("tenant " + tenant + " only on " + target.label() +
                           " (Chroma cannot delete tenants)");
    return Status::Ok();
  }
  if (!*et) {
    if (auto s = target.CreateTenant(tenant); !s.ok()) return s;
    out->created_tenants.push_back(tenant);
  }
  auto ds = source.Databases(tenant, page_size);
  if (!ds.ok()) return ds.status();
  auto dt = target.Databases(tenant, page_size);
  if (!dt.ok()) return dt.status();
  const auto ns = Names(*ds), nt = Names(*dt);
  for (const std::string& d : nt) {
    if (ns.count(d)) continue;
    if (auto s = target.DeleteDatabase(tenant, d); !s.ok()) return s;
    out->deleted_databases.push_back(tenant + "/" + d);
  }
  for (const std::string& d : ns) {
    if (!nt.count(d)) {
      if (auto s = target.CreateDatabase(tenant, d); !s.ok()) return s;
      out->created_databases.push_back(tenant + "/" + d);
    }
    if (auto s = RepairDatabase(source, target, tenant, d, page_size, out); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

int64_t RepairReport::records_changed() const {
  int64_t n = 0;
  for (const auto& c : collections) n += c.added + c.removed + c.replaced;
  return n;
}

Status RepairCollection(ChromaApi& source, ChromaApi& target, const std::string& tenant,
                        const std::string& database, const std::string& name, int page_size,
                        CollectionRepair* out) {
  auto ls = source.Collections(tenant, database, page_size);
  if (!ls.ok()) return ls.status();
  auto xs = Find(ByName(*ls), name);
  if (xs) {
    if (auto s = EnsureDatabase(target, tenant, database); !s.ok()) return s;
  }
  auto lt = target.Collections(tenant, database, page_size);
  if (!lt.ok()) {
    // No database there: nothing to delete when the source has no such collection either.
    if (!xs) return Status::Ok();
    return lt.status();
  }
  return RepairListed(source, target, tenant, database, name, xs, Find(ByName(*lt), name),
                      page_size, out);
}

Status EnsureDatabase(ChromaApi& target, const std::string& tenant, const std::string& database) {
  auto exists = target.TenantExists(tenant);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    if (auto s = target.CreateTenant(tenant); !s.ok()) return s;
  }
  auto databases = target.Databases(tenant, 1000);
  if (!databases.ok()) return databases.status();
  if (Names(*databases).count(database)) return Status::Ok();
  return target.CreateDatabase(tenant, database);
}

CollectionRepairer MakeCollectionRepairer(std::vector<InstanceClient*> instances, int page_size) {
  return [instances = std::move(instances), page_size](
             const std::string& instance, const std::string& tenant, const std::string& database,
             const std::string& collection) -> Status {
    for (std::size_t i = 1; i < instances.size(); ++i) {
      if (instances[i]->name() != instance) continue;
      ChromaApi source(instances[0]->name(), *instances[0]);
      ChromaApi target(instances[i]->name(), *instances[i]);
      CollectionRepair report;
      return RepairCollection(source, target, tenant, database, collection, page_size, &report);
    }
    return Status::NotFound("no instance named " + instance + " to repair");
  };
}

Status RepairInstance(ChromaApi& source, ChromaApi& target, const std::vector<std::string>& tenants,
                      int page_size, RepairReport* out) {
  out->target = target.label();
  for (const std::string& tenant : tenants) {
    if (auto s = RepairTenant(source, target, tenant, page_size, out); !s.ok()) return s;
  }
  return Status::Ok();
}

std::vector<std::string> DescribeRepair(const RepairReport& report) {
  std::vector<std::string> lines;
  const std::string on = " on " + report.target;
  for (const auto& t : report.created_tenants) lines.push_back("created tenant " + t + on);
  for (const auto& d : report.created_databases) lines.push_back("created database " + d + on);
  for (const auto& d : report.deleted_databases) lines.push_back("deleted database " + d + on);
  for (const auto& c : report.collections) {
    std::string line = report.target + ": " + c.where + ":";
    if (c.deleted) {
      lines.push_back(line + " collection deleted");
      continue;
    }
    std::vector<std::string> parts;
    if (c.created) parts.push_back("collection created");
    if (c.metadata_set) parts.push_back("metadata set");
    parts.push_back(std::to_string(c.added) + " added");
    parts.push_back(std::to_string(c.removed) + " removed");
    parts.push_back(std::to_string(c.replaced) + " replaced");
    for (std::size_t i = 0; i < parts.size(); ++i) line += (i ? ", " : " ") + parts[i];
    lines.push_back(line);
  }
  for (const auto& n : report.notes) lines.push_back("not repaired: " + n);
  return lines;
}

}  // namespace chroma_ha
