// The connection of one request as cpp-httplib's Stream, read under a whole-request deadline.
//
// httplib's own stream times out each recv() separately, so a client sending a byte at a
// time is never timed out. This one refuses to read past the request's deadline (and says
// so through mark_request_timed_out()); writes keep httplib's per-write timeout. Reads go
// through a small buffer, as httplib reads request heads a byte at a time.
#pragma once

#include <httplib.h>

#include <chrono>
#include <string>

namespace dsv3::server {

class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(int fd, std::chrono::steady_clock::time_point read_deadline,
                 std::chrono::milliseconds write_timeout);

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  // Waits until the socket is readable, at most until the deadline.
  bool wait_readable() const;

  const int fd_;
  const std::chrono::steady_clock::time_point read_deadline_;
  const std::chrono::milliseconds write_timeout_;
  char buffer_[4096];
  size_t buffered_ = 0, consumed_ = 0;
};

}  // namespace dsv3::server
