#include "verify/anti_entropy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "verify/chroma_reader.h"
#include "verify/collection_check.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;

std::map<std::string, json> ByName(const std::vector<json>& objects) {
  std::map<std::string, json> out;
  for (const json& o : objects) {
    if (o.is_object() && o.contains("name") && o["name"].is_string()) out[o["name"]] = o;
  }
  return out;
}

std::optional<json> Find(const std::map<std::string, json>& m, const std::string& name) {
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

int64_t Millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

struct AntiEntropyChecker::Pass {
  int64_t checked = 0, skipped = 0, mismatches = 0, repairs_ok = 0, repairs_failed = 0;
  std::vector<Divergence> divergent;
};

AntiEntropyChecker::AntiEntropyChecker(std::vector<InstanceClient*> instances, Pending pending,
                                       Tenants tenants, Repair repair, const Clock& clock,
                                       Options options)
    : instances_(std::move(instances)),
      pending_(std::move(pending)),
      tenants_(std::move(tenants)),
      repair_(std::move(repair)),
      clock_(clock),
      options_(options) {
  view_.enabled = options_.interval.count() > 0;
  view_.auto_repair = options_.auto_repair;
  view_.interval_ms = options_.interval.count();
}

AntiEntropyChecker::~AntiEntropyChecker() { Stop(); }

Status AntiEntropyChecker::CheckDatabase(const std::string& tenant, const std::string& database,
                                         std::size_t other, bool in_a, bool in_b, Pass* pass) {
  ChromaApi a(instances_[0]->name(), *instances_[0]);
  ChromaApi b(instances_[other]->name(), *instances_[other]);
  std::map<std::string, json> ca, cb;
  for (auto [api, out, present] : {std::tuple{&a, &ca, in_a}, std::tuple{&b, &cb, in_b}}) {
    if (!present) continue;  // absent there: no collections
    auto list = api->Collections(tenant, database, options_.page_size);
    if (!list.ok()) return list.status();
    *out = ByName(*list);
  }
  std::set<std::string> names;
  for (const auto& [n, x] : ca) names.insert(n);
  for (const auto& [n, x] : cb) names.insert(n);
  auto behind = [&](const std::string& name) {
    auto p = pending_ ? pending_(tenant, database, name)
                      : Result<std::vector<std::string>>(std::vector<std::string>{});
    if (!p.ok()) return true;
    return std::find(p->begin(), p->end(), a.label()) != p->end() ||
           std::find(p->begin(), p->end(), b.label()) != p->end();
  };
  for (const std::string& name : names) {
    if (stopping_) return Status::Unavailable("anti-entropy: stopping");
    if (behind(name)) {
      ++pass->skipped;
      continue;
    }
    ++pass->checked;
    auto check = CheckCollection(a, b, tenant, database, name, Find(ca, name), Find(cb, name),
                                 options_.page_size);
    if (!check.ok()) return check.status();
    if (check->digest_mismatch) ++pass->mismatches;
    if (check->differences.empty()) continue;
    if (behind(name)) {  // a write arrived while we compared: behind, not divergent
      ++pass->skipped;
      continue;
    }
    Divergence d;
    d.instance = b.label();
    d.tenant = tenant;
    d.database = database;
    d.collection = name;
    d.differences = check->differences.count();
    d.detail = check->differences.lines().front();
    spdlog::warn("anti-entropy: {}/{}/{} diverged on {}: {} difference(s), e.g. {}", tenant,
                 database, name, b.label(), d.differences, d.detail);
    if (options_.auto_repair && repair_) {
      d.repair_attempted = true;
      Status s = repair_(b.label(), tenant, database, name);
      d.repaired = s.ok();
      if (!s.ok()) d.repair_error = s.ToString();
      ++(s.ok() ? pass->repairs_ok : pass->repairs_failed);
      spdlog::warn("anti-entropy: repair of {}/{}/{} on {}: {}", tenant, database, name, b.label(),
                   s.ok() ? "done" : s.ToString());
    }
    pass->divergent.push_back(std::move(d));
  }
  return Status::Ok();
}

Status AntiEntropyChecker::CheckTenant(const std::string& tenant, std::size_t other, Pass* pass) {
  ChromaApi a(instances_[0]->name(), *instances_[0]);
  ChromaApi b(instances_[other]->name(), *instances_[other]);
  std::set<std::string> in_a, in_b, databases;
  for (auto [api, out] : {std::pair{&a, &in_a}, std::pair{&b, &in_b}}) {
    auto exists = api->TenantExists(tenant);
    if (!exists.ok()) return exists.status();
    if (!*exists) continue;
    auto list = api->Databases(tenant, options_.page_size);
    if (!list.ok()) return list.status();
    for (const auto& [name, x] : ByName(*list)) out->insert(name);
  }
  databases = in_a;
  databases.insert(in_b.begin(), in_b.end());
  for (const std::string& database : databases) {
    if (auto s = CheckDatabase(tenant, database, other, in_a.count(database) > 0,
                               in_b.count(database) > 0, pass);
        !s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

Status AntiEntropyChecker::RunOnce() {
  if (active_ && !active_()) {
    std::lock_guard<std::mutex> lock(mu_);
    view_.last_error = "inactive: another process holds the recovery lease and checks";
    view_.divergent.clear();
    return Status::Ok();
  }
  const auto start = clock_.Now();
  Pass pass;
  Status status = Status::Ok();
  std::set<std::string> tenants = {"default_tenant"};
  if (tenants_) {
    auto known = tenants_();
    if (known.ok()) tenants.insert(known->begin(), known->end());
  }
  for (std::size_t other = 1; other < instances_.size() && status.ok(); ++other) {
    for (const std::string& tenant : tenants) {
      // A tenant missing on one side has no databases there: its collections are "only on".
      status = CheckTenant(tenant, other, &pass);
      if (!status.ok()) break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    view_.passes += 1;
    view_.last_pass_ms = clock_.UnixMillis();
    view_.last_pass_duration_ms = Millis(clock_.Now() - start);
    view_.last_error = status.ok() ? "" : status.ToString();
    view_.collections_checked = pass.checked;
    view_.collections_skipped = pass.skipped;
    view_.digest_mismatches = pass.mismatches;
    view_.divergences_total += static_cast<int64_t>(pass.divergent.size());
    view_.repairs_ok_total += pass.repairs_ok;
    view_.repairs_failed_total += pass.repairs_failed;
    view_.divergent = pass.divergent;
  }
  if (!status.ok()) spdlog::warn("anti-entropy: pass stopped: {}", status.ToString());
  if (listener_) listener_(pass.divergent);
  return status;
}

void AntiEntropyChecker::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (wake_.wait_for(lock, options_.interval, [this] { return stop_; })) break;
    lock.unlock();
    (void)RunOnce();  // errors are in the view and the log
    lock.lock();
  }
}

void AntiEntropyChecker::Start() {
  if (options_.interval.count() <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void AntiEntropyChecker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stopping_ = true;
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

AntiEntropyView AntiEntropyChecker::View() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

}  // namespace chroma_ha
