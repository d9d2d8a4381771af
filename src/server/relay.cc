#include "server/relay.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>

#include "server/api_error.h"

namespace dsv3::server {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(100);
constexpr auto kStreamKeepAlive = std::chrono::milliseconds(500);
constexpr auto kJsonKeepAlive = std::chrono::milliseconds(1000);
// How long the status line waits for the jobs' first output.
constexpr auto kFirstOutputWait = std::chrono::milliseconds(1000);

// The answer for a job the model failed on (its logits were not finite).
nlohmann::ordered_json model_error(const std::string& message) {
  return ApiError{.status = 500, .message = message, .type = "server_error", .code = "model_error"}
      .to_json();
}

std::string sse(const nlohmann::ordered_json& chunk) {
  return "data: " + dump_json(chunk) + "\n\n";
}

// The chunk or answer with its choices numbered `index`.
nlohmann::ordered_json numbered(nlohmann::ordered_json j, size_t index) {
  if (j.contains("choices")) {
    for (auto& c : j["choices"]) c["index"] = index;
  }
  return j;
}

// The usage of several choices of one prompt: the prompt once, every choice's completion.
nlohmann::ordered_json merged_usage(const std::vector<nlohmann::ordered_json>& parts) {
  nlohmann::ordered_json usage = parts.front()["usage"];
  int64_t completion = 0;
  for (const auto& p : parts) completion += p["usage"]["completion_tokens"].get<int64_t>();
  usage["completion_tokens"] = completion;
  usage["total_tokens"] = usage["prompt_tokens"].get<int64_t>() + completion;
  return usage;
}

// What each choice's builder gives for `part` (its whole response, or its usage chunk).
std::vector<nlohmann::ordered_json> parts_of(
    const std::vector<std::shared_ptr<ResponseBuilder>>& builders,
    nlohmann::ordered_json (ResponseBuilder::*part)() const) {
  std::vector<nlohmann::ordered_json> parts;
  for (const auto& b : builders) parts.push_back(((*b).*part)());
  return parts;
}

nlohmann::ordered_json merged_response(
    const std::vector<std::shared_ptr<ResponseBuilder>>& builders) {
  const std::vector<nlohmann::ordered_json> parts = parts_of(builders, &ResponseBuilder::response);
  nlohmann::ordered_json r = parts.front();
  r["choices"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < parts.size(); ++i) {
    r["choices"].push_back(numbered(parts[i], i)["choices"][0]);
  }
  r["usage"] = merged_usage(parts);
  return r;
}

nlohmann::ordered_json merged_usage_chunk(
    const std::vector<std::shared_ptr<ResponseBuilder>>& builders) {
  const std::vector<nlohmann::ordered_json> parts =
      parts_of(builders, &ResponseBuilder::usage_chunk);
  nlohmann::ordered_json c = parts.front();
  c["usage"] = merged_usage(parts);
  return c;
}
}  // namespace

void relay(httplib::Response& res, std::vector<std::shared_ptr<JobChannel>> channels,
           std::vector<std::shared_ptr<ResponseBuilder>> builders, const RelayOptions& options) {
  // Whatever ends the response (done, a failed write, the server stopping) ends the jobs.
  auto release = [channels](bool) {
    for (const auto& c : channels) c->cancel();
  };
  // The status line waits for the first output (a moment at most), so that a job the model
  // fails on at once gets a 500; a failure after it ends the body with the error object.
  const auto deadline = Clock::now() + kFirstOutputWait;
  for (const auto& c : channels) {
    if (std::string error = c->error_by(deadline); !error.empty()) {
      release(false);
      res.status = 500;
      res.set_content(dump_json(model_error(error)), "application/json");
      return;
    }
  }
  if (options.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
  }
  // text/event-stream and "application/json; charset=utf-8" are types httplib never
  // compresses: a compressor would hold the chunks back.
  const char* type = options.stream ? "text/event-stream" : "application/json; charset=utf-8";
  httplib::ContentProviderWithoutLength provider =
      [channels, builders, options](size_t, httplib::DataSink& sink) {
        auto last_write = Clock::now();
        std::vector<bool> done(channels.size(), false);
        size_t running = channels.size();
        for (;;) {
          // Each pass waits at most kPoll in all, shared by the choices still running.
          const auto wait = kPoll / int(std::max<size_t>(1, running));
          std::string data;
          for (size_t i = 0; i < channels.size(); ++i) {
            if (done[i]) continue;
            const JobOutput out = channels[i]->take(wait);
            if (!out.error.empty()) {  // the answer so far stays; the error object ends it
              for (const auto& c : channels) c->cancel();
              if (options.stream) {  // what the job produced before it failed goes out first
                JobOutput before = out;
                before.done = false;
                before.error.clear();
                for (const auto& chunk : builders[i]->stream_chunks(before)) {
                  data += sse(numbered(chunk, i));
                }
              }
              data += options.stream ? sse(model_error(out.error)) : dump_json(model_error(out.error)) + "\n";
              sink.write(data.data(), data.size());
              sink.done();
              return true;
            }
            if (options.stream) {
              for (const auto& chunk : builders[i]->stream_chunks(out)) data += sse(numbered(chunk, i));
            } else {
              builders[i]->add(out);
            }
            if (out.done) {
              done[i] = true;
              --running;
            }
          }
          if (running == 0) {
            if (options.stream) {
              if (options.include_usage) data += sse(merged_usage_chunk(builders));
              data += "data: [DONE]\n\n";
            } else {
              data = dump_json(merged_response(builders)) + "\n";
            }
          }
          const auto idle = Clock::now() - last_write;
          if (data.empty() && idle > (options.stream ? kStreamKeepAlive : kJsonKeepAlive)) {
            data = options.stream ? ": keep-alive\n\n" : " ";
          }
          if (!data.empty()) {
            if (!sink.write(data.data(), data.size())) {
              for (const auto& c : channels) c->cancel();
              return false;
            }
            last_write = Clock::now();
          }
          if (running == 0) {
            sink.done();
            return true;
          }
        }
      };
  if (options.close_delimited) {
    res.set_content_provider(type, std::move(provider), release);
  } else {
    res.set_chunked_content_provider(type, std::move(provider), release);
  }
}

}  // namespace dsv3::server
