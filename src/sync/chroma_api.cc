#include "sync/chroma_api.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace chroma_ha {
namespace {

constexpr std::string_view kCollectionsInfix = "/collections/";
constexpr size_t kMaxErrorMessage = 300;

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Offset of the "{collection}" segment in `path`, or npos.
size_t PlaceholderOffset(std::string_view path) {
  const size_t query = path.find('?');
  const std::string_view route = path.substr(0, query);
  for (size_t at = route.find(kCollectionsInfix); at != std::string_view::npos;
       at = route.find(kCollectionsInfix, at + 1)) {
    const size_t seg = at + kCollectionsInfix.size();
    if (route.compare(seg, kCollectionSegment.size(), kCollectionSegment) != 0) continue;
    const size_t end = seg + kCollectionSegment.size();
    if (end == route.size() || route[end] == '/') return seg;
  }
  return std::string_view::npos;
}

}  // namespace

std::string EncodePathSegment(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string CollectionsPath(std::string_view tenant, std::string_view database) {
  return "/api/v2/tenants/" + EncodePathSegment(tenant) + "/databases/" +
         EncodePathSegment(database) + "/collections";
}

std::string CollectionPath(std::string_view tenant, std::string_view database,
                           std::string_view name_or_id) {
  return CollectionsPath(tenant, database) + "/" + EncodePathSegment(name_or_id);
}

bool HasCollectionPlaceholder(std::string_view path) {
  return PlaceholderOffset(path) != std::string_view::npos;
}

std::string ExpandCollectionPlaceholder(std::string_view path, std::string_view value) {
  const size_t at = PlaceholderOffset(path);
  if (at == std::string_view::npos) return std::string(path);
  std::string out(path.substr(0, at));
  out += EncodePathSegment(value);
  out += path.substr(at + kCollectionSegment.size());
  return out;
}

HttpRequest JsonRequest(std::string method, std::string target, std::string body) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.headers.push_back({"content-type", "application/json"});
  request.body = std::move(body);
  return request;
}

std::optional<std::string> CollectionIdOf(std::string_view body) {
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  auto it = doc.find("id");
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  std::string id = it->get<std::string>();
  if (id.empty()) return std::nullopt;
  return id;
}

std::string ErrorName(const HttpResponse& response) {
  std::string out = "HTTP " + std::to_string(response.status);
  const nlohmann::json doc =
      nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    auto it = doc.find("error");
    if (it != doc.end() && it->is_string()) out += " " + it->get<std::string>();
  }
  return out;
}

std::string ErrorSummary(const HttpResponse& response) {
  std::string out = ErrorName(response);
  const nlohmann::json doc =
      nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    auto it = doc.find("message");
    if (it != doc.end() && it->is_string()) {
      std::string message = it->get<std::string>();
      if (message.size() > kMaxErrorMessage) message = message.substr(0, kMaxErrorMessage) + "...";
      out += ": " + message;
    }
  }
  return out;
}

}  // namespace chroma_ha
