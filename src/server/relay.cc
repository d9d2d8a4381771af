#include "server/relay.h"

#include <httplib.h>

#include <chrono>

#include "server/api_error.h"

namespace dsv3::server {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(100);
constexpr auto kStreamKeepAlive = std::chrono::milliseconds(500);
constexpr auto kJsonKeepAlive = std::chrono::milliseconds(1000);

std::string sse(const nlohmann::ordered_json& chunk) {
  return "data: " + dump_json(chunk) + "\n\n";
}
}  // namespace

void relay(httplib::Response& res, std::shared_ptr<JobChannel> channel,
           std::shared_ptr<ResponseBuilder> builder, const RelayOptions& options) {
  // Whatever ends the response (done, a failed write, the server stopping) ends the job.
  auto release = [channel](bool) { channel->cancel(); };
  if (options.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
  }
  // text/event-stream and "application/json; charset=utf-8" are types httplib never
  // compresses: a compressor would hold the chunks back.
  const char* type = options.stream ? "text/event-stream" : "application/json; charset=utf-8";
  res.set_chunked_content_provider(
      type,
      [channel, builder, options](size_t, httplib::DataSink& sink) {
        auto last_write = Clock::now();
        for (;;) {
          const JobOutput out = channel->take(kPoll);
          std::string data;
          if (options.stream) {
            for (const auto& chunk : builder->stream_chunks(out)) data += sse(chunk);
            if (out.done) {
              if (options.include_usage) data += sse(builder->usage_chunk());
              data += "data: [DONE]\n\n";
            }
          } else {
            builder->add(out);
            if (out.done) data = dump_json(builder->response()) + "\n";
          }
          const auto idle = Clock::now() - last_write;
          if (data.empty() && idle > (options.stream ? kStreamKeepAlive : kJsonKeepAlive)) {
            data = options.stream ? ": keep-alive\n\n" : " ";
          }
          if (!data.empty()) {
            if (!sink.write(data.data(), data.size())) {
              channel->cancel();
              return false;
            }
            last_write = Clock::now();
          }
          if (out.done) {
            sink.done();
            return true;
          }
        }
      },
      release);
}

}  // namespace dsv3::server
