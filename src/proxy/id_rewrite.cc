// A minimal scanner over JSON that nlohmann::json::accept() has already validated: it finds the
// byte ranges of the members it needs, so that the id can be replaced without re-serialising
// the body (a dump() would respell numbers such as 1e-7 and escape characters differently).
#include "proxy/id_rewrite.h"

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace chroma_ha {
namespace {

struct Span {
  std::size_t begin = 0;  // the opening quote of a string literal
  std::size_t end = 0;    // one past the closing quote
};

struct Found {
  SeenCollection seen;
  Span id;
};

class Scanner {
 public:
  explicit Scanner(std::string_view text) : s_(text) {}

  std::vector<Found> Scan() {
    std::vector<Found> out;
    SkipWs();
    if (AtEnd()) return out;
    if (s_[i_] == '{') {
      if (auto f = ScanObject()) out.push_back(std::move(*f));
    } else if (s_[i_] == '[') {
      ++i_;
      SkipWs();
      while (!AtEnd() && s_[i_] != ']') {
        if (s_[i_] == '{') {
          if (auto f = ScanObject()) out.push_back(std::move(*f));
        } else {
          SkipValue();
        }
        SkipWs();
        if (!AtEnd() && s_[i_] == ',') ++i_;
        SkipWs();
      }
    }
    return out;
  }

 private:
  bool AtEnd() const { return i_ >= s_.size(); }
  void SkipWs() {
    while (!AtEnd() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  // At an opening quote; moves past the closing one.
  Span SkipString() {
    Span span{i_, i_};
    ++i_;
    while (!AtEnd() && s_[i_] != '"') i_ += s_[i_] == '\\' ? 2 : 1;
    ++i_;
    span.end = i_;
    return span;
  }
  void SkipValue() {
    if (s_[i_] == '"') {
      SkipString();
      return;
    }
    if (s_[i_] == '{' || s_[i_] == '[') {
      int depth = 0;
      while (!AtEnd()) {
        char c = s_[i_];
        if (c == '"') {
          SkipString();
          continue;
        }
        ++i_;
        if (c == '{' || c == '[') ++depth;
        if ((c == '}' || c == ']') && --depth == 0) return;
      }
      return;
    }
    while (!AtEnd() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && s_[i_] != ' ' &&
           s_[i_] != '\t' && s_[i_] != '\n' && s_[i_] != '\r') {
      ++i_;
    }
  }
  std::string Decode(Span span) const {
    std::string_view lit = s_.substr(span.begin, span.end - span.begin);
    std::string_view inner = lit.substr(1, lit.size() - 2);
    if (inner.find('\\') == std::string_view::npos) return std::string(inner);
    nlohmann::json j = nlohmann::json::parse(lit, nullptr, /*allow_exceptions=*/false);
    return j.is_string() ? j.get<std::string>() : std::string();
  }
  // At '{' of an object; moves past its '}'.
  std::optional<Found> ScanObject() {
    ++i_;
    Found f;
    bool has_id = false, has_name = false, has_tenant = false, has_database = false;
    SkipWs();
    while (!AtEnd() && s_[i_] != '}') {
      std::string key = Decode(SkipString());
      SkipWs();
      ++i_;  // ':'
      SkipWs();
      if (s_[i_] == '"') {
        Span value = SkipString();
        if (key == "id" && !has_id) {
          f.id = value;
          f.seen.id = Decode(value);
          has_id = true;
        } else if (key == "name" && !has_name) {
          f.seen.name = Decode(value);
          has_name = true;
        } else if (key == "tenant" && !has_tenant) {
          f.seen.tenant = Decode(value);
          has_tenant = true;
        } else if (key == "database" && !has_database) {
          f.seen.database = Decode(value);
          has_database = true;
        }
      } else {
        SkipValue();
      }
      SkipWs();
      if (!AtEnd() && s_[i_] == ',') ++i_;
      SkipWs();
    }
    ++i_;  // '}'
    if (has_id && has_name && has_tenant && has_database) return f;
    return std::nullopt;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

std::vector<Found> Scan(std::string_view body) {
  std::size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || (body[first] != '{' && body[first] != '[')) return {};
  if (!nlohmann::json::accept(body)) return {};
  return Scanner(body).Scan();
}

}  // namespace

IdRewriteResult RewriteCollectionIds(std::string* body, const CanonicalIdFn& canonical) {
  IdRewriteResult result;
  std::vector<Found> found = Scan(*body);
  result.collections = static_cast<int>(found.size());
  std::vector<std::pair<Span, std::string>> replacements;
  for (const Found& f : found) {
    std::string id = canonical(f.seen);
    if (id.empty() || id == f.seen.id) continue;
    // `replace`: an id that is not valid UTF-8 must not throw on the request path.
    replacements.emplace_back(
        f.id, nlohmann::json(id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  if (replacements.empty()) return result;
  std::string out;
  out.reserve(body->size() + 64 * replacements.size());
  std::size_t pos = 0;
  for (const auto& [span, literal] : replacements) {  // in body order
    out.append(*body, pos, span.begin - pos);
    out.append(literal);
    pos = span.end;
  }
  out.append(*body, pos, std::string::npos);
  *body = std::move(out);
  result.rewritten = static_cast<int>(replacements.size());
  return result;
}

std::vector<SeenCollection> FindCollections(std::string_view body) {
  std::vector<SeenCollection> out;
  for (Found& f : Scan(body)) out.push_back(std::move(f.seen));
  return out;
}

}  // namespace chroma_ha
