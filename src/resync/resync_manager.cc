#include "resync/resync_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "sync/chroma_api.h"

namespace chroma_ha {
namespace {

using nlohmann::json;

}  // namespace

ResyncManager::ResyncManager(Deps deps)
    : d_(std::move(deps)), resyncing_(new std::atomic<bool>[d_.instances.size()]) {
  for (size_t i = 0; i < d_.instances.size(); ++i) resyncing_[i] = false;
}

ResyncManager::~ResyncManager() { Stop(); }

int ResyncManager::IndexOf(const std::string& name) const {
  for (size_t i = 0; i < d_.instances.size(); ++i) {
    if (d_.instances[i] != nullptr && d_.instances[i]->name() == name) return static_cast<int>(i);
  }
  return -1;
}

bool ResyncManager::Resyncing(const std::string& instance) const {
  const int i = IndexOf(instance);
  return i >= 0 && resyncing_[i].load();
}

bool ResyncManager::ResyncingIndex(size_t index) const {
  return index < d_.instances.size() && resyncing_[index].load();
}

std::optional<Fence> ResyncManager::FenceFor(const std::string& instance) const {
  if (d_.leases == nullptr) return Fence();
  return d_.leases->Holding(ReplayLeaseName(instance));
}

void ResyncManager::Start() {
  Poll();  // before the sync worker's first round: a stored running resync pauses its replay
  std::lock_guard<std::mutex> lock(mu_);
  if (poller_.joinable()) return;
  stopping_ = false;
  poller_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, kPollInterval, [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      Poll();
      lock.lock();
    }
  });
}

void ResyncManager::Stop() {
  std::map<std::string, std::unique_ptr<Job>> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& [name, job] : jobs_) job->engine->Stop();
    jobs.swap(jobs_);
  }
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
  for (auto& [name, job] : jobs) {
    if (job->thread.joinable()) job->thread.join();
  }
}

void ResyncManager::Record(const ResyncRecord& p) {
  std::lock_guard<std::mutex> lock(mu_);
  known_[p.instance] = p;
  if (const int i = IndexOf(p.instance); i >= 0) resyncing_[i] = p.running();
  auto job = jobs_.find(p.instance);
  if (job != jobs_.end()) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - job->second->began)
            .count();
    if (seconds > 0.2) rates_[p.instance] = (p.records_done - job->second->base_records) / seconds;
  }
}

void ResyncManager::Launch(ResyncRecord p) {
  const int target = IndexOf(p.instance);
  const int source = IndexOf(p.source);
  if (target < 0 || source < 0 || stopping_) return;
  if (auto old = jobs_.find(p.instance); old != jobs_.end()) {
    if (!old->second->finished) return;  // one engine per instance
    old->second->thread.join();          // finished: its thread is returning
    jobs_.erase(old);
  }
  auto job = std::make_unique<Job>();
  ResyncEngine::Options options;
  options.page_size = d_.config->resync_page_size;
  const std::string name = p.instance;
  job->engine = std::make_unique<ResyncEngine>(
      *d_.store, *d_.instances[source], *d_.instances[target], d_.ids, options,
      [this, name] { return FenceFor(name); }, *d_.clock);
  job->base_records = p.records_done;
  job->began = std::chrono::steady_clock::now();
  Job* raw = job.get();
  known_[name] = p;
  resyncing_[target] = true;
  rates_[name] = 0;
  jobs_[name] = std::move(job);
  raw->thread = std::thread([this, raw, p = std::move(p)]() mutable { RunJob(raw, std::move(p)); });
}

void ResyncManager::RunJob(Job* job, ResyncRecord p) {
  spdlog::info("resync {} from {}: {} ({} of {} collections done)", p.instance, p.source,
               p.prepared ? "resuming" : "starting", p.next, p.plan.size());
  const Status s = job->engine->Run(p, [this](const ResyncRecord& q) { Record(q); });
  if (s.ok()) {
    Record(p);
    if (p.state == kResyncDone) {
      spdlog::info("resync {} from {}: done, {} records in {} collections ({} copied twice)",
                   p.instance, p.source, p.records_done, p.plan.size(), p.records_recopied);
      Alert(p.instance, AlertSeverity::kInfo, "Resync of " + p.instance + " done",
            std::to_string(p.records_done) + " records in " + std::to_string(p.plan.size()) +
                " collections copied from " + p.source + ".",
            /*resolved=*/true);
    } else {
      spdlog::error("resync {} from {}: failed: {}", p.instance, p.source, p.reason);
      Alert(p.instance, AlertSeverity::kCritical, "Resync of " + p.instance + " failed", p.reason,
            /*resolved=*/false);
    }
    if (d_.on_finished) d_.on_finished();
  } else {
    spdlog::warn("resync {}: paused ({}); it resumes from the recorded page", p.instance,
                 s.ToString());
  }
  job->finished = true;
  wake_.notify_all();
}

void ResyncManager::ReapLocked() {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->second->finished) {
      it->second->thread.join();
      rates_.erase(it->first);
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

void ResyncManager::Poll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ReapLocked();
  }
  Result<std::map<std::string, std::string>> rows = d_.store->LoadResyncs();
  if (!rows.ok()) {
    spdlog::debug("resync: reading the stored resyncs failed: {}", rows.status().ToString());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [instance, text] : *rows) {
      Result<ResyncRecord> p = FromStoreText(text);
      const int index = IndexOf(instance);
      if (!p.ok() || index < 0 || jobs_.count(instance)) continue;  // a local job is fresher
      known_[instance] = *p;
      resyncing_[index] = p->running();
      if (p->running() && FenceFor(instance)) Launch(*p);
    }
  }
  if (d_.config->auto_resync && std::chrono::steady_clock::now() >= next_auto_check_) {
    next_auto_check_ = std::chrono::steady_clock::now() + kAutoCheckInterval;
    CheckAutomatic();
  }
}

Result<ResyncManager::Started> ResyncManager::Request(const std::string& instance,
                                                      const std::string& source,
                                                      const std::vector<std::string>& extra_tenants,
                                                      const std::string& trigger,
                                                      const std::function<void()>& on_started) {
  return Begin(instance, source, extra_tenants, std::nullopt, trigger, on_started);
}

Result<ResyncManager::Started> ResyncManager::RequestCollection(
    const std::string& instance, const std::string& source, const std::string& tenant,
    const std::string& database, const std::string& collection, const std::string& trigger) {
  if (tenant.empty() || database.empty() || collection.empty()) {
    return Status::InvalidArgument("a collection resync needs a tenant, database and collection");
  }
  return Begin(instance, source, {}, ResyncCollection{tenant, database, collection, 0}, trigger);
}

Result<ResyncManager::Started> ResyncManager::Begin(const std::string& instance,
                                                    const std::string& source,
                                                    const std::vector<std::string>& extra_tenants,
                                                    std::optional<ResyncCollection> scope,
                                                    const std::string& trigger,
                                                    const std::function<void()>& on_started) {
  const int target = IndexOf(instance);
  if (target < 0) return Status::NotFound("no instance named '" + instance + "'");
  std::string from = source;
  if (from.empty()) from = d_.instances[target == 0 && d_.instances.size() > 1 ? 1 : 0]->name();
  const int origin = IndexOf(from);
  if (origin < 0) return Status::InvalidArgument("no instance named '" + from + "' (source)");
  if (origin == target) return Status::InvalidArgument("the source is the instance itself");
  Result<std::map<std::string, std::string>> rows = d_.store->LoadResyncs();
  if (!rows.ok()) return rows.status();
  std::lock_guard<std::mutex> lock(mu_);
  auto running = jobs_.find(instance);
  if (running != jobs_.end() && !running->second->finished) {
    return Started{false, PublicJson(known_[instance], rates_[instance])};
  }
  if (auto row = rows->find(instance); row != rows->end()) {
    Result<ResyncRecord> p = FromStoreText(row->second);
    if (p.ok() && p->running()) return Started{false, PublicJson(*p, 0)};
  }
  ResyncRecord p;
  p.instance = instance;
  p.source = from;
  p.state = kResyncRunning;
  p.trigger = trigger;
  p.scope = std::move(scope);
  p.started_at_ms = d_.clock->UnixMillis();
  std::set<std::string> tenants = {"default_tenant"};
  if (d_.identities) {
    for (const CollectionIdentity& c : d_.identities()) tenants.insert(c.tenant);
  }
  tenants.insert(extra_tenants.begin(), extra_tenants.end());
  p.tenants.assign(tenants.begin(), tenants.end());
  const std::optional<Fence> fence = FenceFor(instance);
  // Not the lease holder: recorded unfenced; the holder resumes it at its next poll.
  if (Status s = d_.store->PutResync(instance, ToStoreText(p), fence.value_or(Fence())); !s.ok()) {
    return s;
  }
  ++started_total_;
  known_[instance] = p;
  resyncing_[target] = true;
  if (on_started) on_started();
  if (fence) Launch(p);
  return Started{true, PublicJson(p, 0)};
}

Status ResyncManager::RepairCollection(const std::string& instance, const std::string& tenant,
                                       const std::string& database, const std::string& collection,
                                       std::chrono::milliseconds wait) {
  Result<Started> started =
      RequestCollection(instance, "", tenant, database, collection, "anti_entropy");
  if (!started.ok()) return started.status();
  if (!started->started) {
    return Status::Unavailable("a resync of '" + instance +
                               "' is running; the collection is checked again next pass");
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Result<json> state = State(instance);
    if (!state.ok()) continue;
    const std::string now = state->value("state", "");
    if (now == "failed") return Status::Unavailable("resync failed: " + state->value("reason", ""));
    if (now == "done") return Status::Ok();
  }
  return Status::Ok();  // started and still copying
}

Result<json> ResyncManager::State(const std::string& instance) {
  const int target = IndexOf(instance);
  if (target < 0) return Status::NotFound("no instance named '" + instance + "'");
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto job = jobs_.find(instance);
    if (job != jobs_.end() && !job->second->finished) {
      return PublicJson(known_[instance], rates_[instance]);
    }
  }
  Result<std::map<std::string, std::string>> rows = d_.store->LoadResyncs();
  if (!rows.ok()) return rows.status();
  if (auto row = rows->find(instance); row != rows->end()) {
    Result<ResyncRecord> p = FromStoreText(row->second);
    if (!p.ok()) return p.status();
    return PublicJson(*p, 0);
  }
  ResyncRecord idle;
  idle.instance = instance;
  idle.source = d_.instances[target == 0 && d_.instances.size() > 1 ? 1 : 0]->name();
  return PublicJson(idle, 0);
}

std::vector<ResyncManager::Stats> ResyncManager::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Stats> out;
  for (const auto& [name, p] : known_) {
    auto rate = rates_.find(name);
    out.push_back({name, p.state, p.collections_done(), p.collections_total(), p.records_done,
                   p.records_total, p.records_recopied,
                   rate != rates_.end() && p.running() ? rate->second : 0.0});
  }
  return out;
}

void ResyncManager::Alert(const std::string& instance, AlertSeverity severity,
                          const std::string& title, const std::string& text, bool resolved) {
  if (d_.alerts == nullptr) return;
  d_.alerts->Send(chroma_ha::Alert{"resync/" + instance, severity, title, text, resolved});
}

}  // namespace chroma_ha
