#include "auth/scope.h"

#include <nlohmann/json.hpp>

namespace chroma_ha {

namespace {

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

bool IsReadMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

// The "name" member of a JSON body, or "" (then only a wildcard scope allows the creation).
std::string BodyName(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return "";
  auto it = doc.find("name");
  return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string OutOfScope(const Principal& p, const Route& route) {
  if (!route.tenant.empty() && !p.HasTenant(route.tenant)) {
    return "tenant " + Quoted(route.tenant) + " is outside the token's scope";
  }
  if (!route.database.empty() && !p.HasDatabase(route.database)) {
    return "database " + Quoted(route.database) + " is outside the token's scope";
  }
  if (route.tenant.empty() && !(p.AllTenants() && p.AllDatabases())) {
    return "this route needs a token over every tenant and database";
  }
  return "";
}

std::string WriteRefusal(const Principal& p, const Route& route, std::string_view body) {
  if (p.read_only) return "the token is read-only";
  auto needs_manage = [&p](const char* what) -> std::string {
    return p.manage ? "" : std::string("the token may not ") + what + " (\"manage\" is off)";
  };
  switch (route.write) {
    case WriteKind::kReset:
      if (!p.manage || !p.AllTenants() || !p.AllDatabases()) {
        return "reset needs a token over every tenant and database with \"manage\"";
      }
      return "";
    case WriteKind::kCreateTenant: {
      if (auto r = needs_manage("create tenants"); !r.empty()) return r;
      const std::string name = BodyName(body);
      if (p.AllTenants() || (!name.empty() && p.tenant == name)) return "";
      return "tenant " + Quoted(name) + " is outside the token's scope";
    }
    case WriteKind::kCreateDatabase: {
      if (auto r = needs_manage("create databases"); !r.empty()) return r;
      if (auto r = OutOfScope(p, route); !r.empty()) return r;
      const std::string name = BodyName(body);
      if (p.AllDatabases() || (!name.empty() && p.HasDatabase(name))) return "";
      return "database " + Quoted(name) + " is outside the token's scope";
    }
    case WriteKind::kDeleteDatabase:
      if (auto r = needs_manage("delete databases"); !r.empty()) return r;
      return OutOfScope(p, route);
    default:
      return OutOfScope(p, route);
  }
}

}  // namespace

bool IsIdentityRequest(const Route& route, std::string_view target) {
  return route.cls == RouteClass::kSystemRead && PathOf(target) == "/api/v2/auth/identity";
}

bool NeedsClientToken(const Route& route, std::string_view target) {
  switch (route.cls) {
    case RouteClass::kOwn:
      return false;
    case RouteClass::kSystemRead:
      return IsIdentityRequest(route, target);
    default:
      return true;
  }
}

std::string ScopeRefusal(const Principal& p, std::string_view method, const Route& route,
                         std::string_view body) {
  switch (route.cls) {
    case RouteClass::kOwn:
    case RouteClass::kSystemRead:
    case RouteClass::kInvalid:  // answered 400 without reaching anything
      return "";
    case RouteClass::kRead:
      return OutOfScope(p, route);
    case RouteClass::kWrite:
      return WriteRefusal(p, route, body);
    case RouteClass::kUnknown:
      if (IsReadMethod(method)) return OutOfScope(p, route);
      if (p.read_only) return "the token is read-only";
      if (route.database.empty() && !p.manage) {
        return "the token may not change tenants or databases (\"manage\" is off)";
      }
      return OutOfScope(p, route);
  }
  return "unknown route class";
}

}  // namespace chroma_ha
