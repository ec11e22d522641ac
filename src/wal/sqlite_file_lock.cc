#include "wal/sqlite_file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "wal/process_registry.h"

namespace chroma_ha {
namespace {

ProcessRegistry<SqliteFileLock>& TheRegistry() {
  // Never destroyed: used by static stores too. Keyed by the lock file's path.
  static auto* registry = new ProcessRegistry<SqliteFileLock>();
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
  return TheRegistry().Get(
      lock_path,
      [&]() -> Result<std::shared_ptr<SqliteFileLock>> {
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
                lock_path + ": SQLite allows one process per WAL file; stop the other process, " +
                "give this one its own WAL_PATH, or set DATABASE_URL (PostgreSQL) to run " +
                "several proxies");
          }
          return Status::Unavailable("cannot lock " + lock_path + ": " + std::strerror(err));
        }
        const std::string pid = std::to_string(getpid()) + "\n";
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
          // Informational only: the lock itself is held.
        }
        return std::shared_ptr<SqliteFileLock>(new SqliteFileLock(lock_path, fd));
      },
      taken);
}

SqliteFileLock::~SqliteFileLock() {
  TheRegistry().Forget(lock_path_);
  close(fd_);  // drops the flock
}

}  // namespace chroma_ha
