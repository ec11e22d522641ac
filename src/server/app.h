// The assembled proxy: builds every component from the configuration and owns them, in
// dependency order. main.cc creates one App; tests can create several in one process.
#ifndef CHROMA_HA_SERVER_APP_H_
#define CHROMA_HA_SERVER_APP_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "chroma_ha/clock.h"
#include "chroma_ha/config.h"
#include "chroma_ha/status.h"

namespace chroma_ha {

class App {
 public:
  // `ioc`, `config` and `clock` must outlive the App.
  App(boost::asio::io_context& ioc, const Config& config, const Clock& clock);
  ~App();

  // Opens the WAL (if enabled), recovers, starts health checks, the sync worker and the
  // listener. Errors: the listener cannot bind; the WAL cannot be opened.
  Status Start();
  // Graceful shutdown: stop accepting, finish in-flight requests up to shutdown_grace, then
  // call `done` (on an io_context thread).
  void Shutdown(std::function<void()> done);
  // Stops background threads (sync worker, WAL writer). Call after the io_context stopped.
  void Stop();

  uint16_t port() const;

  // Listener TLS (TLS_CERT_FILE / TLS_KEY_FILE): loads the files again and serves new
  // connections with them; open connections keep theirs. On error (logged) the old certificate
  // stays in use. A no-op without listener TLS. Called on SIGHUP.
  Status ReloadTls();
  // What SIGHUP does (armed by Start), off the event loop: re-reads the client credentials file
  // (an invalid file keeps the previous credentials and is logged at error level), then
  // ReloadTls().
  void Reload();

 private:
  struct Parts;
  Status StartWal();
  // Periodic: resolves WAL entries left without an outcome, prunes old entries.
  boost::asio::awaitable<void> Maintenance();
  // The background anti-entropy checker (VERIFY_INTERVAL; off at 0), its sections and alerts.
  void StartAntiEntropy();
  // Loads the listener's TLS files at start (ConfigError when they cannot be loaded).
  void StartTls();
  // Waits for SIGHUP, then Reload(), again and again until Shutdown.
  void WatchReloadSignal();

  boost::asio::io_context& ioc_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_APP_H_
