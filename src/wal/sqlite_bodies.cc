#include "wal/sqlite_bodies.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "wal/process_registry.h"

namespace chroma_ha {
namespace {

ProcessRegistry<BodyFiles>& TheRegistry() {
  // Never destroyed: used by static stores too. Keyed by the bodies directory.
  static auto* registry = new ProcessRegistry<BodyFiles>();
  return *registry;
}

std::string Errno(const std::string& what, int error) { return what + ": " + std::strerror(error); }

// A segment's number from its file name, or 0 when the name is not a number.
int64_t SegmentOf(const std::string& name) {
  if (name.empty() || name.size() > 18 || name[0] == '0') return 0;
  int64_t n = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable(Errno("open " + path, errno));
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::Unavailable(Errno("fsync " + path, error));
}

}  // namespace

std::shared_ptr<BodyFiles> BodyFiles::For(const std::string& db_path, int64_t segment_bytes) {
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(db_path, ec);
  const std::string dir = (ec ? std::filesystem::path(db_path) : canonical).string() + ".bodies";
  Result<std::shared_ptr<BodyFiles>> files =
      TheRegistry().Get(dir, [&]() -> Result<std::shared_ptr<BodyFiles>> {
        return std::make_shared<BodyFiles>(dir, segment_bytes);
      });
  return std::move(files).value();  // making one cannot fail
}

BodyFiles::BodyFiles(std::string dir, int64_t segment_bytes)
    : dir_(std::move(dir)), segment_bytes_(segment_bytes) {}

BodyFiles::~BodyFiles() {
  TheRegistry().Forget(dir_);
  for (const auto& [segment, fd] : fds_) ::close(fd);
}

std::string BodyFiles::PathOf(int64_t segment) const {
  return dir_ + "/" + std::to_string(segment);
}

Status BodyFiles::LoadLocked() {
  if (loaded_) return Status::Ok();
  std::error_code ec;
  if (std::filesystem::is_directory(dir_, ec)) {
    dir_created_ = true;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
      if (const int64_t segment = SegmentOf(entry.path().filename().string()); segment > 0) {
        segments_.insert(segment);
      }
    }
    if (ec) return Status::Unavailable("cannot list " + dir_ + ": " + ec.message());
  }
  if (!segments_.empty()) {
    newest_ = *segments_.rbegin();
    struct stat st {};
    if (::stat(PathOf(newest_).c_str(), &st) != 0) {
      return Status::Unavailable(Errno("stat " + PathOf(newest_), errno));
    }
    newest_size_ = st.st_size;
  }
  loaded_ = true;
  return Status::Ok();
}

Result<int> BodyFiles::FdLocked(int64_t segment, bool create) {
  if (auto it = fds_.find(segment); it != fds_.end()) return it->second;
  const std::string path = PathOf(segment);
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
  if (fd < 0) {
    if (errno == ENOENT && !create) {
      return Status::Corruption("the file is missing");
    }
    return Status::Unavailable(Errno("open " + path, errno));
  }
  fds_.emplace(segment, fd);
  return fd;
}

Result<BodyRef> BodyFiles::Append(std::string_view body) {
  std::lock_guard lock(mu_);
  if (Status s = LoadLocked(); !s.ok()) return s;
  if (!dir_created_) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Status::Unavailable("cannot create " + dir_ + ": " + ec.message());
    dir_created_ = true;
    dir_unsynced_ = true;
  }
  if (newest_ == 0 || newest_size_ >= segment_bytes_) {
    Result<int> created = FdLocked(newest_ + 1, /*create=*/true);
    if (!created.ok()) return created.status();
    ++newest_;
    newest_size_ = 0;
    segments_.insert(newest_);
    dir_unsynced_ = true;
  }
  Result<int> fd = FdLocked(newest_, /*create=*/true);
  if (!fd.ok()) return fd.status();
  const BodyRef ref{newest_, newest_size_, static_cast<int64_t>(body.size())};
  std::size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = ::pwrite(*fd, body.data() + done, body.size() - done,
                               static_cast<off_t>(ref.offset + static_cast<int64_t>(done)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Unavailable(Errno("write " + PathOf(newest_), errno));
    done += static_cast<std::size_t>(n);
  }
  // Bytes of a body whose transaction rolls back stay, unreferenced: the next body goes after.
  newest_size_ += ref.length;
  unsynced_.insert(newest_);
  return ref;
}

Status BodyFiles::Sync() {
  std::lock_guard lock(mu_);
  for (auto it = unsynced_.begin(); it != unsynced_.end();) {
    Result<int> fd = FdLocked(*it, /*create=*/false);
    if (!fd.ok()) return fd.status();
    if (::fdatasync(*fd) != 0) return Status::Unavailable(Errno("fdatasync " + PathOf(*it), errno));
    it = unsynced_.erase(it);
  }
  if (dir_unsynced_) {
    // The new segment's name, and a new directory's own, survive a power loss too.
    if (Status s = SyncPath(dir_); !s.ok()) return s;
    const std::string parent = std::filesystem::path(dir_).parent_path().string();
    if (Status s = SyncPath(parent.empty() ? "." : parent); !s.ok()) return s;
    dir_unsynced_ = false;
  }
  return Status::Ok();
}

Status BodyFiles::Read(const BodyRef& ref, std::string* out) {
  std::lock_guard lock(mu_);
  if (Status s = LoadLocked(); !s.ok()) return s;
  const std::string where = "WAL body file " + PathOf(ref.segment) + " (bytes " +
                            std::to_string(ref.offset) + "+" + std::to_string(ref.length) + ")";
  if (ref.segment <= 0 || ref.offset < 0 || ref.length < 0) {
    return Status::Corruption("bad reference to a " + where);
  }
  Result<int> fd = FdLocked(ref.segment, /*create=*/false);
  if (!fd.ok()) {
    const std::string why = where + ": " + fd.status().message();
    return fd.status().code() == StatusCode::kCorruption ? Status::Corruption(why)
                                                         : Status::Unavailable(why);
  }
  out->resize(static_cast<std::size_t>(ref.length));
  std::size_t done = 0;
  while (done < out->size()) {
    const ssize_t n = ::pread(*fd, out->data() + done, out->size() - done,
                              static_cast<off_t>(ref.offset + static_cast<int64_t>(done)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Unavailable(Errno("read " + where, errno));
    if (n == 0) return Status::Corruption(where + " is cut short");
    done += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

int64_t BodyFiles::Newest() {
  std::lock_guard lock(mu_);
  return LoadLocked().ok() ? newest_ : 0;
}

Result<int> BodyFiles::DropBelow(int64_t below) {
  std::lock_guard lock(mu_);
  if (Status s = LoadLocked(); !s.ok()) return s;
  below = std::min(below, newest_);  // the newest is never dropped: appends go there
  int dropped = 0;
  while (!segments_.empty() && *segments_.begin() < below) {
    const int64_t segment = *segments_.begin();
    if (auto it = fds_.find(segment); it != fds_.end()) {
      ::close(it->second);
      fds_.erase(it);
    }
    unsynced_.erase(segment);
    if (::unlink(PathOf(segment).c_str()) != 0 && errno != ENOENT) {
      return Status::Unavailable(Errno("delete " + PathOf(segment), errno));
    }
    segments_.erase(segments_.begin());
    ++dropped;
  }
  return dropped;
}

}  // namespace chroma_ha
