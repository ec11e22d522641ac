#include "server/causal_reads.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <chrono>

#include "collections/collection_map.h"
#include "server/async_util.h"
#include "server/request_handler.h"
#include "server/write_task.h"

namespace chroma_ha {

namespace {

using Clock = std::chrono::steady_clock;

// Store polls while waiting: often at first (a replica usually catches up within a few ms of
// the sync worker's wake-up), then less.
std::chrono::milliseconds PollDelay(int polls) {
  return std::chrono::milliseconds(polls < 20 ? 5 : 20);
}

}  // namespace

std::variant<std::monostate, int64_t, HttpResponse> ParseMinSeq(const HttpRequest& request) {
  auto value = FindHeader(request.headers, kMinSeqHeader);
  if (!value) return std::monostate{};
  std::string_view v = *value;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v == "latest") return kLatest;
  int64_t seq = 0;
  const bool digits = !v.empty() && v.size() <= 18 &&
                      std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::from_chars(v.data(), v.data() + v.size(), seq).ec != std::errc()) {
    return JsonError(400, "InvalidArgumentError",
                     "X-Chroma-HA-Min-Seq must be a sequence number, as sent in the "
                     "X-Chroma-HA-Seq header of a write's answer, or \"latest\"");
  }
  return seq;
}

CausalReads::CausalReads(const Config& config, Upstreams& upstreams, const CollectionMap& map,
                         WalStore& store, boost::asio::thread_pool& store_thread)
    : config_(config),
      upstreams_(upstreams),
      map_(map),
      store_(store),
      store_thread_(store_thread) {}

std::string CausalReads::CollectionOf(const Route& route) const {
  // The WAL keys entries by name; an id nobody knows widens the scope to the whole database,
  // which is never less safe.
  if (route.ref == CollectionRef::kName) return route.collection;
  if (route.ref == CollectionRef::kId) {
    if (auto key = map_.FindById(route.collection)) return key->name;
  }
  return "";
}

boost::asio::awaitable<std::vector<std::size_t>> CausalReads::FreshOrder(
    Route route, std::vector<std::size_t> order) {
  if (order.size() < 2 || route.tenant.empty()) co_return order;
  ++stats_.fresh_checks;
  const std::string collection = CollectionOf(route);
  Result<std::vector<std::string>> behind = co_await RunBlocking(store_thread_, [&] {
    return store_.InstancesBehind(route.tenant, route.database, collection, kLatest);
  });
  if (!behind.ok() || behind->empty()) co_return order;
  const std::size_t planned = order.front();
  std::stable_partition(order.begin(), order.end(), [&](std::size_t i) {
    return std::find(behind->begin(), behind->end(), config_.instances[i].name) == behind->end();
  });
  if (order.front() != planned) ++stats_.fresh_redirected;
  co_return order;
}

boost::asio::awaitable<std::variant<std::vector<std::size_t>, HttpResponse>> CausalReads::Order(
    Route route, int64_t seq, std::vector<std::size_t> order) {
  ++stats_.reads;
  if (order.empty()) co_return order;
  struct Waiting {  // one of kMaxCausalReads, given back on every path
    std::atomic<int>& n;
    ~Waiting() { n.fetch_sub(1); }
  } waiting{waiting_};
  if (waiting_.fetch_add(1) >= kMaxCausalReads) {
    ++stats_.timeouts;
    co_return RetryLater("too many reads wait for X-Chroma-HA-Min-Seq now");
  }
  const std::string collection = CollectionOf(route);
  const std::string& tenant = route.tenant;
  const std::string& database = route.database;
  const std::size_t planned = order.front();
  const auto start = Clock::now();
  const auto wait_end = start + config_.causal_wait;
  const auto give_up = start + config_.request_timeout;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  std::string why = "no instance has applied it yet";
  for (int polls = 0;; ++polls) {
    Result<std::vector<std::string>> behind =
        co_await RunBlocking(store_thread_, [&] {
          return store_.InstancesBehind(tenant, database, collection, seq);
        });
    const auto now = Clock::now();
    if (behind.ok()) {
      // Caught-up instances, healthy ones first, in the planned order.
      std::vector<std::size_t> caught;
      for (std::size_t i : order) {
        if (std::find(behind->begin(), behind->end(), config_.instances[i].name) ==
            behind->end()) {
          caught.push_back(i);
        }
      }
      std::stable_partition(caught.begin(), caught.end(),
                            [&](std::size_t i) { return upstreams_.Healthy(i); });
      // Within CAUSAL_WAIT_MS, the primary is not taken instead of a planned replica.
      if (!caught.empty() && (caught.front() == planned || caught.front() != 0 || now >= wait_end)) {
        if (caught.front() != planned) {
          ++stats_.redirected;
        } else if (polls == 0) {
          ++stats_.immediate;
        } else {
          ++stats_.waited;
        }
        co_return caught;
      }
    } else {
      why = "the WAL store cannot tell which instance has applied it: " +
            behind.status().ToString();
      if (now >= wait_end) break;  // an unreadable store is not waited out
    }
    if (now >= give_up) break;
    timer.expires_at(std::min(now + PollDelay(polls), give_up));
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  ++stats_.timeouts;
  co_return RetryLater("no instance can serve this read at X-Chroma-HA-Min-Seq " +
                       (seq == kLatest ? std::string("latest") : std::to_string(seq)) + ": " +
                       why);
}

}  // namespace chroma_ha
