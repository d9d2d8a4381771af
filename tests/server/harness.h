// Shared pieces of the server tests: the tiny golden checkpoint with a byte-level tokenizer
// (random weights: the text is noise, but every path runs), a Server started in-process on
// a free loopback port, and an HTTP client that reads server-sent events.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/text_model.h"
#include "server/http_server.h"
#include "support/golden.h"
#include "support/tiny_tokenizer.h"

namespace dsv3::testing {

using nlohmann::json;

inline constexpr int64_t kTestContext = 512;

// The tiny tokenizer's directory. Writing it parses DeepSeek's 128k-entry tokenizer.json
// (tens of seconds), and ctest runs every test in a process of its own, so it is written once
// and reused: the directory is named after the modification times of what it is made from
// (the writer's source and DeepSeek's files), and written under a temporary name then
// renamed, so parallel test processes never see half of it.
inline const std::string& tiny_tokenizer_dir() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto stamp = [&ec](const fs::path& p) {
      return std::to_string(fs::last_write_time(p, ec).time_since_epoch().count() & 0xffffffffff);
    };
    const fs::path writer =
        fs::path(__FILE__).parent_path().parent_path() / "support" / "tiny_tokenizer.cc";
    const fs::path source = fs::path(test_data_dir()) / "tokenizer" / "deepseek-v3";
    const std::string key = fs::exists(writer) ? stamp(writer) : stamp("/proc/self/exe");
    const fs::path final_dir =
        fs::temp_directory_path() /
        ("dsv3_server_tiny_tok_" + key + "_" + stamp(source / "tokenizer.json") + "_" +
         stamp(source / "tokenizer_config.json"));
    if (!fs::exists(final_dir / "tokenizer_config.json")) {
      const fs::path tmp = final_dir.string() + ".tmp" + std::to_string(::getpid());
      write_tiny_tokenizer(tmp.string());
      fs::rename(tmp, final_dir, ec);
      if (ec) fs::remove_all(tmp, ec);  // another process was first
    }
    return final_dir.string();
  }();
  return dir;
}

inline std::unique_ptr<TextModel> load_tiny(int64_t max_positions, bool mtp = false) {
  auto m = TextModel::load(test_data_dir() + "/golden/v3-tiny/checkpoint", tiny_tokenizer_dir(),
                           ModelOptions{.max_positions = max_positions, .load_mtp = mtp});
  EXPECT_TRUE(m.ok()) << m.error().message;
  return std::move(m).value();
}

// Loaded once per test binary.
inline const TextModel& tiny_text_model() {
  static std::unique_ptr<TextModel> model = load_tiny(kTestContext);
  return *model;
}

// The same with its MTP layer, for speculative decoding.
inline const TextModel& tiny_text_model_mtp() {
  static std::unique_ptr<TextModel> model = load_tiny(kTestContext, /*mtp=*/true);
  return *model;
}

// The same with room for generations long enough to outlast a client (minutes at most).
inline constexpr int64_t kLongContext = 16384;
inline const TextModel& tiny_text_model_long() {
  static std::unique_ptr<TextModel> model = load_tiny(kLongContext);
  return *model;
}

inline server::ServerOptions test_options(int64_t context = kTestContext) {
  server::ServerOptions o;
  o.port = 0;
  o.model_name = "tiny";
  o.log_requests = false;
  o.scheduler.parallel = 4;
  o.scheduler.context = context;
  o.scheduler.max_queue = 16;
  o.scheduler.prefill_chunk = 32;
  return o;
}

// A server running on its own thread for the lifetime of this object.
class RunningServer {
 public:
  explicit RunningServer(const server::ServerOptions& options = test_options(),
                         const TextModel& model = tiny_text_model())
      : server_(std::make_unique<server::Server>(model, options)) {
    auto s = server_->bind();
    EXPECT_TRUE(s.ok()) << s.error().message;
    thread_ = std::thread([this] { server_->run(); });
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return server_->port(); }
  server::Server& server() { return *server_; }
  httplib::Client client(const std::string& api_key = "") const {
    httplib::Client c("127.0.0.1", port());
    c.set_read_timeout(60, 0);
    c.set_write_timeout(10, 0);
    if (!api_key.empty()) c.set_bearer_token_auth(api_key);
    return c;
  }

 private:
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
};

// A POST with a JSON body; the response body parsed when it is JSON (null otherwise).
struct JsonReply {
  int status = -1;
  json body;
  std::string raw;
};
inline JsonReply post_json(httplib::Client& c, const std::string& path, const std::string& body) {
  JsonReply r;
  auto res = c.Post(path.c_str(), body, "application/json");
  if (!res) return r;
  r.status = res->status;
  r.raw = res->body;
  r.body = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  return r;
}
inline JsonReply post_json(httplib::Client& c, const std::string& path, const json& body) {
  return post_json(c, path, body.dump());
}
inline JsonReply get_json(httplib::Client& c, const std::string& path) {
  JsonReply r;
  auto res = c.Get(path.c_str());
  if (!res) return r;
  r.status = res->status;
  r.raw = res->body;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

// A streamed response, read event by event.
struct SseReply {
  int status = -1;
  std::vector<json> chunks;  // the JSON of every `data:` event but [DONE]
  bool done = false;         // `data: [DONE]` arrived
  bool well_formed = true;   // every event was `data: JSON`, `data: [DONE]` or a comment
  std::string raw;
  std::string error;  // the client's, when no response came
};

// Streams a POST. `keep_reading(chunks so far)` returning false drops the connection.
inline SseReply post_stream(httplib::Client& c, const std::string& path, const json& body,
                            const std::function<bool(size_t)>& keep_reading = nullptr) {
  SseReply r;
  std::string buffer;
  auto parse_events = [&r, &buffer] {
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      const std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (event.starts_with(":")) continue;  // keep-alive comment
      if (!event.starts_with("data: ")) {
        r.well_formed = false;
        continue;
      }
      const std::string data = event.substr(6);
      if (data == "[DONE]") {
        if (r.done) r.well_formed = false;
        r.done = true;
        continue;
      }
      json j = json::parse(data, nullptr, false);
      if (j.is_discarded() || r.done) r.well_formed = false;
      r.chunks.push_back(std::move(j));
    }
  };
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&r](const httplib::Response& res) {
    r.status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    r.raw.append(data, n);
    buffer.append(data, n);
    parse_events();
    return !keep_reading || keep_reading(r.chunks.size());
  };
  auto res = c.send(req);
  if (res) r.status = res->status;
  if (!res) r.error = httplib::to_string(res.error());
  if (!buffer.empty() && r.status == 200) r.well_formed = false;
  return r;
}

inline json chat_body(const std::string& user, int max_tokens, uint64_t seed = 1) {
  return {{"model", "tiny"},
          {"messages", json::array({{{"role", "user"}, {"content", user}}})},
          {"max_tokens", max_tokens},
          {"seed", seed}};
}

// A value of a Prometheus metric line "name value" or "name{labels} value" (-1 if absent).
inline double metric_value(const std::string& text, const std::string& name_and_labels) {
  size_t pos = 0;
  while ((pos = text.find(name_and_labels + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n')
      return std::stod(text.substr(pos + name_and_labels.size() + 1));
    ++pos;
  }
  return -1;
}

}  // namespace dsv3::testing
