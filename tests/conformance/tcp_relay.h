// A tiny TCP relay for tests: listens on 127.0.0.1 (a free port) and forwards every connection
// to an upstream address. SetBlackhole(true) makes it go silent the way a partition or a frozen
// server does: connections stay open (and new ones are accepted: the kernel completes the
// handshake anyway) but no byte is forwarded either way. SetBlackhole(false) resumes.
//
// One thread, poll(2); a pipe wakes it on mode changes. Header-only (used by one test file).
#ifndef CHROMA_HA_TESTS_CONFORMANCE_TCP_RELAY_H_
#define CHROMA_HA_TESTS_CONFORMANCE_TCP_RELAY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace chroma_ha::conformance {

class TcpRelay {
 public:
  TcpRelay(std::string upstream_ip, int upstream_port)
      : upstream_ip_(std::move(upstream_ip)), upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // a free port
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        pipe(wake_) != 0) {
      return;  // port() stays 0: the test fails on it
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~TcpRelay() {
    stop_ = true;
    Wake();
    if (thread_.joinable()) thread_.join();
    for (const Link& l : links_) Close(l);
    close(listen_fd_);
    close(wake_[0]);
    close(wake_[1]);
  }
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }
  void SetBlackhole(bool on) {
    blackhole_ = on;
    Wake();
  }

 private:
  struct Link {
    int client = -1;
    int upstream = -1;  // -1 until connected (accepted during a blackhole)
  };

  void Wake() {
    const char c = 0;
    if (write(wake_[1], &c, 1) < 0) return;  // full pipe: the thread wakes anyway
  }
  static void Close(const Link& l) {
    if (l.client >= 0) close(l.client);
    if (l.upstream >= 0) close(l.upstream);
  }
  int ConnectUpstream() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    inet_pton(AF_INET, upstream_ip_.c_str(), &addr.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
  // Moves what is readable on `from` to `to`; false when the link is finished.
  static bool Pump(int from, int to) {
    char buf[65536];
    const ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0) return false;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = send(to, buf + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
      if (w <= 0) return false;
      done += w;
    }
    return true;
  }
  void Run() {
    while (!stop_) {
      const bool silent = blackhole_;
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      std::vector<Link> next;
      for (Link& l : links_) {  // links accepted during a blackhole get their upstream now
        if (!silent && l.upstream < 0) l.upstream = ConnectUpstream();
        if (!silent && l.upstream < 0) {
          Close(l);
          continue;
        }
        next.push_back(l);
      }
      links_.swap(next);
      if (!silent) {
        for (const Link& l : links_) {
          fds.push_back({l.client, POLLIN, 0});
          fds.push_back({l.upstream, POLLIN, 0});
        }
      }
      const size_t polled = (fds.size() - 2) / 2;  // links whose sockets are in `fds`
      if (poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents & POLLIN) {
        char drain[64];
        if (read(wake_[0], drain, sizeof(drain)) < 0) continue;
      }
      if (fds[1].revents & POLLIN) {
        const int client = accept(listen_fd_, nullptr, nullptr);
        if (client >= 0) links_.push_back({client, -1});
      }
      if (silent) continue;
      std::vector<Link> alive;
      for (size_t i = 0; i < polled; ++i) {
        const Link& l = links_[i];
        const short from_client = fds[2 + 2 * i].revents;
        const short from_upstream = fds[3 + 2 * i].revents;
        bool ok = true;
        if (from_client & (POLLIN | POLLHUP | POLLERR)) ok = Pump(l.client, l.upstream);
        if (ok && (from_upstream & (POLLIN | POLLHUP | POLLERR))) ok = Pump(l.upstream, l.client);
        if (ok) {
          alive.push_back(l);
        } else {
          Close(l);
        }
      }
      // Links accepted in this round come after the polled ones: keep them.
      for (size_t i = polled; i < links_.size(); ++i) alive.push_back(links_[i]);
      links_.swap(alive);
    }
  }

  const std::string upstream_ip_;
  const int upstream_port_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> blackhole_{false};
  std::atomic<bool> stop_{false};
  std::vector<Link> links_;  // the relay thread's only
  std::thread thread_;
};

}  // namespace chroma_ha::conformance

#endif  // CHROMA_HA_TESTS_CONFORMANCE_TCP_RELAY_H_
