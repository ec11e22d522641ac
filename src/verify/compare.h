// The pure part of `chroma-ha verify`: comparing what two Chroma instances hold, from the JSON
// their API returns. No I/O here (src/verify/verify.cc fetches; this decides what differs).
//
// Compared (DESIGN.md §3: "eventually applied on every instance"): the names of the databases of
// each tenant, the names of the collections of each database, each collection's metadata and
// configuration (parsed JSON: key order and number spelling ignored), its dimension when both
// sides hold records, and every record: ids, embeddings as float32 (0.1 and 0.10000000149011612
// are the same float32), documents, metadatas (parsed JSON) and uris. Server-assigned values
// (collection and database UUIDs, log positions, versions) are never compared.
//
// Thread-compatible value types; functions never throw (beyond std::bad_alloc).
#ifndef CHROMA_HA_VERIFY_COMPARE_H_
#define CHROMA_HA_VERIFY_COMPARE_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "chroma_ha/status.h"

namespace chroma_ha {

// The differences found so far: every one is counted, the first `max_lines` are kept as text.
class Differences {
 public:
  explicit Differences(std::size_t max_lines = 50) : max_lines_(max_lines) {}
  void Add(std::string line);
  int64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::size_t max_lines_;
  int64_t count_ = 0;
  std::vector<std::string> lines_;
};

// One record as read back with include: ["embeddings","documents","metadatas","uris"].
struct Record {
  std::optional<std::vector<float>> embedding;  // nullopt: none
  nlohmann::json document;                       // string or null
  nlohmann::json metadata;                       // object or null
  nlohmann::json uri;                            // string or null
};

// id -> record, for one collection on one instance.
using RecordSet = std::map<std::string, Record>;

// Adds the records of one `POST .../get` response body (parsed) to `*records`. Embeddings may be
// arrays of numbers or base64 little-endian float32 strings. Returns how many ids the page held,
// or kInvalidArgument when the body is not a get response.
Result<std::size_t> AddGetPage(const nlohmann::json& page, RecordSet* records);

// Names present on one side only. `what` is "database" or "collection", `where` the parent
// ("default_tenant" or "default_tenant/default_database"), labels name the two instances.
void CompareNames(const char* what, const std::string& where, const std::set<std::string>& a,
                  const std::set<std::string>& b, const std::string& label_a,
                  const std::string& label_b, Differences* out);

// Metadata and configuration ("configuration_json") of the same collection (`where` =
// tenant/database/name) from the two instances' collection objects.
void CompareCollectionObjects(const std::string& where, const nlohmann::json& a,
                              const nlohmann::json& b, const std::string& label_a,
                              const std::string& label_b, Differences* out);

// Every record of the same collection on the two instances (ids, embeddings as float32,
// documents, metadatas, uris), and the dimension when both hold records.
void CompareRecords(const std::string& where, const RecordSet& a, const RecordSet& b,
                    const std::string& label_a, const std::string& label_b, Differences* out);

// True when the two embeddings are equal as float32 (both absent counts as equal).
bool Float32Equal(const std::optional<std::vector<float>>& a,
                  const std::optional<std::vector<float>>& b);

}  // namespace chroma_ha

#endif  // CHROMA_HA_VERIFY_COMPARE_H_
