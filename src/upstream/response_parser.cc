#include "upstream/response_parser.h"

#include <boost/beast/core/string.hpp>

#include "upstream/upstream_pool.h"

namespace chroma_ha {

namespace beast = boost::beast;

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls visit(token) for each trimmed element of a comma-separated list until it returns true;
// true when one did.
template <typename Visit>
bool AnyToken(std::string_view list, Visit visit) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (visit(Trim(list.substr(0, comma)))) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool ListedInConnection(std::string_view connection, std::string_view name) {
  return AnyToken(connection, [&](std::string_view token) { return beast::iequals(token, name); });
}

void ResponseParser::on_field_impl(field name, string_view name_string, string_view value,
                                   error_code&) {
  const std::string_view n(name_string.data(), name_string.size());
  if (IsHopByHopHeader(n)) {
    if (name != field::connection) return;
    // The names it lists, but for the usual options ("keep-alive", "close"): those name no
    // header left to drop (Keep-Alive is hop-by-hop anyway), and most answers carry only one.
    AnyToken(std::string_view(value.data(), value.size()), [&](std::string_view token) {
      if (!token.empty() && !beast::iequals(token, "keep-alive") &&
          !beast::iequals(token, "close")) {
        if (!connection_.empty()) connection_.push_back(',');
        connection_.append(token);
      }
      return false;
    });
    return;
  }
  message_.headers.push_back({std::string(n), std::string(value.data(), value.size())});
}

void ResponseParser::on_header_impl(error_code&) {
  if (connection_.empty()) return;
  // A name the Connection header lists may have come before it: dropped now that it is known.
  std::erase_if(message_.headers,
                [&](const Header& h) { return ListedInConnection(connection_, h.name); });
}

}  // namespace chroma_ha
