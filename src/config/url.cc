#include "config/url.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace chroma_ha {
namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// Replaces [begin, end) of `s` with "***".
void Mask(std::string* s, std::size_t begin, std::size_t end) {
  s->replace(begin, end - begin, "***");
}

}  // namespace

std::optional<InstanceConfig> ParseInstanceUrl(std::string_view url, std::string* error) {
  // A bare host[:port] (what Render's `fromService: hostport` wires) means http://host[:port].
  if (url.find("://") == std::string_view::npos && !url.empty() && url.front() != '/') {
    return ParseInstanceUrl("http://" + std::string(url), error);
  }
  InstanceConfig out;
  std::string_view rest;
  if (StartsWithNoCase(url, "http://")) {
    rest = url.substr(7);
  } else if (StartsWithNoCase(url, "https://")) {
    rest = url.substr(8);
    out.tls = true;
  } else {
    *error = "is not an http:// or https:// URL";
    return std::nullopt;
  }
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos && rest.substr(end) != "/") {
    *error = "must not have a path, query or fragment (only http(s)://host[:port])";
    return std::nullopt;
  }
  if (authority.find('@') != std::string_view::npos) {
    *error = "must not contain user information (Chroma servers have no auth)";
    return std::nullopt;
  }
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) {
      *error = "has a malformed IPv6 address";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        *error = "has a malformed IPv6 address";
        return std::nullopt;
      }
      port_text = after.substr(1);
      if (port_text.empty()) port_text = "x";  // "host:" is an error
    }
    for (char c : out.host) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        *error = "has a malformed IPv6 address";
        return std::nullopt;
      }
    }
  } else {
    std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) port_text = "x";
    }
    for (char c : out.host) {
      if (!IsHostChar(c)) {
        *error = "has an invalid host name";
        return std::nullopt;
      }
    }
  }
  if (out.host.empty()) {
    *error = "has no host";
    return std::nullopt;
  }
  out.port = out.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), n);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || n < 1 || n > 65535) {
      *error = "has an invalid port (1-65535)";
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(n);
  }
  out.url = std::string(out.tls ? "https://" : "http://") + std::string(authority);
  return out;
}

std::string RedactUrl(const std::string& url) {
  std::string out = url;
  // URI form: scheme://user:password@host...
  std::size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    std::size_t start = scheme + 3;
    std::size_t end = out.find_first_of("/?#", start);
    if (end == std::string::npos) end = out.size();
    std::size_t at = out.rfind('@', end - 1);
    if (at != std::string::npos && at >= start) {
      std::size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) Mask(&out, colon + 1, at);
    }
  }
  // Keyword form and URI parameters: password=VALUE, password = 'quoted value'.
  std::size_t pos = 0;
  while ((pos = out.find('=', pos)) != std::string::npos) {
    std::size_t k = pos;
    while (k > 0 && out[k - 1] == ' ') --k;
    std::size_t kb = k;
    while (kb > 0 && (std::isalnum(static_cast<unsigned char>(out[kb - 1])) || out[kb - 1] == '_'))
      --kb;
    std::string key = out.substr(kb, k - kb);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t v = pos + 1;
    if (key != "password") {
      pos = v;
      continue;
    }
    while (v < out.size() && out[v] == ' ') ++v;
    std::size_t e = v;
    if (e < out.size() && out[e] == '\'') {
      ++e;
      while (e < out.size() && out[e] != '\'') e += out[e] == '\\' ? 2 : 1;
      e = std::min(e + 1, out.size());
    } else {
      while (e < out.size() && out[e] != '&' && out[e] != ' ' && out[e] != '#') ++e;
    }
    Mask(&out, v, e);
    pos = v + 3;
  }
  return out;
}

}  // namespace chroma_ha
