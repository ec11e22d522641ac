// A plain POSIX socket HTTP/1.1 client for the listener tests: a receive timeout, so a bug fails
// the test instead of hanging it, and a response reader that keeps the head for header checks.
#ifndef CHROMA_HA_TESTS_UNIT_SERVER_RAW_CLIENT_H_
#define CHROMA_HA_TESTS_UNIT_SERVER_RAW_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <string>

namespace chroma_ha::testing {

struct Reply {
  int status = -1;  // -1: no (complete) response before the timeout or close
  bool connection_close = false;
  std::string head;  // status line and headers, lower-cased
  std::string body;
};

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }

  bool Send(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads one response (Content-Length framed).
  Reply Read() {
    Reply reply;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return reply;
    }
    const std::string head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) return reply;
    const int status = std::stoi(head.substr(9, 3));
    std::size_t length = 0;
    std::string lower;
    for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos) {
      length = std::stoul(lower.substr(p + 17));
    }
    reply.connection_close = lower.find("\r\nconnection: close") != std::string::npos;
    reply.head = lower;
    while (buf_.size() < length) {
      if (!Fill()) return reply;
    }
    reply.body = buf_.substr(0, length);
    buf_.erase(0, length);
    reply.status = status;
    return reply;
  }

  // True when the server closed the connection (EOF or reset) with nothing more to read.
  bool Closed() {
    if (!buf_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
    buf_.push_back(c);
    return false;
  }

 private:
  bool Fill() {
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

}  // namespace chroma_ha::testing

#endif  // CHROMA_HA_TESTS_UNIT_SERVER_RAW_CLIENT_H_
