#include "sync/lease_keeper.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

namespace chroma_ha {

std::string ReplayLeaseName(const std::string& instance) { return "replay/" + instance; }

LeaseKeeper::LeaseKeeper(WalStore& store, std::string member, std::vector<std::string> leases,
                         std::chrono::milliseconds ttl, const Clock& clock)
    : store_(store),
      member_(std::move(member)),
      leases_(std::move(leases)),
      ttl_(std::max(ttl, std::chrono::milliseconds(3))),
      clock_(clock) {
  view_.member = member_;
  view_.ttl_ms = ttl_.count();
}

LeaseKeeper::~LeaseKeeper() { Stop(); }

std::string LeaseKeeper::MakeMemberId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "host");
  }
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%08x",
                static_cast<unsigned>(std::random_device{}() & 0xffffffffu));
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + suffix;
}

void LeaseKeeper::TakeOrRenew(const std::string& lease) {
  std::optional<Fence> current = Holding(lease);
  const auto started = clock_.Now();
  Result<Lease> got = current ? store_.RenewLease(lease, member_, current->term, ttl_.count())
                              : store_.AcquireLease(lease, member_, ttl_.count());
  std::lock_guard<std::mutex> lock(mu_);
  if (got.ok() && got->HeldBy(member_)) {
    auto it = held_.find(lease);
    if (it == held_.end() || it->second.fence.term != got->term) {
      spdlog::info("lease {}: taken by {} (term {})", lease, member_, got->term);
    }
    held_[lease] = {Fence{lease, member_, got->term}, started + ttl_ * 9 / 10};
    return;
  }
  if (got.ok() || got.status().code() == StatusCode::kFailedPrecondition) {
    if (held_.erase(lease) != 0) {
      spdlog::warn("lease {}: lost by {}{}", lease, member_,
                   got.ok() ? " (held by " + got->holder + ")" : "");
    }
    return;
  }
  // A store error: keep the view until it runs out on its own (valid_until).
  view_.error = got.status().ToString();
}

void LeaseKeeper::Tick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    view_.error.clear();
  }
  if (Status s = store_.Heartbeat(member_); !s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    view_.error = s.ToString();
  }
  for (const std::string& lease : leases_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;  // each call may take up to the store timeout: do not stack them
    }
    TakeOrRenew(lease);
  }
  Result<std::vector<Lease>> leases = store_.ListLeases();
  Result<std::vector<Member>> members = store_.ListMembers();
  std::lock_guard<std::mutex> lock(mu_);
  if (leases.ok() && members.ok()) {
    view_.leases = std::move(leases).value();
    view_.members = std::move(members).value();
    view_.refreshed_ms = clock_.UnixMillis();
  } else {
    view_.error = (leases.ok() ? members.status() : leases.status()).ToString();
  }
  if (!view_.error.empty()) spdlog::debug("leases: store error: {}", view_.error);
}

bool LeaseKeeper::AwaitLease(const std::string& lease, std::chrono::milliseconds max_wait) {
  const auto deadline = clock_.Now() + max_wait;
  for (;;) {
    Tick();
    if (Holding(lease)) return true;
    if (OthersAlive() || clock_.Now() >= deadline) return false;
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait_for(lock, std::min<std::chrono::steady_clock::duration>(ttl_ / 3,
                                                                      deadline - clock_.Now()),
                   [this] { return stopping_; });
    if (stopping_) return false;
  }
}

bool LeaseKeeper::OthersAlive() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t my_first_seen = -1;
  for (const Member& m : view_.members) {
    if (m.member == member_) my_first_seen = m.first_seen_ms;
  }
  for (const Member& m : view_.members) {
    if (m.member != member_ && (my_first_seen < 0 || m.last_seen_ms > my_first_seen)) return true;
  }
  return false;
}

std::optional<Fence> LeaseKeeper::Holding(const std::string& lease) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(lease);
  if (it == held_.end() || clock_.Now() >= it->second.valid_until) return std::nullopt;
  return it->second.fence;
}

void LeaseKeeper::Lost(const std::string& lease) {
  std::lock_guard<std::mutex> lock(mu_);
  if (held_.erase(lease) != 0) spdlog::warn("lease {}: fenced out ({})", lease, member_);
}

LeaseKeeper::View LeaseKeeper::view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

void LeaseKeeper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void LeaseKeeper::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Tick();
    lock.lock();
    wake_.wait_for(lock, ttl_ / 3, [this] { return stopping_; });
  }
}

void LeaseKeeper::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    thread.swap(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
  std::map<std::string, Held> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held.swap(held_);
    // A store that failed the last tick would likely hold each release for the store timeout:
    // leave the leases to expire on their own then (shutdown stays bounded).
    if (!view_.error.empty()) held.clear();
  }
  for (const auto& [name, h] : held) {
    if (Status s = store_.ReleaseLease(name, member_, h.fence.term); !s.ok()) {
      spdlog::debug("lease {}: release failed (it expires on its own): {}", name, s.ToString());
    }
  }
}

}  // namespace chroma_ha
