// The WritePath test harness: an in-memory store (behind a FaultStore and a GatedStore), a real
// GroupCommitter and WAL thread pool, and fake upstreams on the test's io_context. Nothing sleeps:
// requests and store calls can be held and released. Shared by the write path's test files.
#ifndef CHROMA_HA_TESTS_UNIT_SERVER_WRITE_HARNESS_H_
#define CHROMA_HA_TESTS_UNIT_SERVER_WRITE_HARNESS_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "co_run.h"
#include "collections/collection_map.h"
#include "fakes/fake_instance.h"
#include "fakes/fake_upstreams.h"
#include "fakes/fault_store.h"
#include "fakes/forwarding_store.h"
#include "fakes/memory_store.h"
#include "server/collection_resolver.h"
#include "server/router.h"
#include "server/write_path.h"
#include "wal/group_commit.h"

namespace chroma_ha {
namespace write_test {

using json = nlohmann::json;
using Order = std::vector<std::size_t>;

inline constexpr char kDb[] = "/api/v2/tenants/t/databases/d";
// c on the primary (canonical)
inline constexpr char kP1[] = "11111111-1111-1111-1111-111111111111";
inline constexpr char kR1[] = "22222222-2222-2222-2222-222222222222";  // c on the replica
inline constexpr char kP2[] = "33333333-3333-3333-3333-333333333333";  // c2 on the primary
inline constexpr char kR2[] = "44444444-4444-4444-4444-444444444444";  // c2 on the replica

inline Config MakeConfig() {
  Config c;
  c.instances = {{"primary", "http://p:1", "p", 1, false, true},
                 {"replica", "http://r:2", "r", 2, false, false}};
  c.request_timeout = std::chrono::milliseconds(1000);
  c.wal_retry_attempts = 3;
  return c;
}

inline std::string AddBody(const std::string& id) {
  return json{{"ids", {id}}, {"embeddings", {{1.0, 2.0, 3.0}}}}.dump();
}

// An upsert of `id` and of the record "shared": every such write conflicts with the others, so
// they are forwarded one at a time in WAL order.
inline std::string SharedBody(const std::string& id) {
  return json{{"ids", {id, "shared"}}, {"embeddings", {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}}}.dump();
}

// A WalStore that forwards to another, except that SetOutcome of one chosen seq, every Append or
// every PendingBefore waits until the test opens the gate (a store that is slow or silent at
// that call), and that a hook may run once before the next call of one method (another process
// writing to the store at that moment).
class GatedStore final : public ForwardingStore {
 public:
  explicit GatedStore(WalStore* base) : ForwardingStore(base) {}
  void GateSetOutcome(int64_t seq) {
    std::lock_guard lock(mu_);
    gated_seq_ = seq;
  }
  void GateAppends() {
    std::lock_guard lock(mu_);
    gate_appends_ = true;
    open_ = false;
  }
  void GatePendingBefore() {
    std::lock_guard lock(mu_);
    gate_pending_before_ = true;
    open_ = false;
  }
  int pending_before_entered() const {
    std::lock_guard lock(mu_);
    return pending_before_entered_;
  }
  int appends_entered() const {
    std::lock_guard lock(mu_);
    return appends_entered_;
  }
  void OpenGate() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool entered() const {
    std::lock_guard lock(mu_);
    return entered_;
  }
  // Runs `hook` before the next call of `op` goes on (once; on the caller's thread).
  void BeforeNext(WalOp op, std::function<void()> hook) {
    std::lock_guard lock(mu_);
    hook_op_ = op;
    hook_ = std::move(hook);
  }

  Status SetOutcome(int64_t seq, EntryState state, const std::string& origin, int attempts,
                    const std::string& last_error, const Fence& fence = Fence(),
                    bool* written = nullptr) override {
    {
      std::unique_lock lock(mu_);
      if (seq == gated_seq_) {
        entered_ = true;
        cv_.wait(lock, [&] { return open_; });
      }
    }
    return base_->SetOutcome(seq, state, origin, attempts, last_error, fence, written);
  }

 private:
  Status Enter(WalOp op) override {
    std::function<void()> hook;
    {
      std::lock_guard lock(mu_);
      if (hook_ && op == hook_op_) hook.swap(hook_);
    }
    if (hook) hook();
    std::unique_lock lock(mu_);
    if (op == WalOp::kAppend && gate_appends_) {
      ++appends_entered_;
      cv_.wait(lock, [&] { return open_; });
    } else if (op == WalOp::kPendingBefore && gate_pending_before_) {
      ++pending_before_entered_;
      cv_.wait(lock, [&] { return open_; });
    }
    return Status::Ok();
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t gated_seq_ = -1;
  bool gate_appends_ = false;
  int appends_entered_ = 0;
  bool gate_pending_before_ = false;
  int pending_before_entered_ = 0;
  bool open_ = false;
  bool entered_ = false;
  WalOp hook_op_ = WalOp::kAppend;
  std::function<void()> hook_;
};

// Everything a WritePath needs, built in dependency order.
struct Harness {
  explicit Harness(int wal_thread_count = 2)
      : config(MakeConfig()),
        fault(&mem),
        gated(&fault),
        committer(&gated, 16),
        ups({"primary", "replica"}),
        resolver(config, ups, map, nullptr),
        wal_threads(wal_thread_count),
        writes(config, ups, resolver, gated, committer, wal_threads, [this] { ++notified; }) {
    (void)map.Learn({"t", "d", "c"}, "primary", kP1);
    (void)map.Learn({"t", "d", "c"}, "replica", kR1);
    (void)map.Learn({"t", "d", "c2"}, "primary", kP2);
    (void)map.Learn({"t", "d", "c2"}, "replica", kR2);
  }
  ~Harness() {
    gated.OpenGate();
    committer.Stop();
    wal_threads.join();
  }

  // Starts a write; `routes` keeps each Route alive while its coroutine runs.
  std::future<HttpResponse> Start(std::string method, std::string target, std::string body) {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.headers.push_back({"content-type", "application/json"});
    request.body = std::move(body);
    routes.push_back(Classify(request.method, request.target));
    return testing::Spawn(ioc, writes.Handle(std::move(request), routes.back()));
  }
  HttpResponse Write(std::string method, std::string target, std::string body) {
    auto f = Start(std::move(method), std::move(target), std::move(body));
    return testing::Await(ioc, f);
  }
  HttpResponse Add(const std::string& collection_id, const std::string& record_id) {
    return Write("POST", std::string(kDb) + "/collections/" + collection_id + "/add",
                 AddBody(record_id));
  }
  std::future<HttpResponse> StartAdd(const std::string& collection_id,
                                     const std::string& record_id) {
    return Start("POST", std::string(kDb) + "/collections/" + collection_id + "/add",
                 AddBody(record_id));
  }
  std::future<HttpResponse> StartShared(const std::string& collection_id,
                                        const std::string& record_id) {
    return Start("POST", std::string(kDb) + "/collections/" + collection_id + "/upsert",
                 SharedBody(record_id));
  }
  std::vector<WalEntry> PendingFor(const std::string& instance) {
    auto r = mem.PendingFor(instance, 0, 1000);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<WalEntry>{};
  }
  // The WAL entry whose body is `body`, if any.
  std::optional<WalEntry> EntryWithBody(const std::string& body) {
    for (auto& e : mem.All()) {
      if (e.body == body) return e;
    }
    return std::nullopt;
  }

  boost::asio::io_context ioc;
  Config config;
  MemoryWalStore mem;
  FaultStore fault;
  GatedStore gated;
  GroupCommitter committer;
  FakeUpstreams ups;
  CollectionMap map;
  CollectionResolver resolver;
  boost::asio::thread_pool wal_threads;
  std::atomic<int> notified{0};
  WritePath writes;
  std::deque<Route> routes;
};

inline void ExpectJsonError(const HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_TRUE(j.contains("error") && j["error"].is_string()) << r.body;
  EXPECT_TRUE(j.contains("message") && j["message"].is_string()) << r.body;
}

}  // namespace write_test
}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_UNIT_SERVER_WRITE_HARNESS_H_
