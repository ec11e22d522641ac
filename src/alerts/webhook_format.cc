#include "alerts/webhook_format.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>

#include "config/url.h"

namespace chroma_ha {

using nlohmann::json;

std::string IsoTime(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

std::string SlackBody(const Alert& alert, int64_t unix_ms) {
  const char* icon = alert.resolved                                ? ":white_check_mark:"
                     : alert.severity == AlertSeverity::kCritical ? ":rotating_light:"
                     : alert.severity == AlertSeverity::kWarning  ? ":warning:"
                                                                  : ":information_source:";
  std::string head = std::string(icon) + " *" + (alert.resolved ? "Resolved: " : "") +
                     alert.title + "*";
  std::string text = alert.text.empty() ? head : head + "\n" + alert.text;
  std::string context = "chroma-ha | " + alert.key + " | " +
                        (alert.resolved ? "resolved" : SeverityName(alert.severity)) + " | " +
                        IsoTime(unix_ms);
  json body = {
      {"text", text},
      {"blocks",
       json::array({{{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", text}}}},
                    {{"type", "context"},
                     {"elements", json::array({{{"type", "mrkdwn"}, {"text", context}}})}}})}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string GenericBody(const Alert& alert, int64_t unix_ms) {
  json body = {{"key", alert.key},         {"severity", SeverityName(alert.severity)},
               {"title", alert.title},     {"text", alert.text},
               {"resolved", alert.resolved}, {"time", IsoTime(unix_ms)}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string FormatBody(WebhookFormat format, const Alert& alert, int64_t unix_ms) {
  return format == WebhookFormat::kSlack ? SlackBody(alert, unix_ms) : GenericBody(alert, unix_ms);
}

std::optional<WebhookTarget> ParseWebhookUrl(std::string_view url, std::string* error) {
  std::size_t scheme = url.find("://");
  std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t path = url.find_first_of("/?#", start);
  auto inst = ParseInstanceUrl(url.substr(0, path), error);
  if (!inst) return std::nullopt;
  WebhookTarget t;
  t.tls = inst->tls;
  t.host = inst->host;
  t.port = inst->port;
  std::string_view rest = path == std::string_view::npos ? "" : url.substr(path);
  rest = rest.substr(0, rest.find('#'));
  t.target = std::string(rest);
  if (t.target.empty() || t.target[0] != '/') t.target = "/" + t.target;
  return t;
}

}  // namespace chroma_ha
