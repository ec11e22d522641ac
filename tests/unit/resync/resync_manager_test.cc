// ResyncManager with two in-memory Chromas and the memory WAL store: requests and their answers,
// the pause flag, the single runner (only the holder of the target's replay lease copies; a
// request made elsewhere is picked up by the holder), and AUTO_RESYNC with its alert.
#include "resync/resync_manager.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "fakes/fake_clock.h"
#include "fakes/fake_instance.h"
#include "fakes/memory_store.h"
#include "mini_chroma.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;

class RecordingSink final : public AlertSink {
 public:
  void Send(const Alert& alert) override {
    std::lock_guard<std::mutex> lock(mu_);
    alerts_.push_back(alert);
  }
  std::vector<Alert> alerts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return alerts_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Alert> alerts_;
};

class ResyncManagerTest : public ::testing::Test {
 protected:
  ResyncManagerTest()
      : store_({"primary", "replica"}, &clock_),
        primary_("primary"),
        replica_("replica"),
        src_("p", primary_),
        dst_("r", replica_) {
    // spdlog's registry is a static built on first use, inside the (uninstrumented) shared
    // library: built here, on the test's thread, before a resync thread logs, TSan sees no
    // race between its construction on that thread and a read on this one. (chroma-ha's main()
    // sets logging up before it starts any thread.)
    (void)spdlog::default_logger_raw();
    EXPECT_TRUE(store_.Open().ok());
    config_.resync_page_size = 10;
    src_.Fill(src_.Make("default_tenant", "default_database", "docs"), 25);
  }
  std::unique_ptr<ResyncManager> Make(LeaseKeeper* leases,
                                      std::vector<CollectionIdentity> known = {}) {
    ResyncManager::Deps d;
    d.config = &config_;
    d.store = &store_;
    d.instances = {&primary_, &replica_};
    d.leases = leases;
    d.alerts = &sink_;
    d.clock = &clock_;
    d.identities = [known] { return known; };
    return std::make_unique<ResyncManager>(std::move(d));
  }
  // Polls the state until it is `state` (5 s at most).
  json WaitState(ResyncManager& m, const std::string& state) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
      m.Poll();
      last = *m.State("replica");
      if (last["state"] == state) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << "state never became " << state << ": " << last.dump();
    return last;
  }
  size_t ReplicaRecords() {
    std::lock_guard<std::mutex> lock(dst_.mu);
    auto& db = dst_.tenants()["default_tenant"]["default_database"];
    return db.count("docs") ? db["docs"].records.size() : 0;
  }

  Config config_;
  FakeClock clock_;
  MemoryWalStore store_;
  FakeInstance primary_, replica_;
  MiniChroma src_, dst_;
  RecordingSink sink_;
};

TEST_F(ResyncManagerTest, ARequestStartsOnceAndAnswersTheRunningStateAfterwards) {
  auto m = Make(nullptr);
  EXPECT_EQ((*m->State("replica"))["state"], "idle");
  EXPECT_EQ(m->State("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m->Request("nope", "", {}, "admin").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m->Request("replica", "replica", {}, "admin").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(m->Request("replica", "other", {}, "admin").status().code(),
            StatusCode::kInvalidArgument);
  // Hold the copy at its first page so that the second request finds it running.
  std::atomic<bool> release{false};
  src_.fail = [&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    while (r.target.ends_with("/get") && !release) std::this_thread::yield();
    return std::nullopt;
  };
  auto first = m->Request("replica", "", {}, "admin");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->started);
  EXPECT_EQ(first->state["source"], "primary");
  EXPECT_TRUE(m->Resyncing("replica"));
  EXPECT_TRUE(m->ResyncingIndex(1));
  EXPECT_FALSE(m->Resyncing("primary"));
  auto second = m->Request("replica", "", {}, "admin");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->started);
  EXPECT_EQ(second->state["state"], "running");
  release = true;
  const json done = WaitState(*m, "done");
  EXPECT_EQ(done["records_done"], 25);
  EXPECT_EQ(done["collections_total"], 1);
  EXPECT_FALSE(m->Resyncing("replica"));
  EXPECT_EQ(ReplicaRecords(), 25u);
  m->Stop();
}

TEST_F(ResyncManagerTest, ACollectionResyncCopiesThatCollection) {
  src_.Fill(src_.Make("default_tenant", "default_database", "other"), 5);
  auto m = Make(nullptr);
  EXPECT_EQ(m->RequestCollection("replica", "", "", "d", "c", "repair").status().code(),
            StatusCode::kInvalidArgument);
  auto started =
      m->RequestCollection("replica", "", "default_tenant", "default_database", "other", "repair");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_TRUE(started->started);
  EXPECT_EQ(started->state["collection"], "default_tenant/default_database/other");
  const json done = WaitState(*m, "done");
  EXPECT_EQ(done["records_done"], 5);
  EXPECT_EQ(ReplicaRecords(), 0u);  // "docs" was not copied
  m->Stop();
}

TEST_F(ResyncManagerTest, OnlyTheReplayLeaseHolderCopiesAndItPicksUpARequestMadeElsewhere) {
  ASSERT_TRUE(store_.AcquireLease("replay/replica", "other-proxy", 60'000).ok());
  LeaseKeeper leases(store_, "me", {"replay/replica"}, std::chrono::milliseconds(60'000), clock_);
  leases.Tick();
  ASSERT_FALSE(leases.Holding("replay/replica"));
  auto m = Make(&leases);
  auto started = m->Request("replica", "", {}, "admin");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_TRUE(started->started);
  EXPECT_TRUE(m->Resyncing("replica"));  // paused here too: no replay, no reads
  m->Poll();
  EXPECT_EQ(replica_.request_count(), 0u) << "copied without the lease";
  EXPECT_EQ((*m->State("replica"))["state"], "running");
  // The other proxy goes away: this one takes the lease and runs the recorded request.
  const Lease held = *store_.AcquireLease("replay/replica", "other-proxy", 60'000);
  ASSERT_TRUE(store_.ReleaseLease("replay/replica", "other-proxy", held.term).ok());
  leases.Tick();
  ASSERT_TRUE(leases.Holding("replay/replica"));
  WaitState(*m, "done");
  EXPECT_EQ(ReplicaRecords(), 25u);
  m->Stop();
}

TEST_F(ResyncManagerTest, AnInstanceBackEmptyThatTheMapSaysHeldCollectionsIsResyncedAndAlerted) {
  CollectionIdentity docs{"default_tenant",
                          "default_database",
                          "docs",
                          "p1",
                          {{"primary", "p1"}, {"replica", "r-old"}}};
  auto m = Make(nullptr, {docs});
  m->Poll();
  const json state = *m->State("replica");
  EXPECT_NE(state["state"], "idle");
  EXPECT_EQ(state["trigger"].get<std::string>().rfind("auto: it came back empty", 0), 0u)
      << state.dump();
  WaitState(*m, "done");
  EXPECT_EQ(ReplicaRecords(), 25u);
  EXPECT_EQ(m->auto_started_total(), 1);
  const auto alerts = sink_.alerts();
  ASSERT_GE(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].key, "resync/replica");
  EXPECT_FALSE(alerts[0].resolved);
  EXPECT_NE(alerts[0].title.find("is being resynced from primary"), std::string::npos);
  EXPECT_TRUE(alerts.back().resolved);
  m->Stop();
}

TEST_F(ResyncManagerTest, NoAutomaticResyncWhenTheMapNeverSawCollectionsThereOrItIsOff) {
  CollectionIdentity primary_only{
      "default_tenant", "default_database", "docs", "p1", {{"primary", "p1"}}};
  auto m = Make(nullptr, {primary_only});
  m->Poll();
  EXPECT_EQ((*m->State("replica"))["state"], "idle");
  config_.auto_resync = false;
  CollectionIdentity held{"default_tenant",
                          "default_database",
                          "docs",
                          "p1",
                          {{"primary", "p1"}, {"replica", "r-old"}}};
  auto off = Make(nullptr, {held});
  off->Poll();
  EXPECT_EQ((*off->State("replica"))["state"], "idle");
  EXPECT_TRUE(sink_.alerts().empty());
}

}  // namespace
}  // namespace chroma_ha
