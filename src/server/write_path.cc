#include "server/write_path.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>

#include "failpoints/failpoints.h"
#include "metrics/metrics.h"
#include "proxy/path_rewrite.h"
#include "server/async_util.h"
#include "server/request_handler.h"
#include "server/router.h"
#include "server/write_footprint.h"
#include "server/write_task.h"
#include "sync/chroma_api.h"
#include "wal/text_check.h"

namespace chroma_ha {

namespace {

// Scope keys an entry or a route touches: tenant, database, collection.
std::vector<std::string> Scopes(const std::string& tenant, const std::string& database,
                                const std::string& collection) {
  std::vector<std::string> keys;
  if (tenant.empty()) return keys;
  keys.push_back(tenant);
  if (database.empty()) return keys;
  keys.push_back(tenant + "/" + database);
  if (!collection.empty()) keys.push_back(tenant + "/" + database + "/" + collection);
  return keys;
}

// 1. Validate: everything the WAL and the instances need is well-formed before the write
// shares anything (a group commit, a turn). Fills `*footprint` and, for creates and deletes,
// `*body`; the error response otherwise.
std::optional<HttpResponse> ValidateWrite(const HttpRequest& request, const Route& route,
                                          nlohmann::json* body, Footprint* footprint,
                                          std::optional<BodyLayout>* layout) {
  for (std::string_view segment : {std::string_view(route.tenant),
                                   std::string_view(route.database),
                                   std::string_view(route.collection)}) {
    if (!IsStorableText(segment)) {
      return JsonError(400, "InvalidArgumentError",
                       "path segments must be UTF-8 text without NUL characters");
    }
  }
  if (request.method == "DELETE") return std::nullopt;
  // Only creates and deletes need fields of the body here; the other writes (adds of hundreds
  // of embeddings) are validated in one streaming pass that also reads their ids.
  const bool needs_fields =
      route.write == WriteKind::kCreateCollection || route.write == WriteKind::kDelete;
  bool valid = true;
  if (needs_fields) {
    *body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    valid = !body->is_discarded();
  }
  if (valid && route.write != WriteKind::kCreateCollection) {
    ScannedBody scanned = ScanWriteBody(request.body, route.write);
    valid = scanned.valid_json;
    *footprint = std::move(scanned.footprint);
    *layout = std::move(scanned.layout);
  }
  if (!valid) {
    return JsonError(400, "InvalidArgumentError", "request body is not valid JSON (UTF-8 encoded)");
  }
  // A created collection's name is checked with the rest of the entry (CheckEntries).
  return std::nullopt;
}

}  // namespace

WritePath::WritePath(const Config& config, Upstreams& upstreams, CollectionResolver& resolver,
                     WalStore& store, GroupCommitter& committer,
                     boost::asio::thread_pool& wal_threads, std::function<void()> notify_sync)
    : config_(config),
      upstreams_(upstreams),
      resolver_(resolver),
      store_(store),
      committer_(committer),
      wal_threads_(wal_threads),
      notify_sync_(std::move(notify_sync)),
      backlog_(config.instances.size()) {}

WritePath::~WritePath() = default;

std::size_t WritePath::IndexOf(const std::string& instance) const {
  for (std::size_t i = 0; i < config_.instances.size(); ++i) {
    if (config_.instances[i].name == instance) return i;
  }
  return config_.instances.size();
}

void WritePath::CountBacklog(const WalEntry& entry, const std::string& instance, int delta) {
  std::size_t index = IndexOf(instance);
  if (index >= backlog_.size()) return;
  std::lock_guard lock(mu_);
  auto& counts = backlog_[index];
  auto keys = Scopes(entry.tenant, entry.database, entry.collection);
  // A rename is pending under its new name too: reads by the new name must not go to an
  // instance that has not renamed yet.
  if (entry.kind == WriteKindName(WriteKind::kModifyCollection)) {
    auto body = nlohmann::json::parse(entry.body, nullptr, false);
    if (body.is_object() && body.contains("new_name") && body["new_name"].is_string()) {
      keys.push_back(entry.tenant + "/" + entry.database + "/" +
                     body["new_name"].get<std::string>());
    }
  }
  for (const auto& key : keys) {
    auto& n = counts[key];
    n += delta;
    if (n <= 0) counts.erase(key);
  }
}

void WritePath::CountOthers(const WalEntry& counted, const std::string& origin, int delta) {
  for (const auto& inst : config_.instances) {
    if (inst.name != origin) CountBacklog(counted, inst.name, delta);
  }
}

void WritePath::OnApplied(const WalEntry& entry, const std::string& instance) {
  CountBacklog(entry, instance, -1);
}

void WritePath::ClearBacklog() {
  std::lock_guard lock(mu_);
  for (auto& counts : backlog_) counts.clear();
}

std::vector<std::size_t> WritePath::FreshReadOrder(const Route& route,
                                                   std::vector<std::size_t> order) const {
  if (config_.read_consistency != ReadConsistency::kFresh || order.size() < 2) return order;
  std::string collection;
  if (route.ref == CollectionRef::kName) {
    collection = route.collection;
  } else if (route.ref == CollectionRef::kId) {
    auto key = resolver_.map().FindById(route.collection);
    if (key) collection = key->name;
  }
  auto scopes = Scopes(route.tenant, route.database, collection);
  if (scopes.empty()) return order;
  const std::string& scope = scopes.back();
  std::lock_guard lock(mu_);
  auto stale = [&](std::size_t i) { return backlog_[i].count(scope) != 0; };
  const std::size_t planned = order.front();
  std::stable_partition(order.begin(), order.end(), [&](std::size_t i) { return !stale(i); });
  if (order.front() != planned) ++stats_.fresh_reads_redirected;
  return order;
}

std::vector<std::size_t> WritePath::CaughtUpFirst(const Route& route,
                                                  const std::string& collection,
                                                  std::vector<std::size_t> order) const {
  auto scopes = Scopes(route.tenant, route.database, collection);
  if (scopes.empty()) return order;
  std::lock_guard lock(mu_);
  std::stable_partition(order.begin(), order.end(), [&](std::size_t i) {
    return upstreams_.Healthy(i) && backlog_[i].count(scopes.back()) == 0;
  });
  return order;
}

boost::asio::awaitable<HttpResponse> WritePath::Handle(HttpRequest request, const Route& route) {
  if (route.write == WriteKind::kReset) co_return co_await HandleReset(std::move(request));

  // 1. Validate before anything is logged or shared.
  nlohmann::json body;
  Footprint footprint;               // null: the whole collection
  std::optional<BodyLayout> layout;  // an add or upsert: its record columns
  if (auto invalid = ValidateWrite(request, route, &body, &footprint, &layout)) {
    co_return *invalid;
  }

  // 2. Name the collection: WAL entries never hold a UUID.
  std::string collection;
  if (route.write == WriteKind::kCreateCollection) {
    if (body.is_object() && body.contains("name") && body["name"].is_string()) {
      collection = body["name"].get<std::string>();
    }
  } else if (route.ref == CollectionRef::kName) {
    collection = route.collection;
  } else if (route.ref == CollectionRef::kId) {
    auto key = co_await resolver_.KeyOf(route);
    if (!key) {
      co_return JsonError(404, "NotFoundError",
                          "Collection [" + route.collection + "] does not exist");
    }
    collection = key->name;
  }

  // Both instances down: 503, nothing logged.
  bool any = false;
  for (std::size_t i = 0; i < upstreams_.size(); ++i) any = any || upstreams_.Healthy(i);
  if (!any) co_return RetryLater("no instance is available for writes");

  WalEntry entry;
  entry.tenant = route.tenant;
  entry.database = route.database;
  entry.collection = collection;
  entry.kind = WriteKindName(route.write);
  entry.writer = member_;
  entry.method = request.method;
  entry.path = route.ref == CollectionRef::kId ? CollectionPathTemplate(request.target)
                                               : request.target;
  if (Status storable = CheckEntries({entry}); !storable.ok()) {
    co_return JsonError(400, "InvalidArgumentError", storable.message());
  }
  // One buffer: the body goes to the WAL and comes back for the forward (never copied).
  entry.body = std::move(request.body);

  // 3. Append durably, taking the collection's turns in WAL order.
  const std::string seq_key = route.tenant + "/" + route.database + "/" + collection;
  const auto append_start = std::chrono::steady_clock::now();
  Appended append = co_await Append(seq_key, footprint, std::move(entry));
  if (metrics_ != nullptr) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - append_start;
    metrics_->ObserveAppend(took.count(), append.status.ok());
  }
  if (!append.status.ok()) {
    // Nothing to forward or record: the turns go back as `append` goes out of scope.
    ++stats_.wal_failures;
    if (append.in_doubt) {
      ++stats_.in_doubt;
      auto executor = co_await boost::asio::this_coro::executor;
      boost::asio::co_spawn(executor, RejectInDoubt(std::move(append.wait)),
                            boost::asio::detached);
    }
    spdlog::error("WAL append failed, write refused: {}", append.status.ToString());
    co_return RetryLater(append.in_doubt
                              ? "the write-ahead log did not confirm the write in time; the "
                                "write was not applied (" + append.status.message() + ")"
                              : "the write-ahead log is unavailable; the write was not applied (" +
                                    append.status.message() + ")");
  }
  ++stats_.appended;
  request.body = std::move(append.body);
  // Before the entry can be committed (its outcome is recorded after the forward below).
  if (validated_ != nullptr && layout) validated_->Remember(append.seq, std::move(*layout));

  // 4-7. Order, forward and record in a task of its own; the client waits with deadlines.
  Write write;
  write.request = std::move(request);
  write.route = route;
  write.collection = std::move(collection);
  write.convert_deletion = route.write == WriteKind::kDelete && config_.wal_deletion_conversion &&
                           body.is_object() && body.contains("ids") && body["ids"].is_array() &&
                           !body["ids"].empty();
  write.seq = append.seq;
  write.forward = std::move(append.forward);
  write.outcome = std::move(append.outcome);
  write.in_flight = InFlight(in_flight_, append.seq);
  write.counted.tenant = route.tenant;
  write.counted.database = route.database;
  write.counted.collection = write.collection;
  write.counted.kind = WriteKindName(route.write);
  if (route.write == WriteKind::kModifyCollection) write.counted.body = write.request.body;

  auto executor = co_await boost::asio::this_coro::executor;
  auto task = std::make_shared<WriteTask>(executor);
  boost::asio::co_spawn(executor, Carry(task, std::move(write)),
                        [task, seq = append.seq](std::exception_ptr error) {
                          if (!error) return;
                          // A bug: what the write held went back with its frame; the entry
                          // stays pending for recovery.
                          try {
                            std::rethrow_exception(error);
                          } catch (const std::exception& e) {
                            spdlog::error("write of WAL entry {} failed: {}", seq, e.what());
                          }
                          if (task->phase != WriteTask::Phase::kDone) {
                            task->Advance(WriteTask::Phase::kDone,
                                          JsonError(500, "InternalError",
                                                    "the write failed inside chroma-ha; its "
                                                    "outcome will be resolved from the WAL"));
                          }
                        });
  co_return co_await AwaitAnswer(std::move(task));
}

boost::asio::awaitable<HttpResponse> WritePath::AwaitAnswer(std::shared_ptr<WriteTask> task) {
  using Phase = WriteTask::Phase;
  const auto queued_deadline = std::chrono::steady_clock::now() + config_.request_timeout;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (task->phase == Phase::kDone) break;
    auto deadline = std::chrono::steady_clock::time_point::max();
    if (task->phase == Phase::kQueued) {
      if (now >= task->store_deadline) {
        ++stats_.order_timeouts;
        task->answered = true;
        co_return RetryLater(
            "the write is logged, but the write-ahead log did not answer in time when its order "
            "among the other chroma-ha processes' writes was checked; its outcome is unknown: it "
            "will be applied in WAL order or rejected");
      }
      deadline = std::min(queued_deadline, task->store_deadline);
      if (now >= queued_deadline) {
        ++stats_.turn_timeouts;
        task->answered = true;
        co_return RetryLater(
            "the write is logged but waits behind an earlier write of the collection whose "
            "outcome is not known yet; its outcome is unknown: it will be applied in WAL order "
            "or rejected");
      }
    } else if (task->phase == Phase::kRecording) {
      deadline = task->recording_since + config_.wal_append_timeout;
      if (now >= deadline) break;  // answer now; the outcome is recorded in the background
    }
    task->signal.expires_at(deadline);
    co_await task->signal.async_wait(
        boost::asio::as_tuple(boost::asio::use_awaitable));  // woken by Advance or the deadline
  }
  task->answered = true;
  co_return std::move(*task->answer);
}

}  // namespace chroma_ha
