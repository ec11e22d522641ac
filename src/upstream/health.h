// Instance health (Envoy-style): hysteresis over two inputs, combined in one place.
//
// - HealthState: the pure state machine for one instance. No I/O, no locking, time passed in.
// - HealthTracker: one HealthState per instance behind a mutex; the single place where active
//   check results and passive signals from real traffic meet. Logs changes and notifies a
//   listener.
// - HealthChecker: the periodic active check (a probe per instance every `interval`), with
//   RunOnce() so tests drive it without sleeping.
#ifndef CHROMA_HA_UPSTREAM_HEALTH_H_
#define CHROMA_HA_UPSTREAM_HEALTH_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "chroma_ha/clock.h"
#include "chroma_ha/status.h"

namespace chroma_ha {

struct HealthThresholds {
  int unhealthy_threshold = 2;  // failures in a row (active, or passive) that mark it down
  int healthy_threshold = 1;    // active successes in a row that mark it up again
};

// State machine for one instance. Starts healthy (traffic flows at start-up; the first active
// check runs immediately). Rules:
//  - healthy, `unhealthy_threshold` active failures in a row         -> unhealthy
//  - healthy, `unhealthy_threshold` passive failures in a row        -> unhealthy
//    (a passive success resets the passive count; an active success resets the active count)
//  - unhealthy, `healthy_threshold` active successes in a row        -> healthy
//    (any active failure resets that count; passive signals never bring an instance back:
//    it must answer its heartbeat)
// Thresholds below 1 are treated as 1. Not thread-safe: HealthTracker serialises access.
class HealthState {
 public:
  enum class Change { kNone, kBecameUnhealthy, kBecameHealthy };

  explicit HealthState(HealthThresholds thresholds);

  Change OnActiveSuccess(int64_t now_ms);
  Change OnActiveFailure(int64_t now_ms);
  Change OnPassiveSuccess(int64_t now_ms);
  Change OnPassiveFailure(int64_t now_ms);

  bool healthy() const { return healthy_; }
  int active_failures() const { return active_failures_; }
  int active_successes() const { return active_successes_; }
  int passive_failures() const { return passive_failures_; }
  int64_t last_change_ms() const { return last_change_ms_; }  // 0 = never changed

 private:
  Change SetHealthy(bool healthy, int64_t now_ms);

  HealthThresholds thresholds_;
  bool healthy_ = true;
  int active_failures_ = 0;
  int active_successes_ = 0;
  int passive_failures_ = 0;
  int64_t last_change_ms_ = 0;
};

// Point-in-time health of one instance.
struct HealthView {
  bool healthy = true;
  double last_check_latency_ms = 0;
  int64_t health_checks_failed = 0;
  std::string last_error;  // last failure seen by either input; "" when none yet
  int64_t last_change_ms = 0;
};

// Called on every healthy<->unhealthy change, on the thread that reported the signal, outside
// the tracker's lock. Must not block.
using HealthListener = std::function<void(std::size_t index, bool healthy)>;

// Thread-safe: every method may be called from any thread. `clock` must outlive the tracker.
// Healthy() and a passive success on an instance that is healthy with no passive failure
// counted (the per-request common case) take no lock: they read an atomic.
class HealthTracker {
 public:
  HealthTracker(std::vector<std::string> names, HealthThresholds thresholds, const Clock& clock);

  // Replaces the listener (empty = none). Call before traffic starts.
  void SetListener(HealthListener listener);

  // An active check finished: `status` OK means the instance answered its heartbeat.
  void ReportActive(std::size_t index, const Status& status, double latency_ms);
  // A real request finished: `failure` = no answer (connect/timeout/reset) or a 5xx.
  void ReportPassive(std::size_t index, bool failure, const std::string& error);

  std::size_t size() const { return names_.size(); }
  bool Healthy(std::size_t index) const;
  HealthView View(std::size_t index) const;

 private:
  struct Entry {
    explicit Entry(HealthThresholds t) : state(t) {}
    HealthState state;
    HealthView view;
  };
  void Notify(std::size_t index, HealthState::Change change, const std::string& why);
  // Publishes entry `index`'s state to the lock-free flags. Call with mu_ held.
  void Publish(std::size_t index);

  const std::vector<std::string> names_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // guarded by mu_
  // Per instance, written under mu_, read without it: healthy, and "healthy with no passive
  // failure counted" (a passive success then changes nothing).
  std::unique_ptr<std::atomic<bool>[]> healthy_;
  std::unique_ptr<std::atomic<bool>[]> clean_;
  HealthListener listener_;     // set before use; read without the lock
};

// Probes instance `index` once; must finish within the timeout it was built with. OK = healthy.
using HealthProbe = std::function<boost::asio::awaitable<Status>(std::size_t index)>;

// Runs the probe for every instance of `tracker`, concurrently, every `interval`, and reports
// the results. `tracker` and `clock` must outlive the checker; the probe must stay callable.
// Start()/Stop() may be called from any thread. After Stop(), the loop ends once the probes in
// flight finish (bounded by their timeout), so the executor's run() can return; destroy the
// checker only after that (or after its io_context has stopped).
class HealthChecker {
 public:
  HealthChecker(boost::asio::any_io_executor executor, HealthTracker& tracker, HealthProbe probe,
                std::chrono::milliseconds interval, const Clock& clock);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // One round: probes all instances concurrently and reports each result. For tests and for
  // the loop; safe to await from any coroutine on any executor.
  boost::asio::awaitable<void> RunOnce();

  // Spawns the loop: a round immediately, then one every `interval`. Idempotent.
  void Start();
  // Ends the loop (see class comment). Idempotent.
  void Stop();

 private:
  struct Loop;
  boost::asio::awaitable<void> ProbeOne(std::size_t index);

  boost::asio::any_io_executor executor_;
  HealthTracker& tracker_;
  HealthProbe probe_;
  std::chrono::milliseconds interval_;
  const Clock& clock_;
  std::mutex mu_;
  std::shared_ptr<Loop> loop_;  // guarded by mu_; null when not running
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_HEALTH_H_
