#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>
#include <string_view>

#include "engine/reasoning.h"
#include "engine/token_output.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/relay.h"
#include "server/tool_calls.h"
#include "structured/output_constraint.h"
#include "server/socket_stream.h"

namespace dsv3::server {

namespace {

using nlohmann::ordered_json;

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump_json(e.to_json()), "application/json");
}

void send_json(httplib::Response& res, const ordered_json& j) {
  res.status = 200;
  res.set_content(dump_json(j), "application/json");
}

// Endpoint names for the request counters (anything else is "other", so a scan of random
// paths cannot grow the metrics without bound).
std::string endpoint_label(const std::string& path) {
  for (const char* known :
       {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"}) {
    if (path == known) return known;
  }
  if (path.starts_with("/v1/models/")) return "/v1/models/{id}";
  return "other";
}

// Compares without stopping at the first difference, so the time taken says nothing about
// how much of a guessed key was right.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= uint8_t(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// RFC 7235: "Bearer" is a case-insensitive scheme, separated from the token by spaces.
std::optional<std::string> bearer_token(const std::string& header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  size_t start = kScheme.size();
  if (header[start] != ' ' && header[start] != '\t') return std::nullopt;
  while (start < header.size() && (header[start] == ' ' || header[start] == '\t')) ++start;
  size_t end = header.size();
  while (end > start && (header[end - 1] == ' ' || header[end - 1] == '\t')) --end;
  return header.substr(start, end - start);
}

// Whether a body follows the head, so the request is not read completely before a handler.
bool expects_body(const httplib::Request& req) {
  return req.has_header("Transfer-Encoding") ||
         (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
}

// httplib listens with a backlog of 5: a burst of clients connecting at once (32 streaming
// requests, or a retry storm) overflows it, and a dropped handshake can end as a failed
// request. The listening socket is protected in httplib::Server; this widens its backlog.
// Accepted connections go to the gate (connection_gate.h), which hands those whose requests
// have arrived back to httplib on its workers.
class Listener : public httplib::Server {
 public:
  bool widen_backlog() { return ::listen(svr_sock_, SOMAXCONN) == 0; }
  void set_gate(ConnectionGate* gate) { gate_ = gate; }
  // On a gate worker: httplib reads one request (by the deadline) and answers it, with
  // Connection: close; the gate closes fd.
  void serve(int fd, std::chrono::steady_clock::time_point deadline) {
    DeadlineStream stream(fd, deadline, std::chrono::seconds(write_timeout_sec_));
    bool closed = true;
    process_request(stream, /*close_connection=*/true, closed, nullptr);
  }

 protected:
  // httplib's accept loop calls this for every connection.
  bool process_and_close_socket(socket_t sock) override {
    gate_->admit(sock);
    return true;
  }

 private:
  ConnectionGate* gate_ = nullptr;
};

// httplib's task queue: runs the accept loop's hand-over to the gate at once, and stops the
// gate (closing waiting connections, joining its workers) when httplib stops listening.
class GateQueue : public httplib::TaskQueue {
 public:
  explicit GateQueue(std::shared_ptr<ConnectionGate> gate) : gate_(std::move(gate)) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { gate_->stop(); }

 private:
  std::shared_ptr<ConnectionGate> gate_;
};

}  // namespace

Server::Server(const TextModel& model, const ServerOptions& options)
    : model_(model),
      options_(options),
      scheduler_(std::make_unique<Scheduler>(model.model(), model.tokenizer(), options.scheduler)),
      http_(std::make_unique<Listener>()) {
  const int threads = options.http_threads > 0
                          ? options.http_threads
                          : int(options.scheduler.parallel + options.scheduler.max_queue + 16);
  auto* listener = static_cast<Listener*>(http_.get());
  gate_ = std::make_shared<ConnectionGate>(
      GateOptions{.request_timeout = std::chrono::milliseconds(options.request_timeout_ms),
                  .max_pending = size_t(std::max(1, options.max_pending_connections)),
                  // Slow request bodies may hold a quarter of the workers at most.
                  .max_reading = size_t(std::max(1, threads / 4)),
                  .workers = size_t(threads),
                  .max_body_bytes = size_t(options.max_body_bytes)},
      [listener](int fd, std::chrono::steady_clock::time_point deadline) {
        listener->serve(fd, deadline);
      });
  listener->set_gate(gate_.get());
  http_->new_task_queue = [gate = gate_] { return new GateQueue(gate); };
  http_->set_payload_max_length(options.max_body_bytes);
  add_hooks();
  add_routes();
}

Server::~Server() { stop(); }

Status Server::bind() {
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
  } else {
    port_ = http_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ < 0) {
    return Err("cannot listen on ", options_.host, ":", options_.port, ": ", std::strerror(errno));
  }
  if (!static_cast<Listener&>(*http_).widen_backlog()) {
    return Err("cannot listen on ", options_.host, ":", port_, ": ", std::strerror(errno));
  }
  return OkStatus();
}

void Server::run() { http_->listen_after_bind(); }

void Server::stop() {
  if (stopping_.exchange(true)) return;
  scheduler_->shutdown();  // ends every relay, so the HTTP threads can be joined
  http_->stop();
  gate_->stop();  // (run() stops it too, as httplib's listening ends)
}

void Server::add_hooks() {
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!expects_body(req)) mark_request_read();
    if (options_.api_key.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (const size_t n = req.get_header_value_count("Authorization"); n > 1) {
      send_error(res, ApiError{.message = "the request has " + std::to_string(n) +
                                         " Authorization headers; send one",
                               .code = "invalid_authorization"});
      return httplib::Server::HandlerResponse::Handled;
    }
    const std::optional<std::string> token = bearer_token(req.get_header_value("Authorization"));
    if (token && same_secret(*token, options_.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_error(res,
               ApiError{.status = 401,
                        .message = "missing or wrong API key: send 'Authorization: Bearer KEY'",
                        .type = "authentication_error",
                        .code = "invalid_api_key"});
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib answers by itself (unknown path, body over the limit, bad HTTP) get an
  // OpenAI error object too.
  http_->set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        mark_request_read();
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ApiError e{.status = res.status, .message = "HTTP error " + std::to_string(res.status)};
        if (request_timed_out()) {  // the gate cut the body off at the deadline
          res.status = e.status = 408;
          e.message = "the request did not arrive within " +
                      std::to_string(options_.request_timeout_ms) + " ms";
          e.code = "request_timeout";
        } else if (res.status == 404) {
          e.message = "unknown endpoint " + req.method + " " + req.path;
          e.code = "not_found";
        } else if (res.status == 413) {
          e.message = "the request body is larger than the limit of " +
                      std::to_string(options_.max_body_bytes) + " bytes";
          e.code = "payload_too_large";
        }
        if (res.status >= 500) e.type = "server_error";
        send_error(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }));
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res,
                                  std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(
        res, ApiError{.status = 500, .message = "internal error: " + what, .type = "server_error"});
  });
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    counters_.count(endpoint_label(req.path), res.status);
    if (options_.log_requests) {
      std::fprintf(stderr, "dsv3 serve: %s %s %d\n", req.method.c_str(), req.path.c_str(),
                   res.status);
    }
  });
}

void Server::add_routes() {
  using httplib::Request;
  using httplib::Response;
  http_->Post("/v1/chat/completions",
              [this](const Request& req, Response& res) { handle_generation(req, res, true); });
  http_->Post("/v1/completions",
              [this](const Request& req, Response& res) { handle_generation(req, res, false); });
  const int64_t started = int64_t(std::time(nullptr));
  auto model_object = [this, started] {
    return ordered_json{{"id", options_.model_name},
                        {"object", "model"},
                        {"created", started},
                        {"owned_by", "dsv3"},
                        {"max_model_len", scheduler_->stats().context}};
  };
  http_->Get("/v1/models", [model_object](const Request&, Response& res) {
    send_json(res, {{"object", "list"}, {"data", ordered_json::array({model_object()})}});
  });
  http_->Get("/v1/models/(.+)", [this, model_object](const Request& req, Response& res) {
    if (req.matches[1] == options_.model_name) return send_json(res, model_object());
    send_error(res, ApiError{.status = 404,
                             .message = "no model '" + std::string(req.matches[1]) +
                                        "' (this server has '" + options_.model_name + "')",
                             .param = "model",
                             .code = "model_not_found"});
  });
  http_->Get("/health", [this](const Request&, Response& res) {
    const SchedulerStats s = scheduler_->stats();
    send_json(res, {{"status", "ok"},
                    {"running", s.running},
                    {"waiting", s.queued},
                    {"parallel", s.parallel}});
  });
  http_->Get("/metrics", [this](const Request&, Response& res) {
    res.set_content(render_metrics(scheduler_->stats(), counters_), "text/plain; version=0.0.4");
  });
}

// A request ready to queue: its prompt, parameters, and what will shape the response.
struct Server::Prepared {
  std::vector<int32_t> prompt;
  GenerationParams params;
  // Where the output is constrained when not simply the whole of it by params.grammar (after
  // reasoning; strict functions the model calls itself). Null: params.grammar decides.
  std::shared_ptr<const structured::OutputConstraint> constraint;
  std::function<std::shared_ptr<ResponseBuilder>()> new_builder;  // one per choice
};

ApiResult<Server::Prepared> Server::prepare_chat(const ordered_json& body,
                                                 const ResponseIdentity& who) const {
  ApiResult<ChatRequest> r = parse_chat_request(body);
  if (!r.ok()) return r.error();
  if (!model_.has_chat_template()) {
    return invalid_param("messages",
                         "the model's tokenizer has no chat template; use "
                         "/v1/completions with a plain prompt");
  }
  const ordered_json extra =
      r->tools.is_null() ? ordered_json() : ordered_json{{"tools", r->tools}};
  Result<std::string> text = model_.render(r->messages, /*add_generation_prompt=*/true, extra);
  if (!text.ok()) {
    if (const std::optional<std::string>& broken = template_failure()) {
      return ApiError{.status = 500,
                      .message = "the server's chat template fails even on a one-message "
                                 "conversation: " + *broken,
                      .type = "server_error",
                      .code = "chat_template_error"};
    }
    return invalid_param("messages",
                         "the chat template cannot render these messages: " + text.error().message);
  }
  const bool opens_reasoning = prompt_opens_reasoning(*text);
  std::string forced;
  if (r->require_tool_call && !opens_reasoning) {
    ApiResult<std::string> prefix = forced_tool_markup(r->messages, extra, r->required_function);
    if (!prefix.ok()) return prefix.error();
    forced = std::move(*prefix);
    *text += forced;
  }
  Result<std::vector<int32_t>> ids = model_.tokenizer().encode_checked(*text, /*add_bos=*/false);
  if (!ids.ok()) return invalid_param("messages", ids.error().message);
  Prepared p{.prompt = std::move(*ids), .params = r->params};
  if (!forced.empty() && r->tool_grammar) {  // strict arguments of the forced call
    if (p.params.grammar) {
      return invalid_param("response_format",
                           "'response_format' cannot be combined with a tool_choice of a strict function");
    }
    p.params.grammar = r->tool_grammar;
    p.params.grammar_key = r->tool_grammar_key;
  } else if (p.params.grammar ? opens_reasoning : r->any_strict()) {
    // The answer after the reasoning, or the arguments of calls the model opens itself.
    ApiResult<std::shared_ptr<const structured::OutputConstraint>> lazy =
        lazy_constraint(*r, extra, opens_reasoning, /*call_opened=*/!forced.empty());
    if (!lazy.ok()) return lazy.error();
    p.constraint = std::move(*lazy);
  }
  const ChatOptions options{.opens_reasoning = opens_reasoning,
                            .parse_tool_calls = r->parse_tool_calls,
                            .logprobs = p.params.top_logprobs >= 0,
                            .forced_text = std::move(forced)};
  p.new_builder = [who, &tokenizer = model_.tokenizer(), options] {
    return std::shared_ptr<ResponseBuilder>(make_chat_builder(who, tokenizer, options));
  };
  return p;
}

// Whether the chat template fails on the simplest conversation, whatever a request sends (a
// runaway loop, a syntax the evaluator lacks): then a failed render is the operator's to fix
// (500), not the client's (400). Found out once, at the first failed render.
const std::optional<std::string>& Server::template_failure() const {
  std::call_once(template_checked_, [this] {
    const ordered_json probe = ordered_json::array({{{"role", "user"}, {"content", "Hello"}}});
    Result<std::string> text = model_.render(probe, /*add_generation_prompt=*/true, ordered_json());
    if (!text.ok()) template_failure_ = text.error().message;
  });
  return template_failure_;
}

namespace {
constexpr const char* kProbe = "dsv3_probe_function";
}  // namespace

// The conversation with one more assistant turn that calls kProbe with arguments "{}", as the
// chat template renders it: how the template writes calls.
Result<std::string> Server::call_example(const ordered_json& messages, const ordered_json& extra) const {
  ordered_json probe = messages;
  // (content null: V3's template writes the calls of an assistant turn without text)
  probe.push_back({{"role", "assistant"},
                   {"content", nullptr},
                   {"tool_calls", ordered_json::array({{{"id", "call_0"},
                                                        {"type", "function"},
                                                        {"function", {{"name", kProbe},
                                                                      {"arguments", "{}"}}}}})}});
  return model_.render(probe, /*add_generation_prompt=*/false, extra);
}

// The markup that opens a call (of `function`, or of any function when empty), as the chat
// template renders an earlier assistant call: a probe conversation shows its exact form.
ApiResult<std::string> Server::forced_tool_markup(const ordered_json& messages,
                                                  const ordered_json& extra,
                                                  const std::string& function) const {
  Result<std::string> rendered = call_example(messages, extra);
  std::optional<std::string> prefix;
  if (rendered.ok()) prefix = forced_call_prefix(*rendered, kProbe, function);
  if (!prefix) {
    return invalid_param("tool_choice",
                         "the model's chat template does not write tool calls, so a call cannot "
                         "be required");
  }
  return *prefix;
}

// A constraint that starts later than the first token: with response_format, the answer after
// the reasoning; with strict functions, free text until the model opens a call (the template's
// call marker), then one of the offered functions' openings, a strict one's arguments under its
// schema and the call's closing markup. "required" (`call_opened`: the prompt already ends
// with the marker) forbids ending before a call is written. Null: nothing to constrain.
ApiResult<std::shared_ptr<const structured::OutputConstraint>> Server::lazy_constraint(
    const ChatRequest& r, const ordered_json& extra, bool opens_reasoning, bool call_opened) const {
  structured::OutputConstraint::Options o;
  if (opens_reasoning) o.reasoning_end = std::string(kReasoningEnd);
  if (r.params.grammar) {
    o.answer = scheduler_->constraint_for(r.params.grammar_key, *r.params.grammar);
    o.trie = structured::OutputConstraint::trie_of(o.answer);
  } else {
    Result<std::string> example = call_example(r.messages, extra);
    std::optional<CallMarkup> markup;
    if (example.ok()) markup = call_markup(*example, kProbe);
    if (!markup && r.require_tool_call) {
      return invalid_param("tool_choice",
                           "the model's chat template does not write tool calls, so a call cannot "
                           "be required");
    }
    // A template without this call markup (V3.2's DSML): the calls stay free, as with
    // functions that are not strict.
    if (!markup) return std::shared_ptr<const structured::OutputConstraint>();
    o.call_marker = markup->marker;
    o.call_opened = call_opened;
    o.require_call = r.require_tool_call;
    for (const ChatRequest::Function& f : r.functions) {
      structured::OutputConstraint::Call& call = o.calls.emplace_back();
      call.opening = markup->opening(f.name);
      if (!f.grammar) continue;
      call.arguments = scheduler_->constraint_for(f.grammar_key, *f.grammar);
      call.closing = markup->closing;
      o.trie = structured::OutputConstraint::trie_of(call.arguments);
    }
  }
  Result<std::shared_ptr<const structured::OutputConstraint>> made =
      structured::OutputConstraint::make(std::move(o));
  if (!made.ok()) return invalid_param("tools", made.error().message);
  return std::move(made).value();
}

ApiResult<Server::Prepared> Server::prepare_completion(const ordered_json& body,
                                                       const ResponseIdentity& who) const {
  ApiResult<CompletionRequest> r = parse_completion_request(body);
  if (!r.ok()) return r.error();
  Prepared p{.params = r->params};
  if (r->prompt_text) {
    Result<std::vector<int32_t>> ids = model_.encode_prompt(*r->prompt_text);
    if (!ids.ok()) return invalid_param("prompt", ids.error().message);
    p.prompt = std::move(*ids);
  } else {
    p.prompt = std::move(r->prompt_tokens);
  }
  p.new_builder = [who, &tokenizer = model_.tokenizer(), logprobs = p.params.top_logprobs >= 0] {
    return std::shared_ptr<ResponseBuilder>(make_completion_builder(who, tokenizer, logprobs));
  };
  return p;
}

void Server::handle_generation(const httplib::Request& req, httplib::Response& res, bool chat) {
  mark_request_read();
  ApiResult<ordered_json> body = parse_json_body(req.body);
  if (!body.ok()) return send_error(res, body.error());
  const ResponseIdentity who{.id = random_id(chat ? "chatcmpl-" : "cmpl-"),
                             .created = int64_t(std::time(nullptr)),
                             .model = options_.model_name};
  ApiResult<Prepared> p = chat ? prepare_chat(*body, who) : prepare_completion(*body, who);
  if (!p.ok()) return send_error(res, p.error());

  const std::string prompt_param = chat ? "messages" : "prompt";
  const int64_t context = scheduler_->stats().context;
  if (int64_t(p->prompt.size()) > context) {
    return send_error(res, invalid_param(prompt_param,
                                         "the prompt has " + std::to_string(p->prompt.size()) +
                                             " tokens, more than the context of " +
                                             std::to_string(context) + " tokens",
                                         "context_length_exceeded"));
  }
  const GenerationParams& params = p->params;
  const GenerationJob job{.prompt = std::move(p->prompt),
                          .max_new_tokens = params.max_tokens,
                          .sampling = params.sampling,
                          .stop = params.stop,
                          .stop_at_eos = !params.ignore_eos,
                          .turn_end_tokens = chat ? chat_turn_markers(model_.tokenizer())
                                                  : std::vector<int32_t>{},
                          .skip_special = chat,
                          .top_logprobs = params.top_logprobs,
                          .constraint = p->constraint ? p->constraint
                                        : params.grammar
                                            ? structured::OutputConstraint::whole(scheduler_->constraint_for(
                                                  params.grammar_key, *params.grammar))
                                            : nullptr};
  if (Status s = scheduler_->check(job); !s.ok()) {
    return send_error(res, invalid_param(prompt_param, s.error().message));
  }
  // One job per choice, choice i sampling with seed + i; all are admitted or none.
  std::vector<std::shared_ptr<JobChannel>> channels;
  std::vector<std::shared_ptr<ResponseBuilder>> builders;
  for (int64_t i = 0; i < params.n; ++i) {
    GenerationJob choice = job;
    choice.sampling.seed = params.sampling.seed + uint64_t(i);
    std::shared_ptr<JobChannel> channel = scheduler_->submit(std::move(choice));
    if (!channel) break;
    channels.push_back(std::move(channel));
    builders.push_back(p->new_builder());
  }
  if (int64_t(channels.size()) < params.n) {
    for (const auto& c : channels) c->cancel();
    if (stopping_) {
      return send_error(res, ApiError{.status = 503,
                                      .message = "the server is shutting down",
                                      .type = "server_error",
                                      .code = "shutting_down"});
    }
    res.set_header("Retry-After", "1");
    return send_error(res, ApiError{.status = 429,
                                    .message = "the server is busy: every sequence is running and "
                                               "the queue is full; retry later",
                                    .type = "rate_limit_error",
                                    .code = "queue_full"});
  }
  relay(res, std::move(channels), std::move(builders),
        {.stream = params.stream,
         .include_usage = params.include_usage,
         .close_delimited = req.version == "HTTP/1.0"});
}

}  // namespace dsv3::server
