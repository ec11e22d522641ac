// Request classification: a pure function of method + target that says what a request is to
// chroma-ha. Chroma reads are often POSTs (`.../get`, `.../query`), so the verb alone decides
// nothing. Implemented in src/proxy/classifier.cc; table-tested in tests/unit/proxy/.
#ifndef CHROMA_HA_ROUTE_H_
#define CHROMA_HA_ROUTE_H_

#include <string>
#include <string_view>

namespace chroma_ha {

enum class RouteClass {
  kSystemRead,  // heartbeat, version, pre-flight-checks, healthcheck, auth/identity
  kRead,        // tenant/database/collection reads, get, query, count
  kWrite,       // anything that changes an instance (see WriteKind)
  kOwn,         // chroma-ha's own endpoints: /health /status /wal/* /metrics /dashboard /admin/*
  kUnknown,     // not a known Chroma route: forwarded to the primary, logged and counted
  kInvalid,     // rejected before anything else: dot-segments, bad percent-encoding, NUL, ...
};

enum class WriteKind {
  kNone,
  kReset,             // POST /api/v2/reset
  kCreateTenant,      // POST /api/v2/tenants
  kCreateDatabase,    // POST T/databases
  kDeleteDatabase,    // DELETE T/D
  kCreateCollection,  // POST T/D/collections
  kModifyCollection,  // PUT  T/D/collections/{id}
  kDeleteCollection,  // DELETE T/D/collections/{name}
  kAdd,               // POST T/D/collections/{id}/add
  kUpsert,            // POST T/D/collections/{id}/upsert
  kUpdate,            // POST T/D/collections/{id}/update
  kDelete,            // POST T/D/collections/{id}/delete
  kFork,              // POST T/D/collections/{id}/fork
};

// How the collection segment of the path names the collection.
enum class CollectionRef {
  kNone,  // no collection segment
  kName,  // GET/DELETE T/D/collections/{name}
  kId,    // everything else: T/D/collections/{uuid}/...
};

struct Route {
  RouteClass cls = RouteClass::kUnknown;
  WriteKind write = WriteKind::kNone;
  // Percent-decoded path segments; empty when the route has none.
  std::string tenant;
  std::string database;
  std::string collection;  // the {name} or {uuid} segment, decoded
  CollectionRef ref = CollectionRef::kNone;
  // For kInvalid: why, for the 400 message.
  std::string error;
};

// `target` is the request-target as received (origin-form, may carry a query string).
Route Classify(std::string_view method, std::string_view target);

const char* RouteClassName(RouteClass cls);   // "system_read", "read", "write", ...
const char* WriteKindName(WriteKind kind);    // "add", "create_collection", ...

}  // namespace chroma_ha

#endif  // CHROMA_HA_ROUTE_H_
