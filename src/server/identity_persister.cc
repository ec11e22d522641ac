#include "server/identity_persister.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace chroma_ha {

IdentityPersister::IdentityPersister(WalStore& store, Options options)
    : store_(store), options_(options) {}

IdentityPersister::~IdentityPersister() { Stop(); }

void IdentityPersister::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void IdentityPersister::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    thread.swap(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

bool IdentityPersister::Enqueue(const MapChange& change) {
  bool all = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto put = [&](Key key, Op op) {
      auto it = pending_.find(key);
      if (it != pending_.end()) {
        it->second = std::move(op);  // the latest operation on a key is the one that counts
      } else if (pending_.size() < options_.max_pending) {
        pending_.emplace(std::move(key), std::move(op));
      } else {
        ++stats_.dropped;
        all = false;
      }
    };
    for (const auto& identity : change.put) {
      put({identity.tenant, identity.database, identity.name}, identity);
    }
    for (const auto& key : change.removed) put({key.tenant, key.database, key.name}, std::nullopt);
    stats_.pending = static_cast<int64_t>(pending_.size());
  }
  if (!all) {
    spdlog::error("collection identity changes dropped: {} are already waiting for the WAL store",
                  options_.max_pending);
  }
  wake_.notify_all();
  return all;
}

Status IdentityPersister::DrainOnce() {
  for (;;) {
    Key key;
    Op op;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.empty()) return Status::Ok();
      auto it = pending_.begin();
      key = it->first;
      op = std::move(it->second);
      pending_.erase(it);
    }
    const char* name = op ? "put_collection" : "remove_collection";
    const Status s =
        op ? store_.PutCollection(*op)
           : store_.RemoveCollection(std::get<0>(key), std::get<1>(key), std::get<2>(key));
    std::lock_guard<std::mutex> lock(mu_);
    if (s.ok()) {
      ++stats_.written;
    } else {
      ++stats_.failures;
      ++stats_.errors_by_op[name];
      pending_.try_emplace(key, std::move(op));  // unless a newer operation replaced it
    }
    stats_.pending = static_cast<int64_t>(pending_.size());
    if (!s.ok()) {
      spdlog::warn("WAL store: {} of collection {}/{}/{} failed, kept for a retry ({} waiting): {}",
                   name, std::get<0>(key), std::get<1>(key), std::get<2>(key), pending_.size(),
                   s.ToString());
      return s;
    }
  }
}

IdentityPersistStats IdentityPersister::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void IdentityPersister::Loop() {
  int failures = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (failures == 0) {
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    } else {
      // Back off: retry_base * 2^(failures-1), capped; only Stop() cuts it short.
      const int shift = std::min(failures - 1, 20);
      const auto delay = std::min(options_.retry_max, options_.retry_base * (int64_t{1} << shift));
      wake_.wait_for(lock, delay, [this] { return stopping_; });
    }
    if (stopping_) break;
    lock.unlock();
    const Status s = DrainOnce();
    lock.lock();
    failures = s.ok() ? 0 : failures + 1;
  }
  // One last pass, so that a shutdown does not leave behind what the store would take now.
  lock.unlock();
  (void)DrainOnce();
}

}  // namespace chroma_ha
