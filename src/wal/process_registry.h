// One object per key and process, shared by every caller while it lives: how the SQLite stores
// of one process on one file share its lock (sqlite_file_lock.h) and its body files
// (sqlite_bodies.h). A forked child never gets its parent's object (it must not share the
// parent's descriptors' state): it makes its own. Thread-safe.
#ifndef CHROMA_HA_WAL_PROCESS_REGISTRY_H_
#define CHROMA_HA_WAL_PROCESS_REGISTRY_H_

#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "chroma_ha/status.h"

namespace chroma_ha {

template <typename T>
class ProcessRegistry {
 public:
  // The live object of `key`, else what make() (a callable returning
  // Result<std::shared_ptr<T>>, called under the registry's lock) makes, which is then
  // shared; *made (if not null) tells which.
  template <typename Make>
  Result<std::shared_ptr<T>> Get(const std::string& key, Make&& make, bool* made = nullptr) {
    if (made != nullptr) *made = false;
    std::lock_guard lock(mu_);
    auto it = held_.find(key);
    if (it != held_.end() && it->second.first == getpid()) {
      if (std::shared_ptr<T> live = it->second.second.lock()) return live;
    }
    Result<std::shared_ptr<T>> fresh = make();
    if (!fresh.ok()) return fresh;
    held_[key] = {getpid(), *fresh};
    if (made != nullptr) *made = true;
    return fresh;
  }

  // Drops the entry of `key` if its object is gone (called by the object's destructor).
  void Forget(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = held_.find(key);
    if (it != held_.end() && it->second.second.expired()) held_.erase(it);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<pid_t, std::weak_ptr<T>>> held_;  // guarded by mu_
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_PROCESS_REGISTRY_H_
