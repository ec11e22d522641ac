// One chroma-ha process per SQLite WAL file (DESIGN.md §8, issue 11 item 6).
//
// SQLite is the one-process embedded store: the write path, the sync worker and recovery keep
// per-process state (in-flight entries, fresh-read counters) that only a single process may
// have about one file. A second process on the same file is refused at Open(), before SQLite
// touches the file, with a message naming the holder's pid; main() then exits non-zero.
//
// Mechanism: flock(LOCK_EX | LOCK_NB) on a lock file next to the database, `<path>.lock`.
//  - Not SQLite's own locking_mode=EXCLUSIVE: in WAL mode it takes the lock at the first write
//    transaction, not at open, and a loser only sees SQLITE_BUSY after the busy timeout, which
//    reads like a slow disk rather than "another process owns this file".
//  - Not an fcntl (POSIX) lock on the database file: SQLite itself uses fcntl locks on it, and
//    closing ANY descriptor of a file drops all of the process's fcntl locks on it, so ours and
//    SQLite's would interfere. A separate file with flock has none of that.
//  - flock locks belong to the open file description: the kernel drops it when the process
//    dies (SIGKILL included), so a crash never leaves a stale lock behind; the file itself
//    stays (its contents, the holder's pid, are informational only).
//  - Limits: flock over NFS is emulated or absent depending on the client; keep the WAL on a
//    local disk (it is also what SQLite's WAL mode requires).
//
// Within one process the lock is shared: every SqliteWalStore on one file holds a reference to
// one lock (tests open several handles on one file; production opens one). A forked child
// does not inherit the reference: it takes the lock anew, and is refused while its parent
// holds it.
#ifndef CHROMA_HA_WAL_SQLITE_FILE_LOCK_H_
#define CHROMA_HA_WAL_SQLITE_FILE_LOCK_H_

#include <memory>
#include <string>

#include "chroma_ha/status.h"

namespace chroma_ha {

class SqliteFileLock {
 public:
  // Takes (or shares, within this process) the lock of database `db_path`. The parent
  // directory must exist. kFailedPrecondition when another process holds it; kUnavailable
  // when the lock file cannot be opened or locked for another reason. *taken (if not null) is
  // set to true iff this call took the lock from the OS (no other store of this process held
  // it): nothing else can be using the file then, not even a previous run of this program.
  static Result<std::shared_ptr<SqliteFileLock>> Acquire(const std::string& db_path,
                                                         bool* taken = nullptr);

  ~SqliteFileLock();  // releases the lock (closes the descriptor)
  SqliteFileLock(const SqliteFileLock&) = delete;
  SqliteFileLock& operator=(const SqliteFileLock&) = delete;

  const std::string& lock_path() const { return lock_path_; }

 private:
  SqliteFileLock(std::string lock_path, int fd) : lock_path_(std::move(lock_path)), fd_(fd) {}
  const std::string lock_path_;
  const int fd_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_SQLITE_FILE_LOCK_H_
