// libFuzzer target: Classify() and the collection-path helpers of src/proxy/path_rewrite.h.
//
// Input: byte 0 picks the method (GET, POST, PUT, DELETE, PATCH, HEAD), the rest is the
// request target. Invariants checked (abort() on violation):
// - PercentDecode(PercentEncodeSegment(s)) == s for any bytes s;
// - a route that names a collection (ref != kNone, not kInvalid) has a collection segment that
//   FindCollectionSegment finds and that decodes to route.collection;
// - ReplaceCollectionSegment(target, route.collection) and
//   ExpandCollectionTemplate(CollectionPathTemplate(target), route.collection) classify exactly
//   as the target did (what the router and the sync worker rely on);
// - without a collection segment, Replace/Template return the target unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "chroma_ha/route.h"
#include "proxy/path_rewrite.h"

namespace {

using chroma_ha::Route;

void Check(bool ok, const char* what, std::string_view target) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated: %s\ntarget: ", what);
  for (unsigned char c : target) {
    if (c >= 0x20 && c < 0x7f) {
      std::fputc(c, stderr);
    } else {
      std::fprintf(stderr, "\\x%02x", c);
    }
  }
  std::fputc('\n', stderr);
  std::abort();
}

bool SameRoute(const Route& a, const Route& b) {
  return a.cls == b.cls && a.write == b.write && a.tenant == b.tenant &&
         a.database == b.database && a.collection == b.collection && a.ref == b.ref;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"};
  if (size == 0) return 0;
  const std::string method = kMethods[data[0] % 6];
  const std::string target(reinterpret_cast<const char*>(data + 1), size - 1);

  std::string decoded;
  Check(chroma_ha::PercentDecode(chroma_ha::PercentEncodeSegment(target), &decoded) &&
            decoded == target,
        "PercentDecode(PercentEncodeSegment(s)) != s", target);

  const Route route = chroma_ha::Classify(method, target);
  (void)chroma_ha::RouteClassName(route.cls);
  (void)chroma_ha::WriteKindName(route.write);
  const auto segment = chroma_ha::FindCollectionSegment(target);
  if (segment) {
    Check(segment->offset + segment->length <= target.size() && segment->length > 0,
          "segment range outside the target", target);
  } else {
    Check(chroma_ha::ReplaceCollectionSegment(target, "x") == target,
          "Replace changed a target without a collection segment", target);
    Check(chroma_ha::CollectionPathTemplate(target) == target,
          "Template changed a target without a collection segment", target);
  }
  if (route.cls == chroma_ha::RouteClass::kInvalid || route.ref == chroma_ha::CollectionRef::kNone) {
    return 0;
  }
  Check(segment.has_value(), "route names a collection but FindCollectionSegment finds none",
        target);
  std::string seg;
  Check(chroma_ha::PercentDecode(target.substr(segment->offset, segment->length), &seg) &&
            seg == route.collection,
        "collection segment does not decode to route.collection", target);

  const std::string replaced = chroma_ha::ReplaceCollectionSegment(target, route.collection);
  Check(SameRoute(chroma_ha::Classify(method, replaced), route),
        "ReplaceCollectionSegment(target, collection) classifies differently", target);

  const std::string tmpl = chroma_ha::CollectionPathTemplate(target);
  Check(tmpl.find(chroma_ha::kCollectionPlaceholder) != std::string::npos,
        "template has no placeholder", target);
  const std::string expanded = chroma_ha::ExpandCollectionTemplate(tmpl, route.collection);
  Check(SameRoute(chroma_ha::Classify(method, expanded), route),
        "ExpandCollectionTemplate(CollectionPathTemplate(t), collection) classifies differently",
        target);
  const std::string other = chroma_ha::ExpandCollectionTemplate(tmpl, "0f8fad5b-d9cb-469f-a165");
  const Route moved = chroma_ha::Classify(method, other);
  Check(moved.cls == route.cls && moved.write == route.write && moved.tenant == route.tenant &&
            moved.database == route.database && moved.collection == "0f8fad5b-d9cb-469f-a165",
        "expanding another id changes more than the collection", target);
  return 0;
}
