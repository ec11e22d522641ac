#include "monitor/resync_cli.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "chroma_ha/config.h"
#include "monitor/monitor.h"
#include "monitor/resync_progress.h"
#include "sync/chroma_api.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRequestTimeout{10000};

struct Options {
  std::string instance, source;
  double interval_seconds = 1;
};

std::string ParseArgs(const std::vector<std::string>& args, Options* o) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--source" || a == "--interval") {
      if (i + 1 >= args.size() || args[i + 1].empty()) return a + " needs a value";
      const std::string& v = args[++i];
      if (a == "--source") {
        o->source = v;
        continue;
      }
      char* end = nullptr;
      o->interval_seconds = std::strtod(v.c_str(), &end);
      if (*end != '\0' || o->interval_seconds < 0.05 || o->interval_seconds > 3600) {
        return "--interval needs a number of seconds from 0.05 to 3600";
      }
    } else if (a.size() > 1 && a[0] == '-') {
      return "unknown option '" + a + "'";
    } else if (o->instance.empty()) {
      o->instance = a;
    } else {
      return "unexpected argument '" + a + "'";
    }
  }
  return o->instance.empty() ? "which instance? (chroma-ha resync INSTANCE)" : "";
}

// The answer's {"error","message"} as one line, else its status and start of body.
std::string ErrorText(const HttpResponse& r) {
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    return "HTTP " + std::to_string(r.status) + " " + body.value("error", std::string()) + ": " +
           body["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(r.status) + ": " + Utf8Prefix(r.body, 200);
}

// One call; the state it answered, or an error line with `*fatal` set for refusals (4xx).
// `*http_status` receives the answer's status (0 when none).
Result<ResyncProgress> Call(InstanceClient& proxy, const Config& config, const std::string& method,
                            const std::string& path, const std::string& body, bool* fatal,
                            int* http_status = nullptr) {
  HttpRequest req = JsonRequest(method, path, body);
  if (!config.admin_token.empty()) {
    req.headers.push_back({"authorization", "Bearer " + config.admin_token});
  }
  *fatal = false;
  auto r = proxy.Send(req);
  if (!r.ok()) {
    return Status::Unavailable("cannot reach chroma-ha at " + RedactUrl(config.monitor_proxy_url) +
                               ": " + r.status().message());
  }
  if (http_status != nullptr) *http_status = r->status;
  if (r->status >= 400 && r->status < 500) {
    *fatal = true;
    return Status::InvalidArgument(method + " " + path + ": " + ErrorText(*r));
  }
  if (r->status != 200 && r->status != 202) {
    return Status::Unavailable(method + " " + path + ": " + ErrorText(*r));
  }
  auto state = ParseResyncProgress(json::parse(r->body, nullptr, false));
  if (!state.ok()) {
    *fatal = true;
    return Status::Internal(method + " " + path + ": " + state.status().message());
  }
  return state;
}

int TerminalWidth() {
  winsize w{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
  return 80;
}

// Shows `p`: redrawn in place on a terminal, a new line when it changed otherwise.
class Display {
 public:
  explicit Display(bool tty) : tty_(tty) {}
  void Show(const ResyncProgress& p) {
    if (tty_) {
      std::printf("\r\x1b[2K%s", RenderTerminal(p, TerminalWidth()).c_str());
    } else {
      const std::string line = RenderPlain(p);
      if (line == last_) return;
      last_ = line;
      std::printf("%s\n", line.c_str());
    }
    std::fflush(stdout);
  }
  void End() {
    if (tty_) std::printf("\n");
    std::fflush(stdout);
  }

 private:
  bool tty_;
  std::string last_;
};

}  // namespace

std::string ResyncHelpText() {
  return "Usage: chroma-ha resync INSTANCE [--source NAME] [--interval SECONDS]\n\n"
         "Starts a resync of INSTANCE (copies every tenant, database, collection and record\n"
         "from NAME, default the primary, while chroma-ha serves) or follows the one running,\n"
         "and shows its progress until it ends: a bar with records/s and ETA on a terminal,\n"
         "plain lines otherwise. Reads PROXY_URL (chroma-ha's URL) and ADMIN_TOKEN.\n"
         "Exit status: 0 done, 1 failed, 2 refused, unreachable or bad arguments.\n";
}

int RunResync(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(ResyncHelpText().c_str(), stdout);
      return 0;
    }
  }
  Options options;
  if (auto error = ParseArgs(args, &options); !error.empty()) {
    std::fprintf(stderr, "chroma-ha resync: %s (see chroma-ha resync --help)\n", error.c_str());
    return 2;
  }
  Config config;
  std::unique_ptr<InstanceClient> proxy;
  try {
    std::vector<std::string> warnings;
    config = LoadConfig(env, &warnings);
    proxy = MakeProxyClient(config, kRequestTimeout);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "chroma-ha resync: configuration error: %s\n", e.what());
    return 2;
  }
  const std::string path = "/admin/instances/" + EncodePathSegment(options.instance) + "/resync";
  json body = json::object();
  if (!options.source.empty()) body["source"] = options.source;
  bool fatal = false;
  int started = 0;
  auto state = Call(*proxy, config, "POST", path, body.dump(), &fatal, &started);
  if (!state.ok()) {
    std::fprintf(stderr, "chroma-ha resync: %s\n", state.status().message().c_str());
    return 2;
  }
  std::fprintf(stderr, "chroma-ha resync: %s of %s from %s\n",
               started == 202 ? "started a resync" : "following the resync already running",
               options.instance.c_str(), state->source.c_str());
  Display display(isatty(STDOUT_FILENO) == 1);
  const auto interval =
      std::chrono::milliseconds(static_cast<int64_t>(options.interval_seconds * 1000));
  auto last_answer = Clock::now();
  while (true) {
    if (state.ok()) {
      last_answer = Clock::now();
      display.Show(*state);
      if (state->state == "done") {
        display.End();
        std::fprintf(stderr, "chroma-ha resync: %s done (%lld records, %lld copied twice)\n",
                     options.instance.c_str(), static_cast<long long>(state->records_done),
                     static_cast<long long>(state->records_recopied));
        return 0;
      }
      if (state->state == "failed") {
        display.End();
        std::fprintf(stderr, "chroma-ha resync: %s failed: %s\n", options.instance.c_str(),
                     state->reason.empty() ? "(no reason given)" : state->reason.c_str());
        return 1;
      }
    } else if (fatal || Clock::now() - last_answer > kUnreachableFor) {
      display.End();
      std::fprintf(stderr, "chroma-ha resync: %s\n", state.status().message().c_str());
      return 2;
    }
    std::this_thread::sleep_for(interval);
    state = Call(*proxy, config, "GET", path, "", &fatal);
  }
}

}  // namespace chroma_ha
