#include "resync/resync_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

#include "sync/chroma_api.h"

namespace chroma_ha {
namespace {

using nlohmann::json;

constexpr int kListPage = 100;   // collections per list request
constexpr int kTodoPage = 1000;  // backlog entries per PendingFor

std::string TenantPath(const std::string& tenant) {
  return "/api/v2/tenants/" + EncodePathSegment(tenant);
}

std::string DatabasesPath(const std::string& tenant) { return TenantPath(tenant) + "/databases"; }

std::set<std::string> Names(const std::vector<json>& objects) {
  std::set<std::string> out;
  for (const json& o : objects) {
    if (o.is_object() && o.value("name", json()).is_string())
      out.insert(o["name"].get<std::string>());
  }
  return out;
}

}  // namespace

ResyncEngine::ResyncEngine(WalStore& store, InstanceClient& source, InstanceClient& target,
                           CollectionIds* ids, Options options, FenceFn fence, const Clock& clock)
    : store_(store),
      source_(source),
      target_(target),
      ids_(ids),
      options_(options),
      fence_(std::move(fence)),
      clock_(clock) {}

Result<json> ResyncEngine::Call(InstanceClient& instance, const std::string& method,
                                const std::string& target, const std::string& body,
                                std::initializer_list<int> allowed) {
  std::chrono::milliseconds delay = options_.retry_delay;
  std::string last;
  for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
    if (Stopping()) return Status::FailedPrecondition("resync stopped");
    const Result<HttpResponse> r = instance.Send(JsonRequest(method, target, body));
    if (r.ok() && Is2xx(r->status)) {
      if (r->body.empty()) return json(nullptr);
      json doc = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded()) {
        instance_failed_ = true;
        return Refused(instance.name() + ": " + method + " " + target + ": the answer is not JSON");
      }
      return doc;
    }
    if (r.ok() && std::find(allowed.begin(), allowed.end(), r->status) != allowed.end()) {
      return json(nullptr);
    }
    if (r.ok() && !IsTransientStatus(r->status)) {
      instance_failed_ = true;
      return Refused(instance.name() + ": " + method + " " + Utf8Prefix(target, 200) + ": " +
                     ErrorSummary(*r));
    }
    last = r.ok() ? ErrorSummary(*r) : r.status().message();
    if (attempt < options_.attempts) {
      std::this_thread::sleep_for(delay);  // a bounded back-off between attempts
      delay *= 2;
    }
  }
  instance_failed_ = true;
  return Status::Unavailable(instance.name() + ": " + method + " " + Utf8Prefix(target, 200) +
                             ": no usable answer after " + std::to_string(options_.attempts) +
                             " attempts: " + last);
}

Status ResyncEngine::Persist(ResyncRecord& p, const ProgressFn& on_progress) {
  std::optional<Fence> fence = fence_();
  if (!fence)
    return Status::FailedPrecondition("the replay lease of " + p.instance + " is not held");
  if (Status s = store_.PutResync(p.instance, ToStoreText(p), *fence); !s.ok()) return s;
  if (on_progress) on_progress(p);
  return Status::Ok();
}

Status ResyncEngine::Run(ResyncRecord& p, const ProgressFn& on_progress) {
  instance_failed_ = false;
  Status s = p.prepared ? Status::Ok() : Prepare(p);
  if (s.ok() && !p.prepared) s = Status::Internal("resync: prepare did not finish");
  if (s.ok()) s = Persist(p, on_progress);
  while (s.ok() && p.next < p.collections_total()) {
    s = CopyCollection(p, on_progress);
  }
  if (s.ok()) {
    p.state = kResyncDone;
  } else if (instance_failed_) {
    // An instance refused or stayed silent: the resync fails with the reason (a new POST
    // starts again). Store errors, a lost lease and Stop leave it running for the next try.
    p.state = kResyncFailed;
    p.reason = s.message();
  } else {
    return s;
  }
  p.finished_at_ms = clock_.UnixMillis();
  if (Status persisted = Persist(p, on_progress); !persisted.ok()) return persisted;
  return Status::Ok();
}

Status ResyncEngine::Prepare(ResyncRecord& p) {
  Result<int64_t> last = store_.LastSeq();
  if (!last.ok()) return last.status();
  p.start_seq = *last;
  std::optional<Fence> fence = fence_();
  if (!fence)
    return Status::FailedPrecondition("the replay lease of " + p.instance + " is not held");
  if (Status s = DropOldBacklog(p, *fence); !s.ok()) return s;
  p.plan.clear();
  p.next = 0;
  p.offset = 0;
  p.records_done = 0;
  p.records_total = 0;
  if (p.scope) {
    if (Status s = PlanCollection(p, *p.scope); !s.ok()) return s;
  } else {
    for (const std::string& tenant : p.tenants) {
      if (Status s = PlanTenant(p, tenant); !s.ok()) return s;
    }
  }
  for (const ResyncCollection& c : p.plan) p.records_total += c.records;
  p.prepared = true;
  spdlog::info("resync {} from {}: {} collections, {} records, WAL position {}", p.instance,
               p.source, p.plan.size(), p.records_total, p.start_seq);
  return Status::Ok();
}

Status ResyncEngine::DropOldBacklog(const ResyncRecord& p, const Fence& fence) {
  // The source's own backlog up to start_seq: writes the copy will not carry.
  std::set<int64_t> not_on_source;
  for (int64_t after = 0;;) {
    Result<std::vector<WalEntry>> page = store_.PendingFor(p.source, after, kTodoPage);
    if (!page.ok()) return page.status();
    for (const WalEntry& e : *page) {
      if (e.seq <= p.start_seq) not_on_source.insert(e.seq);
    }
    if (page->size() < static_cast<size_t>(kTodoPage) || page->back().seq > p.start_seq) break;
    after = page->back().seq;
  }
  for (int64_t after = 0;;) {
    Result<std::vector<WalEntry>> page = store_.PendingFor(p.instance, after, kTodoPage);
    if (!page.ok()) return page.status();
    std::vector<int64_t> carried;
    for (const WalEntry& e : *page) {
      const bool in_scope =
          !p.scope || (e.tenant == p.scope->tenant && e.database == p.scope->database &&
                       e.collection == p.scope->name);
      if (e.seq <= p.start_seq && in_scope && !not_on_source.count(e.seq)) carried.push_back(e.seq);
    }
    if (Status s = store_.MarkAppliedBatch(carried, p.instance, fence); !s.ok()) return s;
    if (page->size() < static_cast<size_t>(kTodoPage) || page->back().seq > p.start_seq) break;
    after = page->back().seq;
  }
  return Status::Ok();
}

Status ResyncEngine::PlanTenant(ResyncRecord& p, const std::string& tenant) {
  Result<json> exists = Call(source_, "GET", TenantPath(tenant), "", {404});
  if (!exists.ok()) return exists.status();
  if (exists->is_null()) return Status::Ok();  // not on the source: nothing to copy
  Result<json> created =
      Call(target_, "POST", "/api/v2/tenants", json{{"name", tenant}}.dump(), {409});
  if (!created.ok()) return created.status();
  Result<json> src = Call(source_, "GET", DatabasesPath(tenant), "");
  if (!src.ok()) return src.status();
  Result<json> dst = Call(target_, "GET", DatabasesPath(tenant), "");
  if (!dst.ok()) return dst.status();
  const std::set<std::string> src_names =
      Names(src->is_array() ? src->get<std::vector<json>>() : std::vector<json>{});
  const std::set<std::string> dst_names =
      Names(dst->is_array() ? dst->get<std::vector<json>>() : std::vector<json>{});
  for (const std::string& db : dst_names) {
    if (src_names.count(db)) continue;
    Result<json> gone =
        Call(target_, "DELETE", DatabasesPath(tenant) + "/" + EncodePathSegment(db), "", {404});
    if (!gone.ok()) return gone.status();
    ++p.extra_removed;
  }
  for (const std::string& db : src_names) {
    if (!dst_names.count(db)) {
      Result<json> made =
          Call(target_, "POST", DatabasesPath(tenant), json{{"name", db}}.dump(), {409});
      if (!made.ok()) return made.status();
    }
    if (Status s = PlanDatabase(p, tenant, db); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ResyncEngine::PlanCollection(ResyncRecord& p, const ResyncCollection& c) {
  const std::string path = CollectionPath(c.tenant, c.database, c.name);
  Result<json> src = Call(source_, "GET", path, "", {404});
  if (!src.ok()) return src.status();
  if (src->is_null()) {  // not on the source: not on the target either
    Result<json> gone = Call(target_, "DELETE", path, "", {404});
    if (!gone.ok()) return gone.status();
    if (ids_ != nullptr) ids_->Forget(c.tenant, c.database, c.name, target_.name());
    return Status::Ok();
  }
  if (!src->value("id", json()).is_string()) {
    return Refused(source_.name() + ": collection " + c.name + " without an id");
  }
  Result<json> tenant =
      Call(target_, "POST", "/api/v2/tenants", json{{"name", c.tenant}}.dump(), {409});
  if (!tenant.ok()) return tenant.status();
  Result<json> db =
      Call(target_, "POST", DatabasesPath(c.tenant), json{{"name", c.database}}.dump(), {409});
  if (!db.ok()) return db.status();
  Result<json> count =
      Call(source_, "GET",
           CollectionPath(c.tenant, c.database, (*src)["id"].get<std::string>()) + "/count", "");
  if (!count.ok()) return count.status();
  p.plan.push_back(
      {c.tenant, c.database, c.name, count->is_number_integer() ? count->get<int64_t>() : 0});
  return Status::Ok();
}

Result<std::vector<json>> ResyncEngine::ListCollections(InstanceClient& instance,
                                                        const std::string& tenant,
                                                        const std::string& db) {
  std::vector<json> out;
  for (int offset = 0;; offset += kListPage) {
    Result<json> page = Call(instance, "GET",
                             CollectionsPath(tenant, db) + "?limit=" + std::to_string(kListPage) +
                                 "&offset=" + std::to_string(offset),
                             "");
    if (!page.ok()) return page.status();
    if (!page->is_array()) return Refused(instance.name() + ": bad collection list");
    for (json& c : *page) out.push_back(std::move(c));
    if (page->size() < static_cast<size_t>(kListPage)) break;
  }
  return out;
}

Status ResyncEngine::PlanDatabase(ResyncRecord& p, const std::string& tenant,
                                  const std::string& db) {
  Result<std::vector<json>> src = ListCollections(source_, tenant, db);
  if (!src.ok()) return src.status();
  Result<std::vector<json>> dst = ListCollections(target_, tenant, db);
  if (!dst.ok()) return dst.status();
  const std::set<std::string> src_names = Names(*src);
  for (const std::string& name : Names(*dst)) {
    if (src_names.count(name)) continue;
    Result<json> gone = Call(target_, "DELETE", CollectionPath(tenant, db, name), "", {404});
    if (!gone.ok()) return gone.status();
    if (ids_ != nullptr) ids_->Forget(tenant, db, name, target_.name());
    ++p.extra_removed;
  }
  for (const json& c : *src) {
    if (!c.is_object() || !c.value("name", json()).is_string() ||
        !c.value("id", json()).is_string()) {
      return Refused(source_.name() + ": a collection without name or id");
    }
    Result<json> count =
        Call(source_, "GET", CollectionPath(tenant, db, c["id"].get<std::string>()) + "/count", "");
    if (!count.ok()) return count.status();
    p.plan.push_back({tenant, db, c["name"].get<std::string>(),
                      count->is_number_integer() ? count->get<int64_t>() : 0});
  }
  return Status::Ok();
}

}  // namespace chroma_ha
