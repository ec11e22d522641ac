// chroma-ha: parse the configuration, build the objects, run. Nothing else.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "monitor/monitor.h"
#include "monitor/resync_cli.h"
#include "server/app.h"
#include "verify/verify.h"

namespace {

void SetUpLogging(const chroma_ha::Config& config) {
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (config.log_format == chroma_ha::LogFormat::kJson) {
    spdlog::set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "monitor") {
    return chroma_ha::RunMonitor({args.begin() + 1, args.end()}, chroma_ha::ProcessEnvironment());
  }
  if (!args.empty() && args[0] == "resync") {
    return chroma_ha::RunResync({args.begin() + 1, args.end()}, chroma_ha::ProcessEnvironment());
  }
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(chroma_ha::HelpText().c_str(), stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("chroma-ha %s\n", CHROMA_HA_VERSION);
      return 0;
    }
  }
  if (!args.empty() && args[0] == "verify") {
    return chroma_ha::RunVerify({args.begin() + 1, args.end()}, chroma_ha::ProcessEnvironment());
  }
  if (!args.empty()) {
    std::fprintf(stderr, "chroma-ha: unknown argument '%s' (see --help)\n", args[0].c_str());
    return 2;
  }

  chroma_ha::Config config;
  std::vector<std::string> warnings;
  try {
    config = chroma_ha::LoadConfig(chroma_ha::ProcessEnvironment(), &warnings);
  } catch (const chroma_ha::ConfigError& e) {
    std::fprintf(stderr, "chroma-ha: configuration error: %s\n", e.what());
    return 2;
  }
  SetUpLogging(config);
  for (const auto& w : warnings) spdlog::warn("{}", w);

  chroma_ha::SystemClock clock;
  // Run by this thread alone (worker 0), like the other workers: with the hint, work this thread
  // posts to itself is queued without taking the scheduler lock.
  boost::asio::io_context ioc(1);
  // Building the parts checks what LoadConfig cannot (e.g. an instance the upstream pool cannot
  // serve): a ConfigError there is a configuration error too, never an uncaught exception.
  std::unique_ptr<chroma_ha::App> owned;
  try {
    owned = std::make_unique<chroma_ha::App>(ioc, config, clock);
    if (auto s = owned->Start(); !s.ok()) {
      spdlog::error("chroma-ha could not start: {}", s.ToString());
      return 1;
    }
  } catch (const chroma_ha::ConfigError& e) {
    std::fprintf(stderr, "chroma-ha: configuration error: %s\n", e.what());
    return 2;
  }
  chroma_ha::App& app = *owned;

  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {} received: shutting down (grace {} ms)", sig,
                 config.shutdown_grace.count());
    app.Shutdown([&ioc] { ioc.stop(); });
  });

  // This thread runs event-loop worker 0 (the acceptor, health checks, signals); App::Start
  // started one thread per other worker (THREADS) and App::Stop joins them.
  ioc.run();
  app.Stop();
  spdlog::info("chroma-ha stopped");
  return 0;
}
