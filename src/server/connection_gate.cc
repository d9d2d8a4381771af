#include "server/connection_gate.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string_view>

#include "server/api_error.h"

namespace dsv3::server {

namespace {

using Clock = std::chrono::steady_clock;

// How much of a connection's input the gate looks at (without consuming it): the request
// head, and this much of the body, must have arrived before a worker takes the connection.
// Larger heads go to httplib at once, which refuses them.
constexpr size_t kPeekBytes = 32 << 10;
constexpr size_t kBodyInGate = 16 << 10;
// How long a closing connection's unread input is read and dropped before close().
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr int kTickMs = 50;  // deadlines are checked this often
constexpr size_t kHugeLength = size_t(1) << 60;  // Content-Length values saturate here

bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The body's length from a request head's Content-Length (0 without one); unknown for a
// client that waits for "100 Continue" or sends its body in chunks (httplib reads those
// under the deadline). Saturates at kHugeLength.
std::optional<size_t> body_length(std::string_view head) {
  size_t content_length = 0;
  size_t line_start = head.find('\n');
  while (line_start != std::string_view::npos && line_start + 1 < head.size()) {
    const size_t line_end = head.find('\n', line_start + 1);
    const std::string_view line = head.substr(
        line_start + 1, (line_end == std::string_view::npos ? head.size() : line_end) - line_start - 1);
    line_start = line_end;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (ascii_iequals(name, "expect")) return std::nullopt;
    if (ascii_iequals(name, "content-length")) {
      content_length = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return std::nullopt;  // malformed: httplib answers it
        content_length = std::min<size_t>(content_length * 10 + size_t(c - '0'), kHugeLength);
      }
    }
    if (ascii_iequals(name, "transfer-encoding")) return std::nullopt;
  }
  return content_length;
}

void send_all_nonblocking(int fd, const std::string& text) {
  size_t sent = 0;
  while (sent < text.size()) {
    const ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) return;  // a full buffer or a gone client: the error is not worth more
    sent += size_t(n);
  }
}

std::string error_json(int status, const std::string& message, const std::string& code) {
  return dump_json(ApiError{.status = status,
                            .message = message,
                            .type = status >= 500 ? "server_error" : "invalid_request_error",
                            .code = code}
                       .to_json());
}

}  // namespace

struct ConnectionGate::Waiting {
  int fd;
  Clock::time_point deadline;
  bool fresh = true;  // not looked at yet
  bool ready = false;
  bool complete = false;  // the whole request has arrived: reading it cannot stall a worker
  bool closed = false;
  bool too_large = false;  // its Content-Length is over max_body_bytes
};

struct ConnectionGate::Connection {
  int fd;
  Clock::time_point deadline;
  ConnectionGate* gate;
  std::atomic<bool> reading{true};
  std::atomic<bool> timed_out{false};
};

namespace {
thread_local ConnectionGate::Connection* t_connection = nullptr;
}  // namespace

std::string close_response(int status, const std::string& reason, const std::string& json) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) +
         "\r\nConnection: close\r\n\r\n" + json;
}

ConnectionGate::ConnectionGate(const GateOptions& options, Serve serve)
    : options_(options), serve_(std::move(serve)) {
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_fd_, &ev);
  for (size_t i = 0; i < std::max<size_t>(1, options_.workers); ++i) {
    workers_.emplace_back([this] {
      for (;;) {
        std::shared_ptr<Connection> c;
        {
          std::unique_lock lock(mutex_);
          jobs_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
          if (jobs_.empty()) return;
          c = std::move(jobs_.front());
          jobs_.erase(jobs_.begin());
        }
        serve_on_worker(c);
      }
    });
  }
  loop_thread_ = std::thread([this] { loop(); });
}

ConnectionGate::~ConnectionGate() { stop(); }

void ConnectionGate::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void ConnectionGate::admit(int fd) {
  std::unique_lock lock(mutex_);
  if (stopping_) {
    ::close(fd);
    return;
  }
  if (waiting_.size() >= options_.max_pending) {
    send_all_nonblocking(
        fd, close_response(503, "Service Unavailable",
                           error_json(503,
                                      "too many connections are still sending their requests (" +
                                          std::to_string(options_.max_pending) +
                                          "); retry later",
                                      "too_many_connections")));
    linger(fd);
    lock.unlock();
    wake();
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  waiting_.push_back(Waiting{.fd = fd, .deadline = Clock::now() + options_.request_timeout});
  lock.unlock();
  wake();
}

// Looks at what arrived so far, without consuming it (httplib reads it later).
void ConnectionGate::check_ready(Waiting& w) {
  static thread_local std::vector<char> buffer(kPeekBytes);
  const ssize_t n = ::recv(w.fd, buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    w.closed = true;
    return;
  }
  if (n < 0) return;
  const std::string_view seen(buffer.data(), size_t(n));
  const size_t end = seen.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    w.ready = seen.size() == kPeekBytes;  // a head this long: httplib refuses it
    return;
  }
  const size_t head = end + 4;
  const std::optional<size_t> body = body_length(seen.substr(0, head));
  if (!body) {
    w.ready = true;
    return;
  }
  if (*body > options_.max_body_bytes) {
    w.too_large = true;
    return;
  }
  w.ready = seen.size() >= std::min(head + std::min(*body, kBodyInGate), kPeekBytes);
  w.complete = head + *body < kPeekBytes && seen.size() >= head + *body;
}

void ConnectionGate::dispatch_ready() {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    // A request still arriving takes one of max_reading slots; a complete one needs none.
    if (!it->ready || (!it->complete && reading_ >= options_.max_reading)) {
      ++it;
      continue;
    }
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->fd, nullptr);
    auto c = std::make_shared<Connection>();
    c->fd = it->fd;
    c->deadline = it->deadline;
    c->gate = this;
    c->reading = !it->complete;
    if (c->reading) ++reading_;
    active_.push_back(c);
    jobs_.push_back(std::move(c));
    jobs_ready_.notify_one();
    it = waiting_.erase(it);
  }
}

void ConnectionGate::expire(Clock::time_point now) {
  const std::string late = close_response(
      408, "Request Timeout",
      error_json(408,
                 "the request did not arrive within " +
                     std::to_string(options_.request_timeout.count()) + " ms",
                 "request_timeout"));
  const std::string too_large = close_response(
      413, "Payload Too Large",
      error_json(413,
                 "the request body is larger than the limit of " +
                     std::to_string(options_.max_body_bytes) + " bytes",
                 "payload_too_large"));
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->closed) {
      ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->fd, nullptr);
      ::close(it->fd);
      it = waiting_.erase(it);
    } else if (it->too_large || now >= it->deadline) {
      send_all_nonblocking(it->fd, it->too_large ? too_large : late);
      ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->fd, nullptr);
      linger(it->fd);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = lingering_.begin(); it != lingering_.end();) {
    if (now >= it->second) {
      ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->first, nullptr);
      ::close(it->first);
      it = lingering_.erase(it);
    } else {
      ++it;
    }
  }
}

// Ends the connection's output, then reads and drops its input until the client closes (or
// kLingerTime passes), so that close() does not reset a connection with unread input.
void ConnectionGate::linger(int fd) {
  ::shutdown(fd, SHUT_WR);
  if (stopping_) {
    ::close(fd);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  lingering_.emplace_back(fd, Clock::now() + kLingerTime);
  drain(fd);
}

void ConnectionGate::drain(int fd) {
  char buffer[4096];
  for (size_t total = 0; total < (size_t(1) << 20);) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) {
      total += size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    break;  // the client closed (or the connection failed): close now
  }
  auto it = std::find_if(lingering_.begin(), lingering_.end(),
                         [fd](const auto& l) { return l.first == fd; });
  if (it != lingering_.end()) it->second = Clock::now();  // closed at the next tick
}

void ConnectionGate::loop() {
  epoll_event events[64];
  while (!stopping_) {
    int timeout_ms;
    {
      // Idle (nothing waiting or lingering): sleep until admit() or a worker wakes the loop.
      std::lock_guard lock(mutex_);
      timeout_ms = waiting_.empty() && lingering_.empty() ? -1 : kTickMs;
    }
    const int n = ::epoll_wait(epoll_, events, 64, timeout_ms);
    std::unique_lock lock(mutex_);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof(count));
        continue;
      }
      auto w = std::find_if(waiting_.begin(), waiting_.end(),
                            [fd](const Waiting& x) { return x.fd == fd; });
      if (w != waiting_.end()) {
        check_ready(*w);
        w->fresh = false;
        // The client stopped sending before its request was whole: it never will be. (A
        // whole request followed by a half-close is still answered.)
        const bool hung_up = events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
        if (!w->ready && !w->too_large && hung_up) w->closed = true;
      } else if (std::any_of(lingering_.begin(), lingering_.end(),
                             [fd](const auto& l) { return l.first == fd; })) {
        drain(fd);
      }
    }
    for (Waiting& w : waiting_) {
      if (w.fresh) check_ready(w);
      w.fresh = false;
    }
    dispatch_ready();
    expire(Clock::now());
  }
}

void ConnectionGate::serve_on_worker(const std::shared_ptr<Connection>& c) {
  t_connection = c.get();
  serve_(c->fd, c->deadline);
  t_connection = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (c->reading.exchange(false)) --reading_;
    active_.erase(std::find(active_.begin(), active_.end(), c));
    linger(c->fd);
  }
  wake();
}

void ConnectionGate::stop() {
  if (stopping_.exchange(true)) return;
  wake();
  if (loop_thread_.joinable()) loop_thread_.join();
  {
    std::lock_guard lock(mutex_);
    for (const Waiting& w : waiting_) ::close(w.fd);
    waiting_.clear();
    for (const auto& [fd, until] : lingering_) ::close(fd);
    lingering_.clear();
    // Connections dispatched but not started: closed unanswered, as a stopping httplib does.
    for (const auto& c : jobs_) {
      ::close(c->fd);
      active_.erase(std::find(active_.begin(), active_.end(), c));
    }
    jobs_.clear();
  }
  jobs_ready_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  ::close(epoll_);
  ::close(wake_fd_);
}

void mark_request_read() {
  ConnectionGate::Connection* c = t_connection;
  if (c == nullptr || !c->reading.exchange(false)) return;
  {
    std::lock_guard lock(c->gate->mutex_);
    --c->gate->reading_;
  }
  c->gate->wake();
}

void mark_request_timed_out() {
  if (t_connection != nullptr) t_connection->timed_out = true;
}

bool request_timed_out() { return t_connection != nullptr && t_connection->timed_out; }

}  // namespace dsv3::server
