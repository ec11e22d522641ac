#include "monitor/resync_progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace chroma_ha {
namespace {

using json = nlohmann::json;

int64_t Int(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string Str(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : "";
}

// Whole percent of records (collections when no record total is known yet).
int Percent(const ResyncProgress& p) {
  if (p.state == "done") return 100;
  const int64_t done = p.records_total > 0 ? p.records_done : p.collections_done;
  const int64_t total = p.records_total > 0 ? p.records_total : p.collections_total;
  if (total <= 0) return 0;
  return static_cast<int>(std::clamp<int64_t>(done * 100 / total, 0, 100));
}

std::string Rate(double per_second) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", std::max(0.0, per_second));
  return buf;
}

}  // namespace

Result<ResyncProgress> ParseResyncProgress(const json& body) {
  if (!body.is_object() || !body.contains("state") || !body["state"].is_string()) {
    return Status::InvalidArgument("not a resync state object (no \"state\")");
  }
  ResyncProgress p;
  p.instance = Str(body, "instance");
  p.source = Str(body, "source");
  p.state = Str(body, "state");
  p.reason = Str(body, "reason");
  p.collections_done = Int(body, "collections_done");
  p.collections_total = Int(body, "collections_total");
  p.records_done = Int(body, "records_done");
  p.records_total = Int(body, "records_total");
  p.records_recopied = Int(body, "records_recopied");
  if (auto it = body.find("records_per_second"); it != body.end() && it->is_number()) {
    p.records_per_second = it->get<double>();
  }
  if (auto it = body.find("eta_seconds"); it != body.end() && it->is_number()) {
    p.eta_seconds = it->get<double>();
  }
  p.started_at_ms = Int(body, "started_at_ms");
  if (auto it = body.find("finished_at_ms"); it != body.end() && it->is_number()) {
    p.finished_at_ms = it->get<int64_t>();
  }
  return p;
}

std::string GroupThousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string FormatEta(std::optional<double> seconds) {
  if (!seconds || !std::isfinite(*seconds) || *seconds < 0) return "--";
  const auto s = static_cast<int64_t>(std::llround(*seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return buf;
}

std::string RenderTerminal(const ResyncProgress& p, int width) {
  const int pct = Percent(p);
  char pct_text[8];
  std::snprintf(pct_text, sizeof pct_text, "%3d%%", pct);
  std::string tail = std::string(" ") + pct_text + "  " + GroupThousands(p.records_done) + "/" +
                     GroupThousands(p.records_total) + " records  " +
                     GroupThousands(static_cast<int64_t>(std::llround(p.records_per_second))) +
                     " rec/s  ETA " + FormatEta(p.eta_seconds) + "  " +
                     std::to_string(p.collections_done) + "/" +
                     std::to_string(p.collections_total) + " collections";
  if (p.state != "running") tail += "  " + p.state;
  const std::string head = p.instance + " ";
  const int room = width - static_cast<int>(head.size() + tail.size());
  const int cells = std::clamp(room, 10, 40);
  const int filled = cells * pct / 100;
  return head + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(cells - filled), '-') + tail;
}

std::string RenderPlain(const ResyncProgress& p) {
  std::string line =
      "resync " + p.instance + ": " + p.state + " " + std::to_string(Percent(p)) + "% records " +
      std::to_string(p.records_done) + "/" + std::to_string(p.records_total) + " collections " +
      std::to_string(p.collections_done) + "/" + std::to_string(p.collections_total) + " rate " +
      Rate(p.records_per_second) + " records/s eta " +
      (p.eta_seconds ? Rate(*p.eta_seconds) + " s" : std::string("unknown"));
  if (!p.reason.empty()) line += " reason: " + p.reason;
  return line;
}

}  // namespace chroma_ha
