#include "verify/compare.h"

#include <cstring>
#include <utility>

namespace chroma_ha {
namespace {

using json = nlohmann::json;

// JSON text of `v` for a difference line, cut to a readable length. Invalid UTF-8 (which the
// servers never send) is replaced rather than thrown on.
std::string Show(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

std::string ShowEmbedding(const std::optional<std::vector<float>>& e) {
  if (!e) return "null";
  json arr = json::array();
  for (float f : *e) arr.push_back(f);
  return Show(arr);
}

std::string Quote(const std::string& id) { return Show(json(id)); }

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Base64 (standard or URL alphabet, padding optional) of little-endian float32s.
std::optional<std::vector<float>> DecodeBase64Floats(const std::string& text) {
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    int v = Base64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bytes.size() % 4 != 0) return std::nullopt;
  std::vector<float> out(bytes.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    uint32_t u = 0;
    for (int b = 3; b >= 0; --b) u = (u << 8) | static_cast<unsigned char>(bytes[i * 4 + b]);
    std::memcpy(&out[i], &u, sizeof u);
  }
  return out;
}

std::optional<std::vector<float>> ParseEmbedding(const json& v, bool* ok) {
  *ok = true;
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) {
    auto decoded = DecodeBase64Floats(v.get<std::string>());
    if (!decoded) *ok = false;
    return decoded;
  }
  if (!v.is_array()) {
    *ok = false;
    return std::nullopt;
  }
  std::vector<float> out;
  out.reserve(v.size());
  for (const json& x : v) {
    if (!x.is_number()) {
      *ok = false;
      return std::nullopt;
    }
    out.push_back(static_cast<float>(x.get<double>()));
  }
  return out;
}

// Element i of the optional array member `key` of `page`, or null.
const json& Column(const json& page, const char* key, std::size_t i) {
  static const json kNull;
  auto it = page.find(key);
  if (it == page.end() || !it->is_array() || i >= it->size()) return kNull;
  return (*it)[i];
}

// Collection metadata: Chroma answers null or {} for "none"; treat both alike.
json NormalizedMetadata(const json& collection) {
  auto it = collection.find("metadata");
  if (it == collection.end() || it->is_null() || (it->is_object() && it->empty())) return nullptr;
  return *it;
}

json Member(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? json() : *it;
}

}  // namespace

void Differences::Add(std::string line) {
  ++count_;
  if (lines_.size() < max_lines_) lines_.push_back(std::move(line));
}

bool Float32Equal(const std::optional<std::vector<float>>& a,
                  const std::optional<std::vector<float>>& b) {
  if (!a || !b) return !a && !b;
  return *a == *b;  // float ==: +0 equals -0; NaN never comes back from Chroma
}

Result<std::size_t> AddGetPage(const json& page, RecordSet* records) {
  if (!page.is_object()) return Status::InvalidArgument("get response is not a JSON object");
  auto ids = page.find("ids");
  if (ids == page.end() || !ids->is_array()) {
    return Status::InvalidArgument("get response has no \"ids\" array");
  }
  for (std::size_t i = 0; i < ids->size(); ++i) {
    const json& id = (*ids)[i];
    if (!id.is_string()) return Status::InvalidArgument("get response has a non-string id");
    Record r;
    bool ok = true;
    r.embedding = ParseEmbedding(Column(page, "embeddings", i), &ok);
    if (!ok) {
      return Status::InvalidArgument("get response has an unreadable embedding for id " +
                                     Quote(id.get<std::string>()));
    }
    r.document = Column(page, "documents", i);
    r.metadata = Column(page, "metadatas", i);
    r.uri = Column(page, "uris", i);
    (*records)[id.get<std::string>()] = std::move(r);
  }
  return ids->size();
}

void CompareNames(const char* what, const std::string& where, const std::set<std::string>& a,
                  const std::set<std::string>& b, const std::string& label_a,
                  const std::string& label_b, Differences* out) {
  for (const auto& n : a) {
    if (!b.count(n)) out->Add(std::string(what) + " " + where + "/" + n + " only on " + label_a);
  }
  for (const auto& n : b) {
    if (!a.count(n)) out->Add(std::string(what) + " " + where + "/" + n + " only on " + label_b);
  }
}

void CompareCollectionObjects(const std::string& where, const json& a, const json& b,
                              const std::string& label_a, const std::string& label_b,
                              Differences* out) {
  const json ma = NormalizedMetadata(a), mb = NormalizedMetadata(b);
  if (ma != mb) {
    out->Add("collection " + where + " metadata: " + label_a + " " + Show(ma) + " vs " + label_b +
             " " + Show(mb));
  }
  const json ca = Member(a, "configuration_json"), cb = Member(b, "configuration_json");
  if (ca != cb) {
    out->Add("collection " + where + " configuration: " + label_a + " " + Show(ca) + " vs " +
             label_b + " " + Show(cb));
  }
}

void CompareRecords(const std::string& where, const RecordSet& a, const RecordSet& b,
                    const std::string& label_a, const std::string& label_b, Differences* out) {
  auto dimension = [](const RecordSet& s) -> std::optional<std::size_t> {
    for (const auto& [id, r] : s) {
      if (r.embedding) return r.embedding->size();
    }
    return std::nullopt;
  };
  auto da = dimension(a), db = dimension(b);
  if (da && db && *da != *db) {
    out->Add("collection " + where + " dimension: " + label_a + " " + std::to_string(*da) +
             " vs " + label_b + " " + std::to_string(*db));
  }
  auto ia = a.begin(), ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      out->Add(where + " id " + Quote(ia->first) + " only on " + label_a);
      ++ia;
      continue;
    }
    if (ia == a.end() || ib->first < ia->first) {
      out->Add(where + " id " + Quote(ib->first) + " only on " + label_b);
      ++ib;
      continue;
    }
    const std::string prefix = where + " id " + Quote(ia->first) + " ";
    const Record& x = ia->second;
    const Record& y = ib->second;
    if (!Float32Equal(x.embedding, y.embedding)) {
      out->Add(prefix + "embedding: " + label_a + " " + ShowEmbedding(x.embedding) + " vs " +
               label_b + " " + ShowEmbedding(y.embedding));
    }
    if (x.document != y.document) {
      out->Add(prefix + "document: " + label_a + " " + Show(x.document) + " vs " + label_b + " " +
               Show(y.document));
    }
    if (x.metadata != y.metadata) {
      out->Add(prefix + "metadata: " + label_a + " " + Show(x.metadata) + " vs " + label_b + " " +
               Show(y.metadata));
    }
    if (x.uri != y.uri) {
      out->Add(prefix + "uri: " + label_a + " " + Show(x.uri) + " vs " + label_b + " " +
               Show(y.uri));
    }
    ++ia;
    ++ib;
  }
}

}  // namespace chroma_ha
