// WritePath steps 4 to 7, carried by a task of its own once the write is in the WAL: wait for
// the collection's turn, forward (retrying and failing over), record the outcome in WAL order.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "failpoints/failpoints.h"
#include "server/async_util.h"
#include "server/causal_reads.h"
#include "server/fleet_order.h"
#include "server/router.h"
#include "server/write_path.h"
#include "server/write_task.h"
#include "sync/chroma_api.h"

namespace chroma_ha {

struct WritePath::Forwarded {
  bool answered = false;      // an instance gave a definite answer (response is valid)
  bool not_applied = true;    // no instance may have applied it (every failure was a refusal)
  std::size_t index = 0;      // who answered
  HttpResponse response;
  int attempts = 0;
  std::string error;
};

boost::asio::awaitable<void> WritePath::Carry(std::shared_ptr<WriteTask> task, Write write) {
  using Phase = WriteTask::Phase;
  // 4. Order: every earlier write of the collection that shares a record with this one has
  // been forwarded.
  co_await write.forward.Wait();
  // ... and, with a WAL shared by several processes, every earlier entry of the collection
  // that another process appended has been resolved.
  if (fleet_order_ != nullptr) {
    // `task` outlives the wait (this frame holds it); a pointer and a duration fit in the
    // std::function without an allocation per write. The wait returns only after an answer.
    const FleetOrder::Observer observe = [t = task.get(), timeout = config_.wal_append_timeout](
                                             FleetOrder::Step step) {
      t->AwaitingStore(step == FleetOrder::Step::kAsking, timeout);
    };
    co_await fleet_order_->WaitForEarlier(write.route.tenant, write.route.database,
                                          write.collection, write.seq, observe);
  }
  task->Advance(Phase::kForwarding);
  const bool fp_no_forward = failpoints::Hit(failpoints::Point::kAfterWalCommit);

  // Deletes by id: remember each id's document_id before it is gone (DESIGN.md §3).
  if (write.convert_deletion) co_await ResolveDocumentIds(write.request, write.route, write.seq);

  // 5. Forward.
  Forwarded fwd;
  if (!fp_no_forward) fwd = co_await ForwardInOrder(write.request, write.route, write.collection);
  try {
    if (fp_no_forward || failpoints::Hit(failpoints::Point::kAfterForward)) {
      fwd = {false, false, 0, {}, fwd.attempts, "failpoint: answer lost"};
    }
    if (!fwd.answered && !fwd.not_applied) {
      // Outcome unknown (it may have been applied). The write keeps the collection's turns and
      // is sent again until an instance answers: resolving it later, after the collection's
      // next writes, would apply it out of WAL order. The client learns the outcome is unknown.
      ++stats_.unknown;
      task->Advance(Phase::kDone, RetryLater("no instance answered; the write's outcome is "
                                             "unknown and will be resolved from the WAL: " +
                                             fwd.error));
      fwd = co_await ForwardUntilAnswered(write, std::move(fwd));
    }
    // 6. The client's answer, as soon as it is known (ids rewritten, §4).
    co_await AnswerClient(*task, write, fwd);
  } catch (const std::exception& e) {
    // A bug once the write was forwarded: the client gets 500, and the outcome is still recorded
    // from the instance's answer, in order. (Left unrecorded, with its turns given back, the
    // entry would be rejected by recovery after the collection's next write although the
    // instance applied it.)
    spdlog::error("write of WAL entry {} failed after its forward: {}", write.seq, e.what());
    if (task->phase != Phase::kDone) {
      task->Advance(Phase::kDone, JsonError(500, "InternalError",
                                            std::string("the write failed inside chroma-ha after "
                                                        "it was forwarded: ") + e.what()));
    }
  }

  // 7. Record the outcome, in WAL order.
  co_await Record(write, fwd);
  if (task->phase != Phase::kDone) {
    // The causal token (X-Chroma-HA-Seq), once the outcome is durable: a read that carries it
    // is served by an instance that has applied the entry (the store's todo set says which).
    // A client answered before that (the store slower than WAL_APPEND_TIMEOUT_MS) gets none.
    if (!task->answered && task->answer && Is2xx(task->answer->status)) {
      task->answer->headers.push_back({kSeqHeader, std::to_string(write.seq)});
    }
    task->Advance(Phase::kDone);
  }
}

boost::asio::awaitable<void> WritePath::AnswerClient(WriteTask& task, const Write& write,
                                                    Forwarded& fwd) {
  using Phase = WriteTask::Phase;
  if (task.phase == Phase::kDone) {  // answered already ("outcome unknown"): learn ids only
    if (fwd.answered) {
      co_await resolver_.OnResponse(write.request, write.route, fwd.index, fwd.response);
    }
    co_return;
  }
  if (!fwd.answered) {
    task.Advance(Phase::kRecording, RetryLater("no instance accepted the write: " + fwd.error));
    co_return;
  }
  HttpResponse reply = fwd.response;
  reply.served_by = static_cast<int>(fwd.index);
  co_await resolver_.OnResponse(write.request, write.route, fwd.index, reply);
  task.Advance(Phase::kRecording, std::move(reply));
}

boost::asio::awaitable<WritePath::Forwarded> WritePath::ForwardUntilAnswered(const Write& write,
                                                                           Forwarded fwd) {
  int attempts = fwd.attempts;
  auto delay = std::chrono::milliseconds(100);
  while (!fwd.answered) {
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor, delay);
    co_await wait.async_wait(boost::asio::use_awaitable);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    // A refusal now does not mean the first attempt was not applied: only an answer settles it.
    fwd = co_await ForwardInOrder(write.request, write.route, write.collection);
    attempts += fwd.attempts;
  }
  fwd.attempts = attempts;
  ++stats_.recovered;
  spdlog::info("WAL entry {} ({}): outcome resolved by sending it again: {} from {}", write.seq,
               write.counted.kind, fwd.response.status, config_.instances[fwd.index].name);
  co_return fwd;
}

boost::asio::awaitable<void> WritePath::Record(Write& write, const Forwarded& fwd) {
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
  const bool committed = out.state == EntryState::kCommitted;
  // Count the entry as still to replay on the other instances before the sync worker can see
  // it (it may apply it as soon as the outcome is recorded, and counts it down then).
  if (committed) CountOthers(write.counted, out.origin, +1);
  // The next write may go now: the backlog counts its instance choice depends on are up to date.
  write.forward.Release();
  co_await write.outcome.Wait();
  Status recorded = co_await RecordOutcome(write.seq, out);
  if (!recorded.ok() && committed) CountOthers(write.counted, out.origin, -1);  // entry gone
  write.outcome.Release();
  write.in_flight.Reset();
  if (committed) {
    ++stats_.committed;
    if (out.index != 0) ++stats_.write_failovers;
    if (notify_sync_) notify_sync_();
  } else {
    ++stats_.rejected;
  }
}

boost::asio::awaitable<Status> WritePath::RecordOutcome(int64_t seq, const Outcome& out) {
  // Never give up while the entry exists: released unrecorded, the outcome turn would let the
  // collection's later outcomes be recorded first, and recovery would then send this entry
  // after them, out of WAL order. A store that is down holds the collection's later outcomes
  // (not its forwards, nor its clients, which are answered after WAL_APPEND_TIMEOUT_MS).
  auto delay = std::chrono::milliseconds(50);
  for (int attempt = 1;; ++attempt) {
    Status recorded = co_await RunBlocking(wal_threads_, [&] {
      return store_.SetOutcome(seq, out.state, out.origin, out.attempts, out.error);
    });
    if (recorded.ok()) co_return recorded;
    if (recorded.code() == StatusCode::kNotFound) {
      spdlog::warn("WAL entry {} is gone (reset?); its outcome was not recorded", seq);
      co_return recorded;
    }
    ++stats_.outcome_retries;
    if (attempt == 1 || attempt % 30 == 0) {
      spdlog::error("could not record the outcome of WAL entry {} ({} attempts): {}; still trying",
                    seq, attempt, recorded.ToString());
    }
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor, delay);
    co_await wait.async_wait(boost::asio::use_awaitable);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
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
    const std::string& to =
        target.kind == CollectionResolver::Target::kReady ? target.target : request.target;
    // No answer with the outcome unknown: send the same write again to the same instance
    // (applying one write twice in a row equals applying it once), then fail over.
    for (int tries = 0; tries <= config_.wal_retry_attempts; ++tries) {
      ++fwd.attempts;
      if (tries > 0) ++stats_.forward_retries;
      // Read in place: the one body buffer serves every try.
      auto result = co_await upstreams_.Relay(index, request, to, config_.request_timeout);
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
