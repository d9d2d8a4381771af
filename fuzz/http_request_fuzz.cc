// Fuzzes how the server reads an HTTP request. dsv3 serves through cpp-httplib, and Debian
// ships httplib's implementation as a precompiled shared library, so its request reader is
// not instrumented: libFuzzer gets no coverage from inside it and ASan sees only its calls
// into libc. What this harness does instead:
//   - feeds the input, as the bytes a client sent, to httplib::Server::process_request (the
//     stream-based entry point every accepted socket goes through; protected, so reached
//     from a subclass) over an in-memory stream: no socket, no thread, ~µs per input;
//   - routes as `dsv3 serve` does and answers with dsv3's own code: the request body goes
//     through parse_json_body and the chat / completion request parsers, and refusals are
//     written as OpenAI error objects with dump_json.
// Crashes, hangs and exceptions anywhere on that path (httplib's parser included) are found;
// coverage guidance comes from the dsv3 side. The model-dependent part of a request (prompt
// rendering and generation) is left to the server tests and scripts/soak.sh.
#include <httplib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz_support.h"
#include "server/openai_request.h"

namespace {

using dsv3::server::ApiError;

// A client connection as a byte string: reads hand out the input, writes are collected.
class MemoryStream : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view input) : input_(input) {}

  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, input_.size() - read_);
    std::memcpy(ptr, input_.data() + read_, n);
    read_ += n;
    return ssize_t(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    written_.append(ptr, size);
    return ssize_t(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

  const std::string& written() const { return written_; }

 private:
  std::string_view input_;
  size_t read_ = 0;
  std::string written_;
};

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dsv3::server::dump_json(e.to_json()), "application/json");
}

// The body handling of `dsv3 serve`'s generation routes, up to where the model is needed.
void handle_generation(const httplib::Request& req, httplib::Response& res, bool chat) {
  auto body = dsv3::server::parse_json_body(req.body);
  if (!body.ok()) return send_error(res, body.error());
  if (chat) {
    auto r = dsv3::server::parse_chat_request(*body);
    if (!r.ok()) return send_error(res, r.error());
  } else {
    auto r = dsv3::server::parse_completion_request(*body);
    if (!r.ok()) return send_error(res, r.error());
  }
  res.set_content(R"({"accepted":true})", "application/json");
}

class FuzzServer : public httplib::Server {
 public:
  FuzzServer() {
    // As `dsv3 serve` (ServerOptions::max_body_bytes is 8 MiB; inputs here are smaller).
    set_payload_max_length(size_t(1) << 20);
    Post("/v1/chat/completions", [](const httplib::Request& req, httplib::Response& res) {
      handle_generation(req, res, true);
    });
    Post("/v1/completions", [](const httplib::Request& req, httplib::Response& res) {
      handle_generation(req, res, false);
    });
    Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[]})", "application/json");
    });
    Get("/v1/models/(.+)", [](const httplib::Request& req, httplib::Response& res) {
      send_error(res, ApiError{.status = 404,
                               .message = "no model '" + std::string(req.matches[1]) + "'"});
    });
    Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      ApiError e{.status = res.status, .message = "HTTP error " + std::to_string(res.status)};
      if (res.status == 404) e.message = "unknown endpoint " + req.method + " " + req.path;
      if (res.status >= 500) e.type = "server_error";
      send_error(res, e);
    });
  }

  // One request of one connection, as httplib's accept loop would hand it over.
  void serve(httplib::Stream& stream) {
    bool connection_closed = false;
    process_request(stream, /*close_connection=*/true, connection_closed, [](httplib::Request&) {});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64u << 10)) return -1;  // httplib caps a request line and a header at 8 KiB
  static FuzzServer server;
  MemoryStream stream(dsv3::fuzz::as_text(data, size));
  server.serve(stream);
  // Whatever the request, the answer must be an HTTP response (or nothing, for a request
  // httplib drops without answering).
  const std::string& out = stream.written();
  dsv3::fuzz::note("answer:\n" + out);
  if (!out.empty() && out.rfind("HTTP/1.1 ", 0) != 0) {
    std::fprintf(stderr, "http_request_fuzz: the answer does not start with a status line\n");
    std::abort();
  }
  return 0;
}
