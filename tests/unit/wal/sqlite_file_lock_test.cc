// One process per SQLite WAL file (wal/sqlite_file_lock.h): a second process is refused at
// Open() with a clear message, the lock goes away with its holder (even SIGKILLed), and store
// objects of one process share it. The "other process" is a forked child.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "wal/sqlite_store.h"

namespace chroma_ha {
namespace {

class SqliteFileLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "chroma-ha-flock-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/wal.sqlite3";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Opens a store on path_ in a child process; returns "<code>|<message>" of its Open().
  std::string OpenInChild() {
    int fds[2];
    if (pipe(fds) != 0) return "pipe failed";
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      SqliteWalStore store(path_);
      const Status s = store.Open();
      const std::string out = std::string(StatusCodeName(s.code())) + "|" + s.message();
      (void)!write(fds[1], out.data(), out.size());
      _exit(0);
    }
    close(fds[1]);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) out.append(buf, n);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return out;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SqliteFileLockTest, SecondProcessIsRefusedWithAClearMessage) {
  SqliteWalStore first(path_);
  ASSERT_TRUE(first.Open().ok());
  const std::string child = OpenInChild();
  EXPECT_EQ(child.rfind("FailedPrecondition|", 0), 0u) << child;
  EXPECT_NE(child.find("in use by another chroma-ha process (pid " + std::to_string(getpid())),
            std::string::npos)
      << child;
  EXPECT_NE(child.find("DATABASE_URL"), std::string::npos) << child;
  // The first keeps working.
  std::vector<WalEntry> batch(1);
  batch[0].kind = "add";
  EXPECT_TRUE(first.Append(&batch).ok());
}

TEST_F(SqliteFileLockTest, ReleasedWhenTheHolderCloses) {
  {
    SqliteWalStore first(path_);
    ASSERT_TRUE(first.Open().ok());
    ASSERT_EQ(OpenInChild().rfind("FailedPrecondition|", 0), 0u);
  }
  EXPECT_EQ(OpenInChild(), "OK|");
}

TEST_F(SqliteFileLockTest, ReleasedWhenTheHolderIsKilled) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t holder = fork();
  if (holder == 0) {
    close(ready[0]);
    SqliteWalStore store(path_);
    const char c = store.Open().ok() && store.AcquireLease("recovery", "dead", 600'000)->HeldBy(
                                            "dead")
                       ? 'y'
                       : 'n';
    (void)!write(ready[1], &c, 1);
    for (;;) pause();  // until SIGKILL
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  ASSERT_EQ(c, 'y');
  {
    SqliteWalStore refused(path_);
    EXPECT_EQ(refused.Open().code(), StatusCode::kFailedPrecondition);
  }
  kill(holder, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(holder, &status, 0), holder);
  SqliteWalStore after(path_);
  EXPECT_TRUE(after.Open().ok());
  // The killed run's lease (10 minutes left) ended when the file lock was taken anew: nobody
  // else can be using it.
  Result<Lease> lease = after.AcquireLease("recovery", "next", 3000);
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(lease->HeldBy("next"));
  EXPECT_EQ(lease->term, 2);
  // A second handle of this process does not end the first one's lease.
  SqliteWalStore second(path_);
  ASSERT_TRUE(second.Open().ok());
  EXPECT_EQ(second.AcquireLease("recovery", "other", 3000)->holder, "next");
}

TEST_F(SqliteFileLockTest, HandlesOfOneProcessShareTheLock) {
  SqliteWalStore a(path_);
  SqliteWalStore b(path_);
  ASSERT_TRUE(a.Open().ok());
  EXPECT_TRUE(b.Open().ok());
  EXPECT_TRUE(std::filesystem::exists(path_ + ".lock"));
}

}  // namespace
}  // namespace chroma_ha
