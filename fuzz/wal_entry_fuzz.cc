// libFuzzer target: the WAL entry's byte fields through the SQLite store, and the decoder of
// `extra` (src/sync/deletion_conversion.h, the only code that parses stored entry JSON).
//
// There is no separate binary entry codec: entries are rows (wal_store.h, format version 1), so
// "decoding" an entry is SqliteWalStore::Get reading the row back. Input: bytes split at the
// first 0xFF 0xFE pair into `body` and `extra` (body only without the pair).
// Invariants checked (abort() on violation):
// - Append accepts any body (bytes, NUL included) and Get returns it byte-exact;
// - SetExtra accepts `extra` iff it is UTF-8 without NUL (IsStorableText), and then Get returns it
//   byte-exact; otherwise it is kInvalidArgument and the stored extra is unchanged;
// - PlanDeletionConversion(body, extra) never crashes; for a plan, the converted deletes only
//   name ids of the plan (by_id) and document_ids of the plan (by_document_id), and the
//   existing-ids query round-trips through ParseExistingIds.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "chroma_ha/wal_store.h"
#include "sync/deletion_conversion.h"
#include "wal/sqlite_store.h"
#include "wal/text_check.h"

namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

chroma_ha::SqliteWalStore& Store() {
  static auto* store = [] {
    auto* s = new chroma_ha::SqliteWalStore(":memory:");
    Check(s->Open().ok(), "open :memory: store");
    return s;
  }();
  return *store;
}

void CheckConversion(std::string_view body, std::string_view extra) {
  auto plan = chroma_ha::PlanDeletionConversion(body, extra);
  if (!plan) return;
  Check(!plan->ids.empty(), "plan without ids");
  const std::set<std::string> plan_ids(plan->ids.begin(), plan->ids.end());
  // The target answers with every other id of the plan.
  std::set<std::string> existing;
  bool take = true;
  for (const auto& id : plan->ids) {
    if (take) existing.insert(id);
    take = !take;
  }
  auto query = nlohmann::json::parse(chroma_ha::ExistingIdsQuery(*plan), nullptr, false);
  Check(!query.is_discarded() && query.is_object(), "ExistingIdsQuery is not a JSON object");
  nlohmann::json answer = {{"ids", nlohmann::json::array()}};
  for (const auto& id : existing) answer["ids"].push_back(id);
  auto parsed = chroma_ha::ParseExistingIds(answer.dump());
  Check(parsed.has_value() && *parsed == existing, "ParseExistingIds round trip");

  const chroma_ha::ConvertedDelete converted = chroma_ha::ConvertDelete(*plan, existing);
  if (converted.by_id) {
    auto j = nlohmann::json::parse(*converted.by_id, nullptr, false);
    Check(!j.is_discarded() && j.is_object() && j.contains("ids") && j["ids"].is_array(),
          "by_id is not a delete body with ids");
    for (const auto& id : j["ids"]) {
      Check(id.is_string() && existing.count(id.get<std::string>()) == 1,
            "by_id deletes an id that is not in the plan or not on the target");
    }
  }
  if (converted.by_document_id) {
    auto j = nlohmann::json::parse(*converted.by_document_id, nullptr, false);
    Check(!j.is_discarded() && j.is_object(), "by_document_id is not JSON");
    std::set<std::string> allowed;  // JSON text of the documented values
    for (const auto& [id, doc] : plan->document_ids) {
      if (existing.count(id) == 0) allowed.insert(nlohmann::json::parse(doc, nullptr, false).dump());
    }
    const auto& in = j["where"]["document_id"]["$in"];
    Check(in.is_array() && !in.empty(), "by_document_id has no $in list");
    for (const auto& v : in) {
      Check(allowed.count(v.dump()) == 1,
            "by_document_id deletes a document_id of an id that is not missing on the target");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find("\xff\xfe");
  const std::string body(input.substr(0, split));
  const std::string extra(split == std::string_view::npos ? "" : input.substr(split + 2));

  chroma_ha::SqliteWalStore& store = Store();
  std::vector<chroma_ha::WalEntry> entries(1);
  auto& e = entries[0];
  e.tenant = "default_tenant";
  e.database = "default_database";
  e.collection = "c";
  e.kind = "delete";
  e.method = "POST";
  e.path = "/api/v2/tenants/default_tenant/databases/default_database/collections/{collection}/delete";
  e.body = body;
  Check(store.Append(&entries).ok(), "Append refused a body");
  const int64_t seq = entries[0].seq;
  auto got = store.Get(seq);
  Check(got.ok() && got->body == body, "Get did not return the body byte-exact");

  const chroma_ha::Status set = store.SetExtra(seq, extra);
  const bool storable = chroma_ha::IsStorableText(extra);
  Check(set.ok() == storable, "SetExtra accepted text that is not storable, or refused text that is");
  if (!set.ok()) {
    Check(set.code() == chroma_ha::StatusCode::kInvalidArgument, "SetExtra error is not InvalidArgument");
  }
  got = store.Get(seq);
  Check(got.ok() && got->extra == (storable ? extra : std::string()),
        "Get did not return extra byte-exact");
  Check(got->body == body, "SetExtra changed the body");

  CheckConversion(body, extra);
  // Keep the in-memory database small.
  (void)store.Clear();
  return 0;
}
