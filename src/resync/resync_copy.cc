// ResyncEngine, part 2: copying one collection page by page (see resync_engine.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>

#include "resync/resync_engine.h"
#include "sync/chroma_api.h"

namespace chroma_ha {
namespace {

using nlohmann::json;

const json kAllFields = json::array({"embeddings", "documents", "metadatas", "uris"});

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// An embedding as Chroma's base64 form (little-endian float32s, what its own clients send):
// exact, where decimal text is parsed by the server to within an ulp only. Null when it is not
// an array of numbers.
json Base64Embedding(const json& values) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!values.is_array()) return nullptr;
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (const json& v : values) {
    if (!v.is_number()) return nullptr;
    const float f = v.get<float>();
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t chunk = 0;
    for (size_t k = 0; k < 3; ++k) {
      chunk = (chunk << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0);
    }
    for (size_t k = 0; k < 4; ++k) {
      out.push_back(k <= n ? kAlphabet[(chunk >> (18 - 6 * k)) & 0x3F] : '=');
    }
  }
  return out;
}

}  // namespace

std::optional<json> UpsertBodyFromGet(const json& got) {
  if (!got.is_object() || !got.value("ids", json()).is_array()) return std::nullopt;
  json body = {{"ids", got["ids"]}};
  for (const char* field : {"embeddings", "documents", "metadatas", "uris"}) {
    auto it = got.find(field);
    if (it == got.end() || !it->is_array()) continue;
    bool any = false;
    for (const json& v : *it) any = any || !v.is_null();
    if (any) body[field] = *it;
  }
  if (auto it = body.find("embeddings"); it != body.end()) {
    json encoded = json::array();
    for (const json& e : *it) {
      json b = Base64Embedding(e);
      if (b.is_null()) return body;  // not plain numbers: sent as they came
      encoded.push_back(std::move(b));
    }
    *it = std::move(encoded);
  }
  return body;
}

Status ResyncEngine::CopyCollection(ResyncRecord& p, const ProgressFn& on_progress) {
  const ResyncCollection c = p.plan[p.next];
  Result<json> definition =
      Call(source_, "GET", CollectionPath(c.tenant, c.database, c.name), "", {404});
  if (!definition.ok()) return definition.status();
  std::string target_id;
  std::string source_id;
  bool created = false;
  if (!definition->is_null()) {
    if (!definition->value("id", json()).is_string()) {
      return Refused(source_.name() + ": collection " + c.name + " without an id");
    }
    source_id = (*definition)["id"].get<std::string>();
    Result<std::string> made = EnsureTargetCollection(p, c, *definition, &created);
    if (!made.ok()) return made.status();
    target_id = *made;
  }
  // Deleted on the source since the plan: nothing to copy (the deletion is in the WAL after
  // start_seq, or was made around chroma-ha).
  const std::string get_path = CollectionPath(c.tenant, c.database, source_id) + "/get";
  const std::string upsert_path = CollectionPath(c.tenant, c.database, target_id) + "/upsert";
  const std::string delete_path = CollectionPath(c.tenant, c.database, target_id) + "/delete";
  const bool resumed = p.offset > 0;
  bool first_page = true;
  while (!source_id.empty()) {
    if (Stopping()) return Status::FailedPrecondition("resync stopped");
    const json get = {{"limit", options_.page_size}, {"offset", p.offset}, {"include", kAllFields}};
    Result<json> page = Call(source_, "POST", get_path, Dump(get), {404});
    if (!page.ok()) return page.status();
    if (page->is_null()) break;  // deleted meanwhile
    std::optional<json> body = UpsertBodyFromGet(*page);
    if (!body) return Refused(source_.name() + ": a get answer without ids");
    const int64_t n = static_cast<int64_t>((*body)["ids"].size());
    if (n == 0) break;
    // A collection the target already had (a damaged replica, a repair, a resume) may hold
    // these ids with other values, and an upsert keeps what it is not given (metadata keys the
    // source lacks, a document where the source has none): they are deleted first, so each
    // record ends exactly as on the source. Reads are not routed to the target meanwhile.
    if (!created) {
      Result<json> gone = Call(target_, "POST", delete_path, Dump(json{{"ids", (*body)["ids"]}}));
      if (!gone.ok()) return gone.status();
    }
    Result<json> put = Call(target_, "POST", upsert_path, Dump(*body));
    if (!put.ok()) return put.status();
    p.offset += n;
    p.records_done += n;
    // The first page after a restart in the middle of this collection may have been written
    // before the crash, after the last recorded step.
    if (resumed && first_page) p.records_recopied += n;
    first_page = false;
    if (Status s = Persist(p, on_progress); !s.ok()) return s;
    if (n < options_.page_size) break;
  }
  if (!source_id.empty()) {
    if (Status s = CopyMissing(p, c, source_id, target_id); !s.ok()) return s;
  }
  ++p.next;
  p.offset = 0;
  return Persist(p, on_progress);
}

Result<std::vector<std::string>> ResyncEngine::ListIds(InstanceClient& instance,
                                                       const ResyncCollection& c,
                                                       const std::string& id) {
  const std::string path = CollectionPath(c.tenant, c.database, id) + "/get";
  std::vector<std::string> out;
  for (int64_t offset = 0;;) {
    if (Stopping()) return Status::FailedPrecondition("resync stopped");
    const json ask = {
        {"limit", options_.page_size}, {"offset", offset}, {"include", json::array()}};
    Result<json> page = Call(instance, "POST", path, Dump(ask), {404});
    if (!page.ok()) return page.status();
    if (page->is_null()) return std::vector<std::string>{};  // gone
    const json ids = page->is_object() ? page->value("ids", json::array()) : json::array();
    for (const json& x : ids) {
      if (x.is_string()) out.push_back(x.get<std::string>());
    }
    offset += static_cast<int64_t>(ids.size());
    if (ids.size() < static_cast<size_t>(options_.page_size)) return out;
  }
}

// Pages are read by offset, so a record deleted on the source while its collection is copied
// shifts the ones after it and one of them can be skipped. The ids of both sides are listed
// (ids only: quick) and what the target lacks is copied; again until a round finds nothing
// missing (a skip in a listing itself is caught by the next round), at most kRounds.
Status ResyncEngine::CopyMissing(ResyncRecord& p, const ResyncCollection& c,
                                 const std::string& source_id, const std::string& target_id) {
  constexpr int kRounds = 3;
  const std::string get_path = CollectionPath(c.tenant, c.database, source_id) + "/get";
  const std::string upsert_path = CollectionPath(c.tenant, c.database, target_id) + "/upsert";
  for (int round = 0; round < kRounds; ++round) {
    Result<std::vector<std::string>> theirs = ListIds(source_, c, source_id);
    if (!theirs.ok()) return theirs.status();
    Result<std::vector<std::string>> mine = ListIds(target_, c, target_id);
    if (!mine.ok()) return mine.status();
    const std::set<std::string> have(mine->begin(), mine->end());
    json missing = json::array();
    for (const std::string& id : *theirs) {
      if (!have.count(id)) missing.push_back(id);
    }
    if (missing.empty()) return Status::Ok();
    spdlog::warn("resync {}: {} record(s) of {}/{}/{} missed by the pages (records deleted on "
                 "the source meanwhile shift the offsets); copied now",
                 p.instance, missing.size(), c.tenant, c.database, c.name);
    const size_t page_size = static_cast<size_t>(options_.page_size);
    for (size_t from = 0; from < missing.size(); from += page_size) {
      json ids = json::array();
      for (size_t i = from; i < std::min(missing.size(), from + page_size); ++i) {
        ids.push_back(missing[i]);
      }
      Result<json> page =
          Call(source_, "POST", get_path, Dump(json{{"ids", ids}, {"include", kAllFields}}), {404});
      if (!page.ok()) return page.status();
      if (page->is_null()) return Status::Ok();  // the collection is gone on the source
      std::optional<json> body = UpsertBodyFromGet(*page);
      if (!body) return Refused(source_.name() + ": a get answer without ids");
      const int64_t n = static_cast<int64_t>((*body)["ids"].size());
      if (n == 0) continue;  // deleted since the listing
      Result<json> put = Call(target_, "POST", upsert_path, Dump(*body));
      if (!put.ok()) return put.status();
      p.records_done += n;
    }
  }
  return Status::Ok();
}

Result<std::string> ResyncEngine::EnsureTargetCollection(ResyncRecord& p, const ResyncCollection& c,
                                                         const json& definition, bool* created) {
  *created = false;
  const std::string by_name = CollectionPath(c.tenant, c.database, c.name);
  Result<json> existing = Call(target_, "GET", by_name, "", {404});
  if (!existing.ok()) return existing.status();
  std::string id;
  if (existing->is_null()) {
    json create = {{"name", c.name}, {"get_or_create", true}};
    auto metadata = definition.find("metadata");
    if (metadata != definition.end() && !metadata->is_null()) create["metadata"] = *metadata;
    auto configuration = definition.find("configuration_json");
    if (configuration != definition.end() && configuration->is_object()) {
      json config = json::object();
      for (auto it = configuration->begin(); it != configuration->end(); ++it) {
        if (!it.value().is_null()) config[it.key()] = it.value();
      }
      create["configuration"] = std::move(config);
    }
    Result<json> made = Call(target_, "POST", CollectionsPath(c.tenant, c.database), Dump(create));
    if (!made.ok()) return made.status();
    if (!made->is_object() || !made->value("id", json()).is_string()) {
      return Refused(target_.name() + ": created collection " + c.name + " without an id");
    }
    id = (*made)["id"].get<std::string>();
    *created = true;
  } else {
    if (!existing->is_object() || !existing->value("id", json()).is_string()) {
      return Refused(target_.name() + ": collection " + c.name + " without an id");
    }
    id = (*existing)["id"].get<std::string>();
    const json want = definition.value("metadata", json());
    if (p.offset == 0 && !want.is_null() && existing->value("metadata", json()) != want) {
      Result<json> modified = Call(target_, "PUT", CollectionPath(c.tenant, c.database, id),
                                   Dump(json{{"new_metadata", want}}));
      if (!modified.ok()) return modified.status();
    }
    if (p.offset == 0) {
      if (Status s = RemoveExtraRecords(p, c, definition["id"].get<std::string>(), id); !s.ok()) {
        return s;
      }
    }
  }
  if (ids_ != nullptr) ids_->Learn(c.tenant, c.database, c.name, target_.name(), id);
  return id;
}

Status ResyncEngine::RemoveExtraRecords(ResyncRecord& p, const ResyncCollection& c,
                                        const std::string& source_id,
                                        const std::string& target_id) {
  const std::string target_get = CollectionPath(c.tenant, c.database, target_id) + "/get";
  const std::string source_get = CollectionPath(c.tenant, c.database, source_id) + "/get";
  for (int64_t offset = 0;;) {
    if (Stopping()) return Status::FailedPrecondition("resync stopped");
    const json ask = {
        {"limit", options_.page_size}, {"offset", offset}, {"include", json::array()}};
    Result<json> mine = Call(target_, "POST", target_get, Dump(ask));
    if (!mine.ok()) return mine.status();
    const json ids = mine->is_object() ? mine->value("ids", json::array()) : json::array();
    if (ids.empty()) break;
    Result<json> theirs =
        Call(source_, "POST", source_get, Dump(json{{"ids", ids}, {"include", json::array()}}));
    if (!theirs.ok()) return theirs.status();
    std::set<std::string> on_source;
    for (const json& id : theirs->value("ids", json::array()))
      on_source.insert(id.get<std::string>());
    json extra = json::array();
    for (const json& id : ids) {
      if (!on_source.count(id.get<std::string>())) extra.push_back(id);
    }
    if (!extra.empty()) {
      Result<json> gone =
          Call(target_, "POST", CollectionPath(c.tenant, c.database, target_id) + "/delete",
               Dump(json{{"ids", extra}}));
      if (!gone.ok()) return gone.status();
      p.extra_removed += static_cast<int64_t>(extra.size());
    }
    offset += static_cast<int64_t>(ids.size() - extra.size());  // deleted ones shift the rest
    if (ids.size() < static_cast<size_t>(options_.page_size)) break;
  }
  return Status::Ok();
}

}  // namespace chroma_ha
