// Webhook message bodies and URL parsing for alerts. Pure functions.
#ifndef CHROMA_HA_ALERTS_WEBHOOK_FORMAT_H_
#define CHROMA_HA_ALERTS_WEBHOOK_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chroma_ha/alert_sink.h"

namespace chroma_ha {

enum class WebhookFormat { kSlack, kGeneric };

// Slack incoming webhook: {"text": "<emoji> *title*\ntext", "blocks": [a section with the same
// mrkdwn text, a context line with key, severity and time]}. Resolved alerts say so in the text.
std::string SlackBody(const Alert& alert, int64_t unix_ms);
// Generic: {"key","severity","title","text","resolved","time"} with time as ISO 8601 UTC
// ("2024-01-01T00:00:00.000Z").
std::string GenericBody(const Alert& alert, int64_t unix_ms);
std::string FormatBody(WebhookFormat format, const Alert& alert, int64_t unix_ms);

// "2024-01-01T00:00:00.000Z".
std::string IsoTime(int64_t unix_ms);

struct WebhookTarget {
  bool tls = false;
  std::string host;    // IPv6 without brackets
  uint16_t port = 0;
  std::string target;  // path and query, "/" at least
};

// Parses http(s)://host[:port][/path][?query] (a bare host:port is http://). Any fragment is
// dropped. nullopt if it is not such a URL; the URL itself is never put in `*error` (a secret).
std::optional<WebhookTarget> ParseWebhookUrl(std::string_view url, std::string* error);

}  // namespace chroma_ha

#endif  // CHROMA_HA_ALERTS_WEBHOOK_FORMAT_H_
