#include "server/socket_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/connection_gate.h"

namespace dsv3::server {

namespace {

using Clock = std::chrono::steady_clock;

bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, int(std::max<int64_t>(0, timeout.count())));
    if (n < 0 && errno == EINTR) continue;
    return n > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

void address_of(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text));
    port = ntohs(a.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text));
    port = ntohs(a.sin6_port);
  }
  ip = text;
}

}  // namespace

DeadlineStream::DeadlineStream(int fd, Clock::time_point read_deadline,
                               std::chrono::milliseconds write_timeout)
    : fd_(fd), read_deadline_(read_deadline), write_timeout_(write_timeout) {}

bool DeadlineStream::wait_readable() const {
  for (;;) {
    const auto now = Clock::now();
    if (now >= read_deadline_) {
      mark_request_timed_out();
      return false;
    }
    // Rounded up, so a wait that times out has reached the deadline.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(read_deadline_ - now);
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, int(left.count()));
    if (n > 0) return true;  // data, or an end (which recv() then reports)
    if (n < 0 && errno != EINTR) return false;
  }
}

bool DeadlineStream::is_readable() const { return consumed_ < buffered_ || wait_readable(); }

bool DeadlineStream::is_writable() const { return wait_for(fd_, POLLOUT, write_timeout_); }

ssize_t DeadlineStream::read(char* ptr, size_t size) {
  if (consumed_ == buffered_) {
    if (!wait_readable()) return -1;
    ssize_t n;
    do {
      n = ::recv(fd_, buffer_, sizeof(buffer_), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
    buffered_ = size_t(n);
    consumed_ = 0;
  }
  const size_t n = std::min(size, buffered_ - consumed_);
  std::memcpy(ptr, buffer_ + consumed_, n);
  consumed_ += n;
  return ssize_t(n);
}

ssize_t DeadlineStream::write(const char* ptr, size_t size) {
  if (!is_writable()) return -1;
  ssize_t n;
  do {
    n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

void DeadlineStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) address_of(addr, ip, port);
}

void DeadlineStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) address_of(addr, ip, port);
}

}  // namespace dsv3::server
