// The OpenAI-compatible HTTP server (cpp-httplib): routes, authentication, error objects and
// streaming, in front of one Scheduler that owns the model.
//
//   POST /v1/chat/completions   POST /v1/completions   GET /v1/models[/{id}]
//   GET  /health                GET  /metrics
//
// Every request is answered by an HTTP thread: it parses and checks the body, renders the
// prompt, queues a job and relays the job's output, as server-sent events when streaming.
// A client that disconnects is noticed at the next write (a token, or a keep-alive written
// while it waits), which cancels its job and frees its sequence.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/text_model.h"
#include "server/api_error.h"
#include "server/connection_gate.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/scheduler.h"
#include "structured/output_constraint.h"
#include "util/result.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace dsv3::server {

struct ServerOptions {
  std::string host = "127.0.0.1";   // loopback unless told otherwise
  int port = 8080;                  // 0: any free port (port() says which)
  std::string api_key;              // non-empty: every request needs "Authorization: Bearer KEY"
  std::string model_name = "dsv3";  // what /v1/models lists and responses name
  SchedulerOptions scheduler;
  size_t max_body_bytes = size_t(8) << 20;
  int http_threads = 0;      // 0: one per running and queued request, plus spare for the rest
  bool log_requests = true;  // one line per request on stderr
  // Slow clients (see connection_gate.h): a request must arrive whole within this time of
  // its connection (408 otherwise), and at most this many connections may still be sending.
  int request_timeout_ms = 30000;
  int max_pending_connections = 512;
};

class Server {
 public:
  Server(const TextModel& model, const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; afterwards port() is the port bound.
  Status bind();
  int port() const { return port_; }
  // Serves until stop(); call after bind().
  void run();
  // From any thread: ends running and queued generations, then stops serving.
  void stop();

  const Scheduler& scheduler() const { return *scheduler_; }

 private:
  struct Prepared;
  void add_hooks();  // authentication, error objects, request log and counters
  void add_routes();
  void handle_generation(const httplib::Request& req, httplib::Response& res, bool chat);
  ApiResult<Prepared> prepare_chat(const nlohmann::ordered_json& body,
                                   const ResponseIdentity& who) const;
  ApiResult<std::string> forced_tool_markup(const nlohmann::ordered_json& messages,
                                            const nlohmann::ordered_json& extra,
                                            const std::string& function) const;
  Result<std::string> call_example(const nlohmann::ordered_json& messages,
                                   const nlohmann::ordered_json& extra) const;
  ApiResult<std::shared_ptr<const structured::OutputConstraint>> lazy_constraint(
      const ChatRequest& r, const nlohmann::ordered_json& extra, bool opens_reasoning,
      bool call_opened) const;
  const std::optional<std::string>& template_failure() const;
  ApiResult<Prepared> prepare_completion(const nlohmann::ordered_json& body,
                                         const ResponseIdentity& who) const;

  const TextModel& model_;
  const ServerOptions options_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<httplib::Server> http_;
  std::shared_ptr<ConnectionGate> gate_;
  HttpCounters counters_;
  int port_ = -1;
  std::atomic<bool> stopping_{false};
  mutable std::once_flag template_checked_;
  mutable std::optional<std::string> template_failure_;
};

}  // namespace dsv3::server
