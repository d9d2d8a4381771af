// Raw TCP connections to a test server, for what an HTTP client library hides: HTTP/1.0,
// pipelined requests, bytes sent one at a time, and how the server closes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

namespace dsv3::testing {

class RawSocket {
 public:
  explicit RawSocket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += size_t(n);
    }
    return true;
  }

  // What arrived until the server closed the connection (or `timeout` passed); `reset` says
  // whether the connection ended in a reset (ECONNRESET) rather than a clean close.
  struct Received {
    std::string data;
    bool closed = false;
    bool reset = false;
  };
  Received read_until_closed(std::chrono::milliseconds timeout) {
    Received r;
    const auto end = std::chrono::steady_clock::now() + timeout;
    char buffer[65536];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return r;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, int(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n > 0) {
        r.data.append(buffer, size_t(n));
        continue;
      }
      r.closed = true;
      r.reset = n < 0 && errno == ECONNRESET;
      return r;
    }
  }

 private:
  int fd_ = -1;
};

// The head and body of one HTTP response in `text` (the body is what follows the head).
struct RawResponse {
  std::string head, body;
};
inline RawResponse split_response(const std::string& text) {
  const size_t end = text.find("\r\n\r\n");
  if (end == std::string::npos) return {text, ""};
  return {text.substr(0, end + 2), text.substr(end + 4)};
}

inline std::string raw_post(const std::string& path, const std::string& body,
                            const std::string& version = "HTTP/1.1",
                            const std::string& extra_headers = "") {
  return "POST " + path + " " + version +
         "\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

}  // namespace dsv3::testing
