#include "upstream/response_parser.h"

#include <algorithm>

#include "upstream/upstream_pool.h"

namespace chroma_ha {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool ListedInConnection(std::string_view connection, std::string_view name) {
  while (!connection.empty()) {
    const std::size_t comma = connection.find(',');
    if (EqualsIgnoreCase(Trim(connection.substr(0, comma)), name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

void ResponseParser::on_field_impl(field name, string_view name_string, string_view value,
                                   error_code&) {
  const std::string_view n(name_string.data(), name_string.size());
  if (IsHopByHopHeader(n)) {
    if (name != field::connection) return;
    // The names it lists, but for the usual options ("keep-alive", "close"): those name no
    // header left to drop (Keep-Alive is hop-by-hop anyway), and most answers carry only one.
    std::string_view rest(value.data(), value.size());
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view token = Trim(rest.substr(0, comma));
      if (!token.empty() && !EqualsIgnoreCase(token, "keep-alive") &&
          !EqualsIgnoreCase(token, "close")) {
        if (!connection_.empty()) connection_.push_back(',');
        connection_.append(token);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
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
