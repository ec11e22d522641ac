// Collection ids in Chroma response bodies (DESIGN.md §4): every instance gives a collection its
// own UUID, clients must see one canonical id. Collection objects look like
//   {"id":"<uuid>","name":..,"configuration_json":..,"metadata":..,"dimension":..,
//    "tenant":..,"database":..,"log_position":0,"version":0}
// and come alone (create, get by name, fork) or as an array (list collections).
//
// A "collection object" here is the top-level object, or an element of a top-level array, with
// string members "id", "name", "tenant" and "database". Nested objects are never touched.
// Only the id's string literal is replaced, in place: every other byte of the body (key order,
// number spelling, whitespace) stays as the instance sent it. Bodies that are not JSON, or hold
// no collection object, are left byte-identical.
//
// Pure functions: thread-safe, no exceptions (beyond std::bad_alloc and what the callback
// throws). Cost is linear in the body size; call them only for routes that return collections.
#ifndef CHROMA_HA_PROXY_ID_REWRITE_H_
#define CHROMA_HA_PROXY_ID_REWRITE_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace chroma_ha {

// One collection object found in a body (JSON strings decoded).
struct SeenCollection {
  std::string tenant;
  std::string database;
  std::string name;
  std::string id;  // the id in the body (the instance's own id in an instance's response)
};

// Returns the id the client should see for `seen` (e.g. CollectionMap::Learn(...).canonical_id
// for the instance that answered). Returning seen.id, or "", leaves the object unchanged.
using CanonicalIdFn = std::function<std::string(const SeenCollection& seen)>;

struct IdRewriteResult {
  int collections = 0;  // collection objects found (the callback ran once for each)
  int rewritten = 0;    // ids replaced
};

// Finds the collection objects in `*body`, calls `canonical` for each in body order, and
// replaces each id with the returned one. `*body` is modified only when an id changes.
IdRewriteResult RewriteCollectionIds(std::string* body, const CanonicalIdFn& canonical);

// The collection objects in `body`, in order, without changing anything.
std::vector<SeenCollection> FindCollections(std::string_view body);

}  // namespace chroma_ha

#endif  // CHROMA_HA_PROXY_ID_REWRITE_H_
