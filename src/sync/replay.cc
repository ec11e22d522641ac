#include "sync/replay.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "sync/chroma_api.h"
#include "sync/deletion_conversion.h"

namespace chroma_ha {
namespace {

using nlohmann::json;

bool IsCreateKind(const std::string& kind) {
  return kind == "create_collection" || kind == "create_database" || kind == "create_tenant";
}

bool IsDropKind(const std::string& kind) {
  return kind == "delete_collection" || kind == "delete_database";
}

ReplayOutcome Transient(std::string error) {
  return {ReplayOutcome::kTransient, std::move(error), false, false};
}

ReplayOutcome Permanent(std::string error) {
  return {ReplayOutcome::kPermanent, std::move(error), false, false};
}

std::string NoAnswer(const InstanceClient& instance, const Status& status) {
  return instance.name() + " gave no answer: " + status.ToString();
}

// A string member of a JSON object body, or "".
std::string StringMember(std::string_view body, const char* key) {
  const json doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return "";
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

bool IsHealableKind(const std::string& kind) {
  return kind == "add" || kind == "upsert" || kind == "update" || kind == "delete" ||
         kind == "modify_collection";
}

bool IsBatchableReplay(const WalEntry& entry) {
  if (entry.kind == "add" || entry.kind == "upsert") return true;
  if (entry.kind != "delete" || !entry.extra.empty()) return false;
  const json body = json::parse(entry.body, nullptr, false);
  if (!body.is_object()) return false;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() == "ids") {
      if (!it->is_array()) return false;
    } else if (!it->is_null()) {
      return false;  // where, where_document, or anything we do not know
    }
  }
  return body.contains("ids");
}

Replayer::Replayer(bool deletion_conversion, CollectionIds& ids,
                   std::vector<InstanceClient*> instances)
    : deletion_conversion_(deletion_conversion), ids_(ids), instances_(std::move(instances)) {}

InstanceClient* Replayer::FindInstance(const std::string& name) const {
  for (InstanceClient* instance : instances_) {
    if (instance != nullptr && instance->name() == name) return instance;
  }
  return nullptr;
}

ReplayOutcome Replayer::Apply(const WalEntry& entry, InstanceClient& target) {
  if (entry.kind == "reset") return Permanent("reset is never replayed");
  const bool by_id = HasCollectionPlaceholder(entry.path) && entry.kind != "delete_collection";
  if (by_id) return ApplyById(entry, target);
  // Tenant, database and collection-by-name writes: the path is sent as it is (a name-addressed
  // "{collection}" is the collection's name on every instance).
  const std::string path = HasCollectionPlaceholder(entry.path)
                               ? ExpandCollectionPlaceholder(entry.path, entry.collection)
                               : entry.path;
  const Result<HttpResponse> answer = target.Send(JsonRequest(entry.method, path, entry.body));
  return Classify(entry, target, answer, "");
}

ReplayOutcome Replayer::ApplyById(const WalEntry& entry, InstanceClient& target) {
  if (entry.collection.empty()) return Permanent("entry names no collection");
  for (int attempt = 0;; ++attempt) {
    Lookup lookup = ResolveId(entry, target, /*use_cache=*/attempt == 0);
    bool healed = false;
    if (lookup.kind == Lookup::kAbsent) {
      if (!IsHealableKind(entry.kind)) return Permanent("collection not found on " + target.name());
      lookup = Heal(entry, target);
      healed = lookup.kind == Lookup::kFound;
    }
    if (lookup.kind == Lookup::kTransient) return Transient(lookup.error);
    if (lookup.kind != Lookup::kFound) return Permanent(lookup.error);

    bool converted = false;
    const Result<HttpResponse> answer = SendWithId(entry, target, lookup.id, &converted);
    if (answer.ok() && answer->status == 404 && lookup.from_cache && attempt == 0) {
      // The cached id may be stale (collection re-created around the proxy): resolve again.
      spdlog::debug("sync: seq {} on {}: 404 for cached id; resolving by name", entry.seq,
                    target.name());
      ids_.Forget(entry.tenant, entry.database, entry.collection, target.name());
      continue;
    }
    ReplayOutcome outcome = Classify(entry, target, answer, lookup.id);
    outcome.healed = healed;
    outcome.converted = converted && outcome.kind == ReplayOutcome::kApplied;
    return outcome;
  }
}

Replayer::Lookup Replayer::ResolveId(const WalEntry& entry, InstanceClient& target,
                                     bool use_cache) {
  if (use_cache) {
    if (auto id = ids_.IdOn(entry.tenant, entry.database, entry.collection, target.name())) {
      return {Lookup::kFound, *id, /*from_cache=*/true, ""};
    }
  }
  Lookup lookup = LookupByName(entry.tenant, entry.database, entry.collection, target);
  if (lookup.kind == Lookup::kFound) {
    ids_.Learn(entry.tenant, entry.database, entry.collection, target.name(), lookup.id);
  }
  return lookup;
}

Replayer::Lookup Replayer::LookupByName(const std::string& tenant, const std::string& database,
                                        const std::string& name, InstanceClient& instance) {
  HttpRequest request;
  request.method = "GET";
  request.target = CollectionPath(tenant, database, name);
  const Result<HttpResponse> answer = instance.Send(request);
  if (!answer.ok()) return {Lookup::kTransient, "", false, NoAnswer(instance, answer.status())};
  const HttpResponse& response = *answer;
  if (Is2xx(response.status)) {
    if (auto id = CollectionIdOf(response.body)) return {Lookup::kFound, *id, false, ""};
    return {Lookup::kPermanent, "", false,
            "collection lookup on " + instance.name() + ": answer has no id"};
  }
  if (response.status == 404) return {Lookup::kAbsent, "", false, ""};
  std::string error = "collection lookup on " + instance.name() + ": " + ErrorSummary(response);
  if (IsTransientStatus(response.status)) return {Lookup::kTransient, "", false, error};
  return {Lookup::kPermanent, "", false, error};
}

Replayer::Lookup Replayer::Heal(const WalEntry& entry, InstanceClient& target) {
  InstanceClient* origin = FindInstance(entry.origin);
  if (origin == nullptr || origin == &target) {
    return {Lookup::kPermanent, "", false,
            "collection missing on " + target.name() + " and origin '" + entry.origin +
                "' cannot be asked for its definition"};
  }
  HttpRequest get;
  get.method = "GET";
  get.target = CollectionPath(entry.tenant, entry.database, entry.collection);
  const Result<HttpResponse> definition = origin->Send(get);
  if (!definition.ok())
    return {Lookup::kTransient, "", false, NoAnswer(*origin, definition.status())};
  if (!Is2xx(definition->status)) {
    std::string error =
        "heal: reading the definition from " + origin->name() + ": " + ErrorSummary(*definition);
    if (IsTransientStatus(definition->status)) return {Lookup::kTransient, "", false, error};
    return {Lookup::kPermanent, "", false,
            "collection missing on " + target.name() + " and unreadable on origin (" + error + ")"};
  }
  const json source = json::parse(definition->body, nullptr, false);
  json create = {{"name", entry.collection}};
  if (source.is_object()) {
    auto metadata = source.find("metadata");
    if (metadata != source.end() && !metadata->is_null()) create["metadata"] = *metadata;
    auto configuration = source.find("configuration_json");
    if (configuration != source.end() && configuration->is_object()) {
      json config = json::object();
      for (auto it = configuration->begin(); it != configuration->end(); ++it) {
        if (!it.value().is_null()) config[it.key()] = it.value();
      }
      create["configuration"] = std::move(config);
    }
  }
  const Result<HttpResponse> created =
      target.Send(JsonRequest("POST", CollectionsPath(entry.tenant, entry.database),
                              create.dump(-1, ' ', false, json::error_handler_t::replace)));
  if (!created.ok()) return {Lookup::kTransient, "", false, NoAnswer(target, created.status())};
  if (created->status == 409) {  // created meanwhile: use it
    Lookup lookup = LookupByName(entry.tenant, entry.database, entry.collection, target);
    if (lookup.kind == Lookup::kFound) {
      ids_.Learn(entry.tenant, entry.database, entry.collection, target.name(), lookup.id);
    } else if (lookup.kind == Lookup::kAbsent) {
      lookup = {Lookup::kTransient, "", false, "heal: 409 on create but no collection found"};
    }
    return lookup;
  }
  std::string error = "heal: creating on " + target.name() + ": " + ErrorSummary(*created);
  if (!Is2xx(created->status)) {
    return {IsTransientStatus(created->status) ? Lookup::kTransient : Lookup::kPermanent, "", false,
            error};
  }
  auto id = CollectionIdOf(created->body);
  if (!id) return {Lookup::kPermanent, "", false, "heal: create answer has no id"};
  ids_.Learn(entry.tenant, entry.database, entry.collection, target.name(), *id);
  spdlog::info("sync: healed collection {}/{}/{} on {} from {}'s definition", entry.tenant,
               entry.database, entry.collection, target.name(), origin->name());
  return {Lookup::kFound, *id, false, ""};
}

Result<HttpResponse> Replayer::SendWithId(const WalEntry& entry, InstanceClient& target,
                                          const std::string& id, bool* converted) {
  const std::string path = ExpandCollectionPlaceholder(entry.path, id);
  std::optional<ConversionPlan> plan;
  if (deletion_conversion_ && entry.kind == "delete" && !entry.extra.empty()) {
    plan = PlanDeletionConversion(entry.body, entry.extra);
  }
  if (!plan) return target.SendWithBody(JsonRequest(entry.method, path, ""), entry.body);

  const std::string collection = CollectionPath(entry.tenant, entry.database, id);
  Result<HttpResponse> existing =
      target.Send(JsonRequest("POST", collection + "/get", ExistingIdsQuery(*plan)));
  if (!existing.ok() || !Is2xx(existing->status)) return existing;
  const std::optional<std::set<std::string>> present = ParseExistingIds(existing->body);
  if (!present) {
    HttpResponse bad;
    bad.status = 502;  // treated as transient: the target answered something unexpected
    bad.body = R"({"error":"BadGateway","message":"get answer has no ids"})";
    return bad;
  }
  const ConvertedDelete steps = ConvertDelete(*plan, *present);
  // By document_id first: if the by-id step then fails, a retry still finds those ids present.
  if (steps.by_document_id) {
    Result<HttpResponse> answer =
        target.Send(JsonRequest(entry.method, path, *steps.by_document_id));
    if (!answer.ok() || !Is2xx(answer->status)) return answer;
    *converted = true;
  }
  if (steps.by_id) return target.Send(JsonRequest(entry.method, path, *steps.by_id));
  HttpResponse done;  // nothing left to delete on the target
  done.status = 200;
  done.body = "{}";
  return done;
}

ReplayOutcome Replayer::Classify(const WalEntry& entry, InstanceClient& target,
                                 const Result<HttpResponse>& answer, const std::string& id) {
  if (!answer.ok()) return Transient(NoAnswer(target, answer.status()));
  const HttpResponse& response = *answer;
  const bool already = (response.status == 409 && IsCreateKind(entry.kind)) ||
                       (response.status == 404 && IsDropKind(entry.kind));
  if (Is2xx(response.status) || already) {
    LearnFromApplied(entry, target, response, id);
    return {};
  }
  if (IsTransientStatus(response.status)) {
    return Transient(target.name() + " answered " + ErrorName(response));
  }
  return Permanent(ErrorSummary(response));
}

void Replayer::LearnFromApplied(const WalEntry& entry, InstanceClient& target,
                                const HttpResponse& response, const std::string& id) {
  if (entry.kind == "create_collection") {
    std::string name = StringMember(entry.body, "name");
    if (name.empty()) name = entry.collection;
    if (name.empty()) return;
    std::optional<std::string> created;
    if (Is2xx(response.status)) created = CollectionIdOf(response.body);
    if (!created) {  // 409 (or an odd 2xx): ask; best effort, the next write resolves it anyway
      Lookup lookup = LookupByName(entry.tenant, entry.database, name, target);
      if (lookup.kind == Lookup::kFound) created = lookup.id;
    }
    if (created) ids_.Learn(entry.tenant, entry.database, name, target.name(), *created);
  } else if (entry.kind == "delete_collection") {
    ids_.Forget(entry.tenant, entry.database, entry.collection, target.name());
  } else if (entry.kind == "modify_collection" && !id.empty()) {
    const std::string new_name = StringMember(entry.body, "new_name");
    if (!new_name.empty() && new_name != entry.collection) {
      ids_.Forget(entry.tenant, entry.database, entry.collection, target.name());
      ids_.Learn(entry.tenant, entry.database, new_name, target.name(), id);
    }
  }
}

}  // namespace chroma_ha
