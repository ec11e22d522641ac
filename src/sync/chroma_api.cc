#include "sync/chroma_api.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "proxy/path_rewrite.h"

namespace chroma_ha {
namespace {

constexpr size_t kMaxErrorMessage = 300;

}  // namespace

std::string EncodePathSegment(std::string_view in) { return PercentEncodeSegment(in); }

std::string CollectionsPath(std::string_view tenant, std::string_view database) {
  return "/api/v2/tenants/" + EncodePathSegment(tenant) + "/databases/" +
         EncodePathSegment(database) + "/collections";
}

std::string CollectionPath(std::string_view tenant, std::string_view database,
                           std::string_view name_or_id) {
  return CollectionsPath(tenant, database) + "/" + EncodePathSegment(name_or_id);
}

bool HasCollectionPlaceholder(std::string_view path) {
  auto segment = FindCollectionSegment(path);
  return segment && path.substr(segment->offset, segment->length) == kCollectionPlaceholder;
}

std::string ExpandCollectionPlaceholder(std::string_view path, std::string_view value) {
  return ExpandCollectionTemplate(path, value);
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

std::string_view Utf8PrefixView(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t cut = max_bytes;
  // Back over at most three continuation bytes (10xxxxxx) to the start of the character.
  for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++i) {
    --cut;
  }
  if ((static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut = max_bytes;  // not UTF-8 anyway
  return s.substr(0, cut);
}

std::string Utf8Prefix(std::string_view s, size_t max_bytes) {
  return std::string(Utf8PrefixView(s, max_bytes));
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
      if (message.size() > kMaxErrorMessage)
        message = Utf8Prefix(message, kMaxErrorMessage) + "...";
      out += ": " + message;
    }
  }
  return out;
}

}  // namespace chroma_ha
