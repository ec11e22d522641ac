// URL helpers for the configuration: instance URLs and password redaction. Pure functions.
#ifndef CHROMA_HA_CONFIG_URL_H_
#define CHROMA_HA_CONFIG_URL_H_

#include <optional>
#include <string>
#include <string_view>

#include "chroma_ha/config.h"

namespace chroma_ha {

// Parses `http(s)://host[:port][/]` (scheme case-insensitive, IPv6 as `[::1]`, default port
// 80/443); a bare `host[:port]` (as Render's `hostport` gives it) is taken as http://. Fills url (lower-case scheme, no trailing slash), host (IPv6 without brackets), port
// and tls; name and is_primary are left to the caller. On error returns nullopt and sets
// `*error` to what is wrong, without quoting the URL.
std::optional<InstanceConfig> ParseInstanceUrl(std::string_view url, std::string* error);

}  // namespace chroma_ha

#endif  // CHROMA_HA_CONFIG_URL_H_
