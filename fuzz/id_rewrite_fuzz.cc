// libFuzzer target: RewriteCollectionIds / FindCollections (src/proxy/id_rewrite.h) on arbitrary
// response bodies. Invariants checked (abort() on violation):
// - no crash, whatever the bytes;
// - a callback that returns the same id (or "") leaves the body byte-identical, rewritten == 0;
// - the callback runs once per collection object, and FindCollections finds the same objects;
// - a callback that returns a new id rewrites every object, and FindCollections on the result
//   finds the same objects with the new id and nothing else changed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "proxy/id_rewrite.h"

namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using chroma_ha::SeenCollection;
  const std::string original(reinterpret_cast<const char*>(data), size);
  const std::vector<SeenCollection> found = chroma_ha::FindCollections(original);

  std::string body = original;
  std::vector<SeenCollection> seen;
  auto same = chroma_ha::RewriteCollectionIds(&body, [&](const SeenCollection& c) {
    seen.push_back(c);
    return c.id;
  });
  Check(body == original, "identity callback changed the body");
  Check(same.rewritten == 0, "identity callback counted a rewrite");
  Check(same.collections == static_cast<int>(seen.size()), "callback count != collections");
  Check(seen.size() == found.size(), "FindCollections and RewriteCollectionIds disagree");

  body = original;
  auto empty = chroma_ha::RewriteCollectionIds(&body, [](const SeenCollection&) { return ""; });
  Check(body == original && empty.rewritten == 0, "empty-id callback changed the body");

  const std::string kNew = "00000000-0000-4000-8000-00000000c0de\"\\\u00e9";
  body = original;
  auto changed =
      chroma_ha::RewriteCollectionIds(&body, [&](const SeenCollection&) { return kNew; });
  Check(changed.collections == static_cast<int>(found.size()), "collections count changed");
  const std::vector<SeenCollection> after = chroma_ha::FindCollections(body);
  Check(after.size() == found.size(), "rewriting changed the number of collection objects");
  int differing = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    Check(after[i].id == kNew, "an object kept its old id");
    Check(after[i].name == found[i].name && after[i].tenant == found[i].tenant &&
              after[i].database == found[i].database,
          "rewriting changed a name, tenant or database");
    if (found[i].id != kNew) ++differing;
  }
  Check(changed.rewritten == differing, "rewritten count is wrong");
  return 0;
}
