// WritePath step 3, the append: taking the collection's turns and queueing the WAL append in one
// step (ticket order == seq order), then waiting for the group commit at most
// WAL_APPEND_TIMEOUT_MS. An append still queued at the deadline is cancelled (never written); one
// the store is writing at the deadline, or whose commit the store could not confirm, is in doubt:
// the client is told it was not applied, and RejectInDoubt makes that true once the store answers.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "failpoints/failpoints.h"
#include "server/write_path.h"

namespace chroma_ha {

// Shared by the coroutine waiting for an append and the group committer's callback (on the
// committer's thread): the result under `mu`, and a timer on the waiter's executor that the
// callback cancels to wake it.
struct WritePath::AppendWait {
  explicit AppendWait(const boost::asio::any_io_executor& executor) : wake(executor) {}
  std::mutex mu;
  bool done = false;
  Status status;
  int64_t seq = 0;
  std::string body;  // the entry's body, handed back by the committer (one buffer per write)
  boost::asio::steady_timer wake;

  bool Done() {
    std::lock_guard lock(mu);
    return done;
  }
  // Waits until the committer's callback ran, or `deadline`; true if it ran.
  boost::asio::awaitable<bool> Until(std::chrono::steady_clock::time_point deadline) {
    while (!Done()) {
      if (std::chrono::steady_clock::now() >= deadline) co_return false;
      wake.expires_at(deadline);
      co_await wake.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    co_return true;
  }
};

WritePath::InFlight& WritePath::InFlight::operator=(InFlight&& o) noexcept {
  if (this != &o) {
    Reset();
    set_ = std::move(o.set_);
    seq_ = o.seq_;
  }
  return *this;
}

void WritePath::InFlight::Reset() {
  if (set_ == nullptr) return;
  {
    std::lock_guard lock(set_->mu);
    set_->seqs.erase(seq_);
  }
  set_ = nullptr;
}

boost::asio::awaitable<WritePath::Appended> WritePath::Append(const std::string& seq_key,
                                                              const Footprint& footprint,
                                                              WalEntry entry) {
  Appended out;
  if (failpoints::Hit(failpoints::Point::kBeforeWalAppend)) {
    out.status = Status::Unavailable("failpoint before_wal_append");
    co_return out;
  }
  auto wait = std::make_shared<AppendWait>(co_await boost::asio::this_coro::executor);
  auto on_commit = [in_flight = in_flight_, wait](Status status, int64_t seq) {
    // A durable (or possibly durable) entry is in flight from now on, so recovery leaves it to
    // this writer, which may wait a while for its turn.
    if (seq != 0 && (status.ok() || status.code() == StatusCode::kTimeout)) {
      std::lock_guard lock(in_flight->mu);
      in_flight->seqs.insert(seq);
    }
    {
      std::lock_guard lock(wait->mu);
      wait->done = true;
      wait->status = std::move(status);
      wait->seq = seq;
    }
    boost::asio::post(wait->wake.get_executor(), [wait] { wait->wake.cancel(); });
  };
  uint64_t id = 0;
  sequencer_->Take(seq_key, footprint, [&](uint64_t ticket) {
    // Under the forward sequencer's lock: both lines hand out tickets in the same order.
    out.forward = Turn(sequencer_, seq_key, ticket);
    out.outcome = Turn(outcomes_, seq_key, outcomes_->Take(seq_key, nullptr));
    id = committer_.Append(std::move(entry), on_commit, &wait->body);
  });

  const auto deadline = std::chrono::steady_clock::now() + config_.wal_append_timeout;
  if (!co_await wait->Until(deadline)) {
    ++stats_.append_timeouts;
    if (committer_.Cancel(id)) {
      out.status = Status::Unavailable("not written within WAL_APPEND_TIMEOUT_MS (" +
                                       std::to_string(config_.wal_append_timeout.count()) +
                                       " ms)");
      co_return out;
    }
    // The store is writing it now: in doubt until it answers.
    out.status = Status::Timeout("the store did not answer within WAL_APPEND_TIMEOUT_MS (" +
                                 std::to_string(config_.wal_append_timeout.count()) + " ms)");
    out.in_doubt = true;
    out.wait = std::move(wait);
    co_return out;
  }
  std::lock_guard lock(wait->mu);
  out.status = wait->status;
  out.seq = wait->seq;
  out.body = std::move(wait->body);
  if (out.status.code() == StatusCode::kTimeout) {
    out.in_doubt = true;
    out.wait = wait;
  }
  co_return out;
}

boost::asio::awaitable<void> WritePath::RejectInDoubt(std::shared_ptr<AppendWait> wait) {
  // The store's calls are bounded (WAL_STORE_TIMEOUT_MS), so its answer comes.
  co_await wait->Until(std::chrono::steady_clock::time_point::max());
  int64_t seq = 0;
  {
    std::lock_guard lock(wait->mu);
    const bool maybe_written = wait->status.ok() || wait->status.code() == StatusCode::kTimeout;
    if (maybe_written) seq = wait->seq;
  }
  if (seq == 0) co_return;  // nothing was written
  InFlight in_flight(in_flight_, seq);
  Outcome out;
  out.state = EntryState::kRejected;
  out.error = "WAL append not confirmed within WAL_APPEND_TIMEOUT_MS; the client was answered 503";
  Status recorded = co_await RecordOutcome(seq, out);
  spdlog::warn("WAL entry {}: append was in doubt; recorded as rejected ({})", seq,
               recorded.ToString());
}

}  // namespace chroma_ha
