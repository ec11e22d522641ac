#include "server/write_path.h"

#include <spdlog/spdlog.h>

#include <algorithm>
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
#include "sync/chroma_api.h"

namespace chroma_ha {

namespace {

// Tries to record a forward's outcome while the store is unavailable (about 10 s in all).
constexpr int kOutcomeAttempts = 10;

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

// Waits for a write's turns and ends them at once (a write whose WAL append failed).
boost::asio::awaitable<void> ReleaseTurns(Sequencer& forward, Sequencer& outcomes, std::string key,
                                          uint64_t ticket, uint64_t outcome_ticket) {
  co_await forward.WaitTurn(key, ticket);
  forward.Done(key, ticket);
  co_await outcomes.WaitTurn(key, outcome_ticket);
  outcomes.Done(key, outcome_ticket);
}

}  // namespace

struct WritePath::Forwarded {
  bool answered = false;      // an instance gave a definite answer (response is valid)
  bool not_applied = true;    // no instance may have applied it (every failure was a refusal)
  std::size_t index = 0;      // who answered
  HttpResponse response;
  int attempts = 0;
  std::string error;
};

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

boost::asio::awaitable<HttpResponse> WritePath::Handle(HttpRequest request, const Route& route) {
  if (route.write == WriteKind::kReset) co_return co_await HandleReset(std::move(request));

  // 1. Reject bad input before anything is logged.
  // Only creates and deletes need fields of the body here; the other writes (adds of
  // hundreds of embeddings) are validated in one streaming pass that also reads their ids.
  nlohmann::json body;
  Footprint footprint;  // null: the whole collection
  if (request.method != "DELETE") {
    const bool needs_fields =
        route.write == WriteKind::kCreateCollection || route.write == WriteKind::kDelete;
    bool valid = true;
    if (needs_fields) {
      body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
      valid = !body.is_discarded();
    }
    if (valid && route.write != WriteKind::kCreateCollection) {
      ScannedBody scanned = ScanWriteBody(request.body, route.write);
      valid = scanned.valid_json;
      footprint = std::move(scanned.footprint);
    }
    if (!valid) {
      co_return JsonError(400, "InvalidArgumentError",
                          "request body is not valid JSON (UTF-8 encoded)");
    }
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

  // 3. Both instances down: 503, nothing logged.
  std::vector<bool> healthy(upstreams_.size());
  bool any = false;
  for (std::size_t i = 0; i < healthy.size(); ++i) any |= (healthy[i] = upstreams_.Healthy(i));
  if (!any) {
    co_return JsonError(503, "ServiceUnavailable", "no instance is available for writes");
  }

  WalEntry entry;
  entry.tenant = route.tenant;
  entry.database = route.database;
  entry.collection = collection;
  entry.kind = WriteKindName(route.write);
  entry.method = request.method;
  entry.path = route.ref == CollectionRef::kId ? CollectionPathTemplate(request.target)
                                               : request.target;
  entry.body = request.body;

  // 4. Append durably, in ticket order for this collection; then wait for our turn.
  const std::string seq_key = route.tenant + "/" + route.database + "/" + collection;
  const auto append_start = std::chrono::steady_clock::now();
  Appended append = co_await AppendInOrder(seq_key, footprint, std::move(entry));
  if (metrics_ != nullptr) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - append_start;
    metrics_->ObserveAppend(took.count(), append.status.ok());
  }
  const uint64_t ticket = append.ticket;
  const uint64_t outcome_ticket = append.outcome_ticket;
  if (!append.status.ok()) {
    // Nothing to forward or record: answer now and give the turns back in order in the
    // background. Waiting for them first made every write of the collection wait behind an
    // earlier write retrying its outcome (about 9 s each while the WAL store was down).
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(executor,
                          ReleaseTurns(sequencer_, outcomes_, seq_key, ticket, outcome_ticket),
                          boost::asio::detached);
    ++stats_.wal_failures;
    spdlog::error("WAL append failed, write refused: {}", append.status.ToString());
    co_return JsonError(503, "ServiceUnavailable",
                        "the write-ahead log is unavailable; the write was not applied");
  }
  co_await sequencer_.WaitTurn(seq_key, ticket);
  const int64_t seq = append.seq;  // in in_flight_ since the append's callback
  ++stats_.appended;
  const bool fp_no_forward = failpoints::Hit(failpoints::Point::kAfterWalCommit);

  // 5. Deletes by id: remember each id's document_id before it is gone (DESIGN.md §3).
  if (route.write == WriteKind::kDelete && config_.wal_deletion_conversion &&
      body.is_object() && body.contains("ids") && body["ids"].is_array() &&
      !body["ids"].empty()) {
    co_await ResolveDocumentIds(request, route, seq);
  }

  // 6. Forward.
  Forwarded fwd;
  if (!fp_no_forward) fwd = co_await ForwardInOrder(request, route, collection);
  if (fp_no_forward || failpoints::Hit(failpoints::Point::kAfterForward)) fwd = {false, false, 0, {}, fwd.attempts, "failpoint: answer lost"};

  Settling settling;
  settling.seq_key = seq_key;
  settling.ticket = ticket;
  settling.outcome_ticket = outcome_ticket;
  settling.seq = seq;
  settling.counted.tenant = route.tenant;
  settling.counted.database = route.database;
  settling.counted.collection = collection;
  settling.counted.kind = WriteKindName(route.write);
  if (route.write == WriteKind::kModifyCollection) settling.counted.body = request.body;

  if (!fwd.answered && !fwd.not_applied) {
    // 7a. Outcome unknown (it may have been applied). The write keeps the collection's turns
    // and is sent again in the background until an instance answers: resolving it later, after
    // the collection's next writes, would apply it out of WAL order (an acknowledged later
    // write of the same record would be undone). The client learns the outcome is unknown.
    ++stats_.unknown;
    const std::string error = fwd.error;
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(executor,
                          ResolveInBackground(std::move(request), route, collection,
                                              std::move(settling), fwd.attempts),
                          boost::asio::detached);
    co_return JsonError(503, "ServiceUnavailable",
                        "no instance answered; the write's outcome is unknown and will be "
                        "resolved from the WAL: " + error);
  }

  // 7. Record the outcome (see Settle).
  co_await Settle(settling, fwd);
  if (!fwd.answered) {
    co_return JsonError(503, "ServiceUnavailable", "no instance accepted the write: " + fwd.error);
  }
  fwd.response.served_by = static_cast<int>(fwd.index);
  resolver_.OnResponse(request, route, fwd.index, fwd.response);
  co_return std::move(fwd.response);
}

boost::asio::awaitable<void> WritePath::ResolveInBackground(HttpRequest request, Route route,
                                                            std::string collection,
                                                            Settling settling, int attempts) {
  auto delay = std::chrono::milliseconds(100);
  Forwarded fwd;
  for (;;) {
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor, delay);
    co_await wait.async_wait(boost::asio::use_awaitable);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    fwd = co_await ForwardInOrder(request, route, collection);
    attempts += fwd.attempts;
    // A refusal now does not mean the first attempt was not applied: only an answer settles it.
    if (fwd.answered) break;
  }
  fwd.attempts = attempts;
  ++stats_.recovered;
  spdlog::info("WAL entry {} ({}): outcome resolved by sending it again: {} from {}", settling.seq,
               settling.counted.kind, fwd.response.status, config_.instances[fwd.index].name);
  co_await Settle(settling, fwd);
}

boost::asio::awaitable<void> WritePath::Settle(const Settling& s, const Forwarded& fwd) {
  // Let the next write of this collection be forwarded, then record this one's outcome in its
  // outcome turn. The other instances replay in WAL order only what is recorded as committed:
  // outcomes are recorded in seq order, so a later write is never committed (and replayed)
  // before an earlier one. A crash before the outcome is durable leaves this entry and every
  // later one of the collection kPending; recovery re-sends them in seq order (a suffix of a
  // collection's writes applied again in order leaves the same records).
  Outcome out;
  out.state = EntryState::kRejected;  // no instance took it: never replayed
  if (fwd.answered) {
    out.origin = config_.instances[fwd.index].name;
    out.state = Is2xx(fwd.response.status) ? EntryState::kCommitted : EntryState::kRejected;
  }
  out.index = fwd.index;
  out.attempts = fwd.attempts;
  out.error = fwd.error;
  // Count the entry as still to replay on the other instances before the sync worker can see
  // it (it may apply it as soon as the outcome is recorded, and counts it down then).
  if (out.state == EntryState::kCommitted) CountOthers(s, out, +1);
  // The next write may go now: the backlog counts its instance choice depends on are up to date.
  sequencer_.Done(s.seq_key, s.ticket);
  co_await outcomes_.WaitTurn(s.seq_key, s.outcome_ticket);
  Status recorded = co_await RecordOutcome(s, out, kOutcomeAttempts);
  if (!recorded.ok() && recorded.retryable()) {
    // The store is unavailable. Keep the outcome turn (later outcomes of the collection wait)
    // and go on trying in the background: given up, the entry would be re-sent by recovery
    // after the collection's later writes, out of WAL order. The client is answered now.
    spdlog::error("could not record the outcome of WAL entry {} yet: {}; still trying", s.seq,
                  recorded.ToString());
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(executor, KeepRecording(s, out), boost::asio::detached);
    co_return;
  }
  FinishOutcome(s, out, recorded);
}

boost::asio::awaitable<void> WritePath::KeepRecording(Settling s, Outcome out) {
  Status recorded = co_await RecordOutcome(s, out, /*attempts=*/0);
  FinishOutcome(s, out, recorded);
}

boost::asio::awaitable<Status> WritePath::RecordOutcome(const Settling& s, const Outcome& out,
                                                        int attempts) {
  Status recorded;
  auto delay = std::chrono::milliseconds(50);
  for (int attempt = 1;; ++attempt) {
    recorded = co_await RunBlocking(wal_threads_, [&] {
      return store_.SetOutcome(s.seq, out.state, out.origin, out.attempts, out.error);
    });
    if (recorded.ok() || !recorded.retryable()) break;
    if (attempts > 0 && attempt >= attempts) break;
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor, delay);
    co_await wait.async_wait(boost::asio::use_awaitable);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
  co_return recorded;
}

void WritePath::CountOthers(const Settling& s, const Outcome& out, int delta) {
  for (const auto& inst : config_.instances) {
    if (inst.name != out.origin) CountBacklog(s.counted, inst.name, delta);
  }
}

void WritePath::FinishOutcome(const Settling& s, const Outcome& out, const Status& recorded) {
  if (!recorded.ok()) {
    // A permanent store error: the entry stays kPending; recovery re-sends it (one write
    // applied twice in a row is the same as once) and records the outcome then.
    spdlog::error("could not record the outcome of WAL entry {}: {}", s.seq, recorded.ToString());
    if (out.state == EntryState::kCommitted) CountOthers(s, out, -1);  // recovery counts it
  }
  outcomes_.Done(s.seq_key, s.outcome_ticket);
  {
    std::lock_guard lock(mu_);
    in_flight_.erase(s.seq);
  }
  if (out.state == EntryState::kCommitted) {
    ++stats_.committed;
    if (out.index != 0) ++stats_.write_failovers;
    if (notify_sync_) notify_sync_();
  } else {
    ++stats_.rejected;
  }
}

boost::asio::awaitable<WritePath::Appended> WritePath::AppendInOrder(const std::string& seq_key,
                                                                     const Footprint& footprint,
                                                                     WalEntry entry) {
  co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                                  void(Appended)>(
      [this, &seq_key, &footprint](auto handler, WalEntry e) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        sequencer_.Take(seq_key, footprint, [&](uint64_t ticket) {
          // Under the forward sequencer's lock: both lines hand out tickets in the same order.
          const uint64_t outcome_ticket = outcomes_.Take(seq_key, nullptr);
          committer_.Append(std::move(e), [this, shared, ticket, outcome_ticket](Status status,
                                                                                 int64_t seq) {
            // In flight from now on, so recovery leaves it to this writer (which may wait a
            // while for its turn).
            if (status.ok()) {
              std::lock_guard lock(mu_);
              in_flight_.insert(seq);
            }
            auto ex = boost::asio::get_associated_executor(*shared);
            boost::asio::post(ex, [shared, ticket, outcome_ticket, status, seq]() mutable {
              std::move(*shared)(Appended{ticket, outcome_ticket, status, seq});
            });
          });
        });
      },
      boost::asio::use_awaitable, std::move(entry));
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

boost::asio::awaitable<WritePath::Forwarded> WritePath::ForwardInOrder(
    const HttpRequest& request, const Route& route, const std::string& collection) {
  Forwarded fwd;
  std::vector<bool> healthy(upstreams_.size());
  for (std::size_t i = 0; i < healthy.size(); ++i) healthy[i] = upstreams_.Healthy(i);
  // An instance that has not yet replayed earlier writes of this collection (e.g. a primary
  // back from an outage) would apply this write before them, out of WAL order: prefer
  // instances that are caught up on the collection.
  auto order = CaughtUpFirst(route, collection, WriteOrder(healthy));
  for (std::size_t attempt = 0; attempt < order.size(); ++attempt) {
    const std::size_t index = order[attempt];
    const std::string& name = config_.instances[index].name;
    auto target = co_await resolver_.TargetFor(request, route, index);
    if (target.kind == CollectionResolver::Target::kUnreachable) {
      fwd.error = name + " did not answer the collection lookup";
      continue;
    }
    HttpRequest outgoing = request;
    if (target.kind == CollectionResolver::Target::kReady) outgoing.target = target.target;
    // No answer with the outcome unknown: send the same write again to the same instance
    // (applying one write twice in a row equals applying it once), then fail over.
    for (int tries = 0; tries <= config_.wal_retry_attempts; ++tries) {
      ++fwd.attempts;
      if (tries > 0) ++stats_.forward_retries;
      auto result = co_await upstreams_.Send(index, outgoing, config_.request_timeout);
      if (result.ok() && !IsGatewayError(result->status)) {
        fwd.answered = true;
        fwd.index = index;
        fwd.response = std::move(result).value();
        co_return fwd;
      }
      if (result.ok()) {
        fwd.error = name + " answered " + std::to_string(result->status);
        // 502/503: refused, not applied: next instance. 504: a gateway gave up waiting, so
        // the outcome is unknown, as with a timeout.
        if (result->status != 504) break;
        fwd.not_applied = false;
        if (!upstreams_.Healthy(index)) break;
        continue;
      }
      fwd.error = name + ": " + result.status().message();
      if (result.status().code() == StatusCode::kUnavailable) break;  // never reached it
      fwd.not_applied = false;  // it may have been applied
      if (!upstreams_.Healthy(index)) break;
    }
  }
  co_return fwd;
}

boost::asio::awaitable<void> WritePath::ResolveDocumentIds(const HttpRequest& request,
                                                           const Route& route, int64_t seq) {
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  std::vector<bool> healthy(upstreams_.size());
  for (std::size_t i = 0; i < healthy.size(); ++i) healthy[i] = upstreams_.Healthy(i);
  const std::size_t index = WriteOrder(healthy).front();
  auto target = co_await resolver_.TargetFor(request, route, index);
  if (target.kind != CollectionResolver::Target::kReady) co_return;
  HttpRequest get;
  get.method = "POST";
  get.target = target.target.substr(0, target.target.rfind('/')) + "/get";
  get.headers.push_back({"content-type", "application/json"});
  get.body = nlohmann::json{{"ids", body["ids"]}, {"include", {"metadatas"}}}.dump();
  auto result = co_await upstreams_.Send(index, std::move(get), config_.request_timeout);
  if (!result.ok() || result->status != 200) co_return;
  auto got = nlohmann::json::parse(result->body, nullptr, false);
  if (!got.is_object() || !got["ids"].is_array() || !got["metadatas"].is_array()) co_return;
  nlohmann::json document_ids = nlohmann::json::object();
  for (std::size_t i = 0; i < got["ids"].size() && i < got["metadatas"].size(); ++i) {
    const auto& md = got["metadatas"][i];
    if (md.is_object() && md.contains("document_id") && md["document_id"].is_string()) {
      document_ids[got["ids"][i].get<std::string>()] = md["document_id"];
    }
  }
  if (document_ids.empty()) co_return;
  std::string extra = nlohmann::json{{"document_ids", document_ids}}.dump();
  Status s = co_await RunBlocking(wal_threads_, [this, seq, &extra] {
    return store_.SetExtra(seq, extra);
  });
  if (!s.ok()) spdlog::warn("could not store document_ids of WAL entry {}: {}", seq, s.ToString());
}

boost::asio::awaitable<HttpResponse> WritePath::HandleReset(HttpRequest request) {
  // Who may reset (ADMIN_TOKEN, or ALLOW_RESET) is decided by the router before dispatch
  // (admin_auth.h), once for every route; the admin token is not forwarded.
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    if (!upstreams_.Healthy(i)) {
      co_return JsonError(503, "ServiceUnavailable",
                          "reset needs every instance; " + config_.instances[i].name +
                              " is down");
    }
  }
  // Reset is one operation over every instance, the WAL and the identity map: never a
  // replayed entry.
  HttpResponse last;
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    HttpRequest reset = request;
    auto result = co_await upstreams_.Send(i, std::move(reset), config_.request_timeout);
    if (!result.ok()) {
      co_return JsonError(503, "ServiceUnavailable",
                          config_.instances[i].name + ": " + result.status().message());
    }
    if (!Is2xx(result->status)) co_return std::move(result).value();
    last = std::move(result).value();
  }
  Status cleared = co_await RunBlocking(wal_threads_, [this] { return store_.Clear(); });
  resolver_.map().Clear();
  ClearBacklog();
  if (!cleared.ok()) {
    co_return JsonError(503, "ServiceUnavailable",
                        "instances were reset but the WAL could not be cleared: " +
                            cleared.message());
  }
  co_return last;
}

}  // namespace chroma_ha
