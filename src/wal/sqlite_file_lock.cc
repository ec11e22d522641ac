#include "wal/sqlite_file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <utility>

namespace chroma_ha {
namespace {

struct Registry {
  std::mutex mu;
  // Lock file path -> the lock this process holds (and the pid that took it: a forked child
  // sees its parent's entries and must not use them).
  std::map<std::string, std::pair<pid_t, std::weak_ptr<SqliteFileLock>>> held;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();  // never destroyed: used by static stores too
  return *registry;
}

std::string LockPathOf(const std::string& db_path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(db_path, ec);
  return (ec ? std::filesystem::path(db_path) : p).string() + ".lock";
}

// The pid recorded by the holder, or "" if none could be read.
std::string HolderOf(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::string pid(buf, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

}  // namespace

Result<std::shared_ptr<SqliteFileLock>> SqliteFileLock::Acquire(const std::string& db_path,
                                                                bool* taken) {
  if (taken != nullptr) *taken = false;
  const std::string lock_path = LockPathOf(db_path);
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> guard(registry.mu);
  auto it = registry.held.find(lock_path);
  if (it != registry.held.end() && it->second.first == getpid()) {
    if (std::shared_ptr<SqliteFileLock> lock = it->second.second.lock()) return lock;
  }
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Unavailable("cannot open the WAL lock file " + lock_path + ": " +
                               std::strerror(errno));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = HolderOf(fd);
    close(fd);
    if (err == EWOULDBLOCK) {
      return Status::FailedPrecondition(
          "the SQLite WAL " + db_path + " is in use by another chroma-ha process" +
          (holder.empty() ? std::string() : " (pid " + holder + ")") + ", which holds " +
          lock_path + ": SQLite allows one process per WAL file; stop the other process, give " +
          "this one its own WAL_PATH, or set DATABASE_URL (PostgreSQL) to run several proxies");
    }
    return Status::Unavailable("cannot lock " + lock_path + ": " + std::strerror(err));
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // Informational only: the lock itself is held.
  }
  std::shared_ptr<SqliteFileLock> lock(new SqliteFileLock(lock_path, fd));
  registry.held[lock_path] = {getpid(), lock};
  if (taken != nullptr) *taken = true;
  return lock;
}

SqliteFileLock::~SqliteFileLock() {
  {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> guard(registry.mu);
    auto it = registry.held.find(lock_path_);
    if (it != registry.held.end() && it->second.second.expired()) registry.held.erase(it);
  }
  close(fd_);  // drops the flock
}

}  // namespace chroma_ha
