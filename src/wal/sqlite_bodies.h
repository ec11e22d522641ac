// Large entry bodies of a SQLite WAL, kept outside the database (docs/design.md, "SQLite: large
// bodies in files of their own"; bench/analysis.md, "write-path CPU").
//
// In the database, a body is written twice: to SQLite's WAL file, frame by frame with a
// checksum each, and again by the checkpoint into the database file. For a 0.8 MB add that was
// 37 % of chroma-ha's CPU per add. A body of kMinExternalBytes or more is instead appended once
// to a file of its own, and the entry's row in `wal_bodies` holds where: (segment, offset,
// length) and an empty blob.
//
// On disk: the directory `<database>.bodies/`, holding segment files named by number
// ("1", "2", ...). A body is written at the end of the newest segment; a segment past
// kSegmentBytes is closed and the next one started. A segment is deleted once no row refers to
// it and a newer one exists. Bytes of a body whose transaction rolled back, or that a crash cut
// off before the commit, stay in their segment unreferenced until it is deleted.
//
// Durability: the store calls Sync() (fdatasync of every segment written since, and of the
// directory when a segment was created) before it commits the rows that refer to the bodies,
// so a committed row never points at bytes a power loss could take back.
//
// Sharing: one BodyFiles per database file and process (For()); every SqliteWalStore on that
// file uses it. Its calls are serialised by its own mutex. Appends happen inside a SQLite write
// transaction, so only one store appends at a time; deletions only remove segments older than
// the newest, which appends never touch.
//
// Errors: kUnavailable when a file cannot be created, written or synced (a full disk, ...);
// kCorruption when a referenced body is missing or shorter than recorded (the segment was
// deleted or truncated by hand).
#ifndef CHROMA_HA_WAL_SQLITE_BODIES_H_
#define CHROMA_HA_WAL_SQLITE_BODIES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "chroma_ha/status.h"

namespace chroma_ha {

// Where a body is: bytes [offset, offset + length) of segment `segment`.
struct BodyRef {
  int64_t segment = 0;
  int64_t offset = 0;
  int64_t length = 0;
};

class BodyFiles {
 public:
  // Bodies this long or longer go to a segment; shorter ones stay in the database.
  static constexpr std::size_t kMinExternalBytes = 64 << 10;
  // A segment past this size is closed; the next body starts a new one (the default).
  static constexpr int64_t kSegmentBytes = int64_t{64} << 20;

  // The body files of database `db_path` (its directory `<db_path>.bodies`), shared by every
  // store of this process on that file. Nothing is created until the first Append.
  // `segment_bytes` applies when this call makes the object (tests use small segments).
  static std::shared_ptr<BodyFiles> For(const std::string& db_path,
                                        int64_t segment_bytes = kSegmentBytes);

  BodyFiles(std::string dir, int64_t segment_bytes);
  ~BodyFiles();  // closes the descriptors
  BodyFiles(const BodyFiles&) = delete;
  BodyFiles& operator=(const BodyFiles&) = delete;

  // Appends `body` to the newest segment; not durable until Sync().
  Result<BodyRef> Append(std::string_view body);
  // Makes every Append since the last Sync durable.
  Status Sync();
  // Reads the body at `ref` into *out (replacing its contents).
  Status Read(const BodyRef& ref, std::string* out);
  // The newest segment's number (0: none yet). Taken inside the transaction that found which
  // segments rows still refer to, it bounds what DropBelow may delete after that commit: later
  // appends only ever go to it or to newer ones.
  int64_t Newest();
  // Deletes the segments numbered below `below`, never the newest. Returns how many.
  Result<int> DropBelow(int64_t below);

 private:
  Status LoadLocked();  // lists the directory once: the newest segment and its size
  Result<int> FdLocked(int64_t segment, bool create);
  std::string PathOf(int64_t segment) const;

  const std::string dir_;
  const int64_t segment_bytes_;
  std::mutex mu_;
  bool loaded_ = false;
  bool dir_created_ = false;  // the directory exists (made or found)
  int64_t newest_ = 0;        // 0: no segment yet
  int64_t newest_size_ = 0;
  std::set<int64_t> segments_;  // on disk
  std::map<int64_t, int> fds_;  // open descriptors, by segment
  std::set<int64_t> unsynced_;  // written since the last Sync
  bool dir_unsynced_ = false;   // a segment was created since the last Sync
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_SQLITE_BODIES_H_
