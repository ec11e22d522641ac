#include "fault_store.h"  // same folder: tests/ is on the include path of users only

#include <utility>

namespace chroma_ha {

FaultStore::FaultStore(WalStore* base) : ForwardingStore(base) {}

FaultStore::FaultStore(std::unique_ptr<WalStore> base)
    : ForwardingStore(base.get()), owned_(std::move(base)) {}

void FaultStore::FailNthCall(int64_t n, Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  nth_faults_.push_back({std::nullopt, n, std::move(error)});
}

void FaultStore::FailNthCallOf(WalOp op, int64_t n, Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  nth_faults_.push_back({op, n, std::move(error)});
}

void FaultStore::SetDown(bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = down;
}

void FaultStore::CrashOnAppend(CrashMode mode) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_ = mode;
}

void FaultStore::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  nth_faults_.clear();
  down_ = false;
  crash_.reset();
}

bool FaultStore::fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_;
}

int64_t FaultStore::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

int64_t FaultStore::calls(WalOp op) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = op_calls_.find(op);
  return it == op_calls_.end() ? 0 : it->second;
}

int64_t FaultStore::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

Status FaultStore::Enter(WalOp op) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t index = calls_++;
  const int64_t op_index = op_calls_[op]++;
  Status result;
  for (auto it = nth_faults_.begin(); it != nth_faults_.end(); ++it) {
    const bool hit = it->op.has_value() ? (*it->op == op && it->n == op_index) : it->n == index;
    if (hit) {
      result = it->error;
      nth_faults_.erase(it);
      fired_ = true;
      break;
    }
  }
  if (result.ok() && down_) result = Status::Unavailable("store is down (injected)");
  if (!result.ok()) ++failures_;
  return result;
}

Status FaultStore::Append(std::vector<WalEntry>* entries) {
  if (Status s = Enter(WalOp::kAppend); !s.ok()) return s;
  std::optional<CrashMode> crash;
  {
    std::lock_guard<std::mutex> lock(mu_);
    crash.swap(crash_);
    if (crash.has_value()) {
      fired_ = true;
      ++failures_;
    }
  }
  if (!crash.has_value()) return base_->Append(entries);
  switch (*crash) {
    case CrashMode::kLost:
      return Status::Unavailable("crashed between append and commit (injected)");
    case CrashMode::kDurable: {
      std::vector<WalEntry> copy = *entries;
      if (Status s = base_->Append(&copy); !s.ok()) return s;
      return Status::Unavailable("crashed between append and commit (injected)");
    }
    case CrashMode::kInDoubtLost:
      for (WalEntry& e : *entries) e.seq = 0;
      return Status::Timeout("commit acknowledgement lost (injected; nothing was stored)");
    case CrashMode::kInDoubtDurable: {
      std::vector<WalEntry> copy = *entries;
      if (Status s = base_->Append(&copy); !s.ok()) return s;
      for (size_t i = 0; i < entries->size(); ++i) (*entries)[i].seq = copy[i].seq;
      return Status::Timeout("commit acknowledgement lost (injected; the entries are durable)");
    }
  }
  return Status::Internal("unknown crash mode");
}

}  // namespace chroma_ha
