// Plain HTTP request/response values shared by the proxy, the sync worker and their fakes.
// No Boost here: the listener and the upstream pool convert to and from Beast messages.
#ifndef CHROMA_HA_HTTP_MESSAGE_H_
#define CHROMA_HA_HTTP_MESSAGE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chroma_ha {

struct Header {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // origin-form path with optional query, exactly as received
  std::vector<Header> headers;  // end-to-end headers only (no Host, Connection, ...)
  std::string body;             // byte-exact
  std::string peer = {};  // the client's address as the listener saw it ("" when unknown)
};

struct HttpResponse {
  int status = 0;
  std::vector<Header> headers;  // end-to-end headers only
  std::string body;             // byte-exact
  int served_by = -1;           // index of the instance that answered; -1: chroma-ha itself
};

// Case-insensitive header lookup; the first match.
inline std::optional<std::string_view> FindHeader(const std::vector<Header>& headers,
                                                  std::string_view name) {
  for (const auto& h : headers) {
    if (h.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      char a = h.name[i], b = name[i];
      if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
      if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
      same = a == b;
    }
    if (same) return std::string_view(h.value);
  }
  return std::nullopt;
}

}  // namespace chroma_ha

#endif  // CHROMA_HA_HTTP_MESSAGE_H_
