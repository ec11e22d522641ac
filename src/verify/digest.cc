#include "verify/digest.h"

#include <cstring>

namespace chroma_ha {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

void Mix(uint64_t* h, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    *h ^= p[i];
    *h *= kFnvPrime;
  }
}

// A field: its length first, so ("ab","c") and ("a","bc") differ.
void MixField(uint64_t* h, const std::string& s) {
  const uint64_t n = s.size();
  Mix(h, &n, sizeof n);
  Mix(h, s.data(), s.size());
}

// Canonical JSON text: nlohmann objects are sorted by key.
std::string Canonical(const nlohmann::json& v) {
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// splitmix64's finaliser: spreads FNV's bits before the sum.
uint64_t Finalise(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t RecordHash(const std::string& id, const Record& record) {
  uint64_t h = kFnvOffset;
  MixField(&h, id);
  if (record.embedding) {
    std::string bytes(record.embedding->size() * sizeof(float), '\0');
    for (std::size_t i = 0; i < record.embedding->size(); ++i) {
      float f = (*record.embedding)[i];
      if (f == 0.0f) f = 0.0f;  // -0 equals +0 (as verify compares)
      std::memcpy(&bytes[i * sizeof f], &f, sizeof f);
    }
    MixField(&h, bytes);
  } else {
    MixField(&h, "-");
  }
  MixField(&h, Canonical(record.document));
  MixField(&h, Canonical(record.metadata));
  MixField(&h, Canonical(record.uri));
  return Finalise(h);
}

Status AddPageToDigest(const nlohmann::json& page, CollectionDigest* digest) {
  RecordSet records;
  auto n = AddGetPage(page, &records);
  if (!n.ok()) return n.status();
  for (const auto& [id, record] : records) {
    digest->count += 1;
    digest->hash += RecordHash(id, record);
  }
  return Status::Ok();
}

}  // namespace chroma_ha
