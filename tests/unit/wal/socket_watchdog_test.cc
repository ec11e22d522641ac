// The watchdog that bounds the PostgreSQL store's blocking socket waits.
#include "wal/socket_watchdog.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace chroma_ha {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class SocketPair {
 public:
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  ~SocketPair() {
    close(fds_[0]);
    close(fds_[1]);
  }
  int a() const { return fds_[0]; }
  int b() const { return fds_[1]; }

 private:
  int fds_[2] = {-1, -1};
};

TEST(SocketWatchdog, CutsABlockedReadAtTheDeadline) {
  SocketWatchdog watchdog;
  SocketPair pair;  // nobody ever writes to a(): a read on it blocks like a silent server
  const auto start = Clock::now();
  SocketWatchdog::Armed armed(watchdog, pair.a(), start + milliseconds(200));
  char byte;
  const ssize_t n = recv(pair.a(), &byte, 1, 0);  // blocks until the watchdog fires
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(n, 0);  // end of stream: the socket was shut down
  EXPECT_TRUE(armed.Disarm());
  EXPECT_GE(elapsed, milliseconds(200));
  EXPECT_LT(elapsed, milliseconds(2000));
  EXPECT_EQ(watchdog.fired_count(), 1);
}

TEST(SocketWatchdog, DisarmedInTimeLeavesTheSocketAlone) {
  SocketWatchdog watchdog;
  SocketPair first;
  {
    SocketWatchdog::Armed armed(watchdog, first.a(), Clock::now() + milliseconds(100));
    ASSERT_EQ(send(first.b(), "x", 1, 0), 1);
    char byte;
    ASSERT_EQ(recv(first.a(), &byte, 1, 0), 1);
    EXPECT_FALSE(armed.Disarm());
  }
  // A second arming with a later deadline, waited out by a blocked read: by the time it
  // fires, the first deadline is long past.
  SocketPair second;
  {
    SocketWatchdog::Armed armed(watchdog, second.a(), Clock::now() + milliseconds(300));
    char byte;
    EXPECT_EQ(recv(second.a(), &byte, 1, 0), 0);
    EXPECT_TRUE(armed.Disarm());
  }
  ASSERT_EQ(send(first.b(), "y", 1, 0), 1);  // the first socket still works
  char byte;
  ASSERT_EQ(recv(first.a(), &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'y');
  EXPECT_EQ(watchdog.fired_count(), 1);
}

}  // namespace
}  // namespace chroma_ha
