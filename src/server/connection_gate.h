// What stands between accept() and cpp-httplib, so slow clients cannot hold the server.
//
// cpp-httplib gives every accepted connection a worker thread, which then waits for the
// request with a timeout per recv(): a client sending one byte a second never times out,
// and 64 such clients hold every worker (slowloris). Here a connection waits in the gate, one
// epoll thread for all of them, until its request head (and the start of its body) has
// arrived; only then does it get a worker. Every request must arrive whole within
// `request_timeout` of its connection (408 otherwise, in the gate or cut off while a worker
// reads the rest of the body: see socket_stream.h), at most `max_pending` connections wait in the gate (503 for
// more) and at most `max_reading` workers read request bodies at once (the rest wait in the
// gate), so workers stay free for clients that send their requests.
//
// Each connection serves one request and is closed after its response (Connection: close),
// with a lingering close: what the client sent beyond the request (a pipelined second
// request) is read and dropped before close(), which would otherwise send a reset that can
// destroy the response before the client reads it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dsv3::server {

struct GateOptions {
  std::chrono::milliseconds request_timeout{30000};
  size_t max_pending = 512;  // connections whose request head is still arriving
  size_t max_reading = 8;    // workers still reading a request (its body)
  size_t workers = 16;       // threads serving requests
  // A request whose Content-Length is larger is answered 413 by the gate at once, instead of
  // waiting (until the deadline) for a body that will be refused anyway.
  size_t max_body_bytes = SIZE_MAX;
};

class ConnectionGate {
 public:
  // `serve(fd, deadline)` answers one connection's request on a worker thread, reading it by
  // the deadline; the gate closes fd afterwards.
  using Serve = std::function<void(int fd, std::chrono::steady_clock::time_point deadline)>;
  ConnectionGate(const GateOptions& options, Serve serve);
  ~ConnectionGate();
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  // Takes an accepted connection; never blocks.
  void admit(int fd);
  // Closes every waiting connection, then waits for the workers' requests to finish.
  void stop();

  struct Connection;

 private:
  friend void mark_request_read();
  struct Waiting;
  void loop();
  void check_ready(Waiting& w);
  void dispatch_ready();
  void expire(std::chrono::steady_clock::time_point now);
  void serve_on_worker(const std::shared_ptr<Connection>& c);
  void linger(int fd);
  void drain(int fd);
  void wake();

  const GateOptions options_;
  const Serve serve_;
  int epoll_ = -1;
  int wake_fd_ = -1;  // eventfd: admit() and workers wake the loop
  std::mutex mutex_;
  std::vector<Waiting> waiting_;
  std::vector<std::shared_ptr<Connection>> active_;
  std::vector<std::pair<int, std::chrono::steady_clock::time_point>> lingering_;
  std::vector<int> to_add_;  // descriptors admitted or lingering, for the loop to watch
  size_t reading_ = 0;       // active connections whose request is not read yet
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
  std::vector<std::shared_ptr<Connection>> jobs_;
  std::condition_variable jobs_ready_;
  std::thread loop_thread_;
};

// Called from request handlers (on a gate worker): the whole request has been read, so the
// deadline no longer applies and another connection may start reading.
void mark_request_read();
// Reading this worker's request ran into its deadline (DeadlineStream says so) ...
void mark_request_timed_out();
// ... which makes httplib's error answer a 408.
bool request_timed_out();

// The text of a complete HTTP response with a JSON body, closing the connection.
std::string close_response(int status, const std::string& reason, const std::string& json);

}  // namespace dsv3::server
