// Relays a queued job's output to its HTTP client: as server-sent events (`data: {chunk}`,
// then `data: [DONE]`) or as one JSON object at the end. While nothing else is written a
// keep-alive goes out now and then (an SSE comment, or a space before the JSON, which JSON
// parsers skip), so a client that went away is noticed by a failed write even while its
// request waits in the queue; its job is then cancelled.
#pragma once

#include <memory>
#include <vector>

#include "server/openai_response.h"
#include "server/scheduler.h"

namespace httplib {
struct Response;
}

namespace dsv3::server {

struct RelayOptions {
  bool stream = false;
  bool include_usage = false;  // streaming: a last chunk with usage
  // An HTTP/1.0 client cannot read chunked encoding: the body ends where the connection does.
  bool close_delimited = false;
};

// One job per choice (a request's `n`), each with its own builder; choice i of the answer is
// job i's, numbered i. The usage counts the prompt once and every choice's completion tokens.
void relay(httplib::Response& res, std::vector<std::shared_ptr<JobChannel>> channels,
           std::vector<std::shared_ptr<ResponseBuilder>> builders, const RelayOptions& options);

}  // namespace dsv3::server
