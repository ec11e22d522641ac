#include "blocking_store.h"  // same folder: tests/ is on the include path of users only

namespace chroma_ha {

void BlockingStore::Freeze() {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_ = true;
}

void BlockingStore::Thaw() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    frozen_ = false;
  }
  cv_.notify_all();
}

int BlockingStore::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

int64_t BlockingStore::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

bool BlockingStore::WaitForWaiting(int n, std::chrono::milliseconds deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, deadline, [&] { return waiting_ >= n; });
}

Status BlockingStore::Enter(WalOp /*op*/) {
  std::unique_lock<std::mutex> lock(mu_);
  ++calls_;
  if (!frozen_) return Status::Ok();
  ++waiting_;
  cv_.notify_all();  // WaitForWaiting
  cv_.wait(lock, [this] { return !frozen_; });
  --waiting_;
  return Status::Ok();
}

}  // namespace chroma_ha
