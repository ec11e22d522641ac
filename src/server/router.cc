#include "server/router.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <optional>
#include <random>
#include <string_view>

#include "auth/client_auth.h"
#include "failpoints/failpoints.h"
#include "metrics/metrics.h"
#include "server/admin_auth.h"
#include "server/causal_reads.h"
#include "server/own_endpoints.h"
#include "server/write_path.h"
#include "sync/chroma_api.h"

namespace chroma_ha {

namespace {

// The path of a request target, without its query string (which may carry anything).
std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// Bytes of a request target shown in logs and error messages.
constexpr std::size_t kRouteInMessage = 200;

// True for a method that may change data: anything but GET, HEAD and OPTIONS (methods are
// case-sensitive, RFC 9110 §9.1: "get" is not GET, and is treated as mutating).
bool IsMutating(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

// 501 for a mutating request to a route chroma-ha does not know: forwarding it to the primary
// alone would change one instance, unlogged, and the instances would silently diverge.
HttpResponse UnknownWriteRefused(const HttpRequest& request) {
  const std::string route =
      Utf8Prefix(request.method, 32) + " " + Utf8Prefix(PathOf(request.target), kRouteInMessage);
  return JsonError(501, "NotImplementedError",
                   "chroma-ha does not know the route " + route +
                       ", so it cannot log and replicate it; it was not forwarded. Set "
                       "UNKNOWN_WRITE_ROUTES=primary to send such requests to the primary only "
                       "(not logged, not replicated).");
}

// Healthy instances first (keeping their order), then the unhealthy ones. In place: a list of
// a few instances, where std::stable_partition would allocate a buffer per request.
std::vector<std::size_t> HealthyFirst(std::vector<std::size_t> order,
                                      const std::vector<bool>& healthy) {
  std::size_t kept = 0;
  for (std::size_t j = 0; j < order.size(); ++j) {
    if (!healthy[order[j]]) continue;
    std::rotate(order.begin() + static_cast<std::ptrdiff_t>(kept),
                order.begin() + static_cast<std::ptrdiff_t>(j),
                order.begin() + static_cast<std::ptrdiff_t>(j) + 1);
    ++kept;
  }
  return order;
}

}  // namespace

std::vector<std::size_t> ReadOrder(const Config& config, const std::vector<bool>& healthy,
                                   uint64_t ticket, double draw) {
  const std::size_t n = healthy.size();
  std::vector<std::size_t> order;
  if (n == 0) return order;
  switch (config.strategy) {
    case Strategy::kPrimaryOnly:
      for (std::size_t i = 0; i < n; ++i) order.push_back(i);
      break;
    case Strategy::kRoundRobin:
      for (std::size_t i = 0; i < n; ++i) order.push_back((ticket + i) % n);
      break;
    case Strategy::kOptimizedReadReplica: {
      const std::size_t replicas = n - 1;
      bool primary_first = replicas == 0 || draw >= config.read_replica_ratio;
      if (primary_first) order.push_back(0);
      for (std::size_t i = 0; i < replicas; ++i) order.push_back(1 + (ticket + i) % replicas);
      if (!primary_first) order.push_back(0);
      break;
    }
  }
  return HealthyFirst(std::move(order), healthy);
}

std::vector<std::size_t> WriteOrder(const std::vector<bool>& healthy) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < healthy.size(); ++i) order.push_back(i);
  return HealthyFirst(std::move(order), healthy);
}

Router::Router(const Config& config, Upstreams& upstreams, CollectionResolver& resolver,
               OwnEndpoints& own, WritePath* writes)
    : config_(config), upstreams_(upstreams), resolver_(resolver), own_(own), writes_(writes) {}

std::vector<bool> Router::HealthVector() const {
  std::vector<bool> healthy(upstreams_.size());
  for (std::size_t i = 0; i < healthy.size(); ++i) healthy[i] = upstreams_.Healthy(i);
  return healthy;
}

namespace {

// One MAX_CONCURRENT_REQUESTS slot, held from admission until the request is answered, and
// released by the destructor on every path (an early return, an exception, a cancelled
// coroutine frame).
class ConcurrencySlot {
 public:
  ConcurrencySlot() = default;
  ConcurrencySlot(const ConcurrencySlot&) = delete;
  ConcurrencySlot& operator=(const ConcurrencySlot&) = delete;
  ~ConcurrencySlot() {
    if (counter_ != nullptr) counter_->fetch_sub(1);
  }
  // Takes a slot of `counter` if fewer than `cap` are taken; false (nothing held) otherwise.
  bool TryAcquire(std::atomic<int>& counter, int cap) {
    if (counter.fetch_add(1) >= cap) {
      counter.fetch_sub(1);
      return false;
    }
    counter_ = &counter;
    return true;
  }

 private:
  std::atomic<int>* counter_ = nullptr;
};

}  // namespace

boost::asio::awaitable<HttpResponse> Router::Handle(HttpRequest request) {
  const auto start = std::chrono::steady_clock::now();
  const Route route = Classify(request.method, request.target);
  HttpResponse response;
  // Access control first, on the classified route, so that no path variant can bypass it:
  // the client token (when client auth is on: 401/403/429, or the identity answer), then
  // chroma-ha's own guards (admin, status, reset).
  std::optional<HttpResponse> denied;
  if (client_auth_ != nullptr) denied = client_auth_->Check(request, route);
  if (!denied) {
    const Guard guard = GuardFor(request.method, request.target, route);
    denied = CheckAccess(config_, guard, request);
  }
  if (route.cls != RouteClass::kOwn) {
    StripOwnCredentials(request.headers);
    if (client_auth_ != nullptr) client_auth_->StripCredential(request.headers);
  }
  // MAX_CONCURRENT_REQUESTS caps proxied requests; own endpoints (health checks) always answer,
  // and so do invalid requests (answered here, without any I/O).
  const bool capped = config_.max_concurrent_requests > 0 && route.cls != RouteClass::kOwn &&
                      route.cls != RouteClass::kInvalid;
  ConcurrencySlot slot;
  if (denied) {
    if (denied->status >= 400) {
      spdlog::info("{} {}: refused ({})", request.method, PathOf(request.target), denied->status);
    }
    response = std::move(*denied);
  } else if (capped && !slot.TryAcquire(in_flight_, config_.max_concurrent_requests)) {
    ++stats_.unavailable;
    response = JsonError(503, "ServiceUnavailable",
                         "too many concurrent requests (MAX_CONCURRENT_REQUESTS)");
    response.headers.push_back({"retry-after", "1"});
  } else {
    // The barrier: a throw anywhere below is a logged 500, never a lost connection. What was
    // being handled is named before the request moves, without an allocation (every request
    // pays for it).
    std::array<char, 160> what{};
    const std::size_t what_size =
        fmt::format_to_n(what.data(), what.size(), "{} {}", Utf8PrefixView(request.method, 32),
                         Utf8PrefixView(PathOf(request.target), kRouteInMessage))
            .size;
    const std::string_view named(what.data(), std::min(what_size, what.size()));
    bool threw = true;
    try {
      if (failpoints::Hit(failpoints::Point::kRequest)) {
        response = JsonError(500, "InternalError", "failpoint request: injected error");
      } else {
        response = co_await Dispatch(std::move(request), route);
      }
      threw = false;
    } catch (const std::exception& e) {
      spdlog::error("{}: exception while handling the request: {}", named, e.what());
    } catch (...) {
      spdlog::error("{}: unknown exception while handling the request", named);
    }
    if (threw) {
      ++stats_.internal_errors;
      response = JsonError(500, "InternalError",
                           "chroma-ha failed while handling this request (logged at error level)");
    }
  }
  if (metrics_ != nullptr) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    metrics_->ObserveRequest(route.cls, response.served_by, response.status, took.count());
  }
  co_return response;
}

boost::asio::awaitable<HttpResponse> Router::Dispatch(HttpRequest request, const Route& route) {
  // Arguments of awaited coroutine calls are named locals, never temporaries: g++ 12 destroys
  // some temporaries in a co_await expression twice.
  std::vector<std::size_t> order;
  spdlog::debug("{} {} -> {}", request.method, request.target, RouteClassName(route.cls));
  switch (route.cls) {
    case RouteClass::kInvalid:
      ++stats_.invalid_requests;
      co_return JsonError(400, "InvalidArgumentError", "invalid request path: " + route.error);
    case RouteClass::kOwn:
      co_return co_await own_.Handle(std::move(request));
    case RouteClass::kWrite:
      ++stats_.writes;
      if (writes_ != nullptr) co_return co_await writes_->Handle(std::move(request), route);
      order = WriteOrder(HealthVector());
      co_return co_await Forward(std::move(request), route, std::move(order));
    case RouteClass::kUnknown:
      ++stats_.unknown_routes;
      if (IsMutating(request.method)) {
        if (config_.unknown_write_routes == UnknownWriteRoutes::kRefuse) {
          ++stats_.unknown_writes_refused;
          co_return UnknownWriteRefused(request);
        }
        ++stats_.unknown_writes_forwarded;
        spdlog::warn(
            "unknown route {} {}: forwarded to the primary only, not logged and not "
            "replicated (UNKNOWN_WRITE_ROUTES=primary)",
            Utf8Prefix(request.method, 32), Utf8Prefix(PathOf(request.target), kRouteInMessage));
      } else {
        spdlog::info("unknown route {} {}: forwarded to the primary",
                     Utf8Prefix(request.method, 32),
                     Utf8Prefix(PathOf(request.target), kRouteInMessage));
      }
      order = WriteOrder(HealthVector());
      co_return co_await Forward(std::move(request), route, std::move(order));
    case RouteClass::kSystemRead:
    case RouteClass::kRead: {
      ++stats_.reads;
      thread_local std::mt19937_64 rng{std::random_device{}()};
      double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      order = ReadOrder(config_, HealthVector(), ticket_++, draw);
      if (read_excluded_) {
        std::vector<std::size_t> kept;
        for (std::size_t i : order) {
          if (!read_excluded_(i)) kept.push_back(i);
        }
        if (!kept.empty()) order = std::move(kept);
      }
      // Fresh reads: this process's own replay counters, unless the store is asked (PostgreSQL:
      // other processes write too, and only the replay lease's holder sees a backlog drain).
      const bool fresh_from_store = causal_ != nullptr && causal_->fresh_from_store();
      if (writes_ != nullptr && !fresh_from_store) {
        order = writes_->FreshReadOrder(route, std::move(order));
      }
      if (causal_ != nullptr && route.cls == RouteClass::kRead) {
        auto token = causal_->Token(request);
        if (auto* bad = std::get_if<HttpResponse>(&token)) co_return std::move(*bad);
        if (const int64_t* seq = std::get_if<int64_t>(&token)) {
          const int64_t min_seq = *seq;
          auto chosen = co_await causal_->Order(route, min_seq, std::move(order));
          if (auto* refused = std::get_if<HttpResponse>(&chosen)) co_return std::move(*refused);
          order = std::move(std::get<std::vector<std::size_t>>(chosen));
        } else if (fresh_from_store) {
          order = co_await causal_->FreshOrder(route, std::move(order));
        }
      }
      co_return co_await Forward(std::move(request), route, std::move(order));
    }
  }
  co_return JsonError(500, "InternalError", "unhandled route class");
}

boost::asio::awaitable<HttpResponse> Router::Forward(HttpRequest request, const Route& route,
                                                     std::vector<std::size_t> order) {
  std::string last_error = "no instance is configured";
  for (std::size_t attempt = 0; attempt < order.size(); ++attempt) {
    const std::size_t index = order[attempt];
    const bool last = attempt + 1 == order.size();
    // The instance's own target: known at once for most requests (no collection id, or one
    // this process has cached), else looked up.
    CollectionResolver::Target target;
    const auto now = resolver_.TargetNow(request, route, index, &target.target);
    if (now == CollectionResolver::Now::kAwait) {
      target = co_await resolver_.TargetFor(request, route, index);
      if (target.kind == CollectionResolver::Target::kUnreachable && !last) {
        last_error = upstreams_.Snapshot(index).name + " did not answer";
        continue;
      }
      if (target.kind == CollectionResolver::Target::kAbsent && !last) continue;
    }
    // Sent in place (no copy: the request stays here for the next attempt).
    const std::string_view to =
        now != CollectionResolver::Now::kAsIs && target.kind == CollectionResolver::Target::kReady
            ? std::string_view(target.target)
            : std::string_view(request.target);
    auto result = co_await upstreams_.Relay(index, request, to, config_.request_timeout);
    if (!result.ok()) {
      last_error = upstreams_.Snapshot(index).name + ": " + result.status().message();
      continue;
    }
    if (IsGatewayError(result->status) && !last) {
      last_error = upstreams_.Snapshot(index).name + " answered " + std::to_string(result->status);
      continue;
    }
    if (attempt > 0) ++stats_.read_failovers;
    HttpResponse response = std::move(result).value();
    response.served_by = static_cast<int>(index);
    if (resolver_.WantsResponse(request, route, response)) {
      co_await resolver_.OnResponse(request, route, index, response);
    }
    co_return response;
  }
  ++stats_.unavailable;
  co_return JsonError(503, "ServiceUnavailable",
                      "no instance could serve the request: " + last_error);
}

}  // namespace chroma_ha
