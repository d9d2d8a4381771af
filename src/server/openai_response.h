// OpenAI response objects built from a job's output, for streamed answers (one chunk per
// piece of output, then a last chunk with finish_reason) and whole ones. The chat builder
// splits R1-style reasoning (<think>...</think>) into reasoning_content and, when the request
// offered tools, turns DeepSeek's tool-call markup into tool_calls.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/reasoning.h"
#include "server/scheduler.h"
#include "server/tool_calls.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::server {

// What every object of one response repeats.
struct ResponseIdentity {
  std::string id;       // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

// "prefix" followed by random letters and digits.
std::string random_id(const std::string& prefix, size_t length = 24);

nlohmann::ordered_json usage_json(const JobOutput& out);

class ResponseBuilder {
 public:
  virtual ~ResponseBuilder() = default;
  // Streaming: the chunks this output adds (none when it adds nothing visible); the output
  // that says done adds the chunk with finish_reason.
  virtual std::vector<nlohmann::ordered_json> stream_chunks(const JobOutput& out) = 0;
  // Streaming with stream_options.include_usage: the last chunk, with usage and no choices.
  virtual nlohmann::ordered_json usage_chunk() const = 0;
  // Not streaming: takes in output; once it has taken the output that says done,
  // response() is the whole answer.
  virtual void add(const JobOutput& out) = 0;
  virtual nlohmann::ordered_json response() const = 0;
};

struct ChatOptions {
  bool opens_reasoning = false;   // the prompt ends inside <think> (R1's template)
  bool parse_tool_calls = false;  // the request offered tools
  bool logprobs = false;
  // Tool-call markup the prompt already ends with (tool_choice required / named): read as the
  // start of the answer, so the call it opens is parsed whole.
  std::string forced_text;
};

std::unique_ptr<ResponseBuilder> make_chat_builder(ResponseIdentity identity,
                                                   const Tokenizer& tokenizer,
                                                   const ChatOptions& options);
std::unique_ptr<ResponseBuilder> make_completion_builder(ResponseIdentity identity,
                                                         const Tokenizer& tokenizer, bool logprobs);

// finish_reason as OpenAI names it ("stop", "length", "tool_calls").
std::string finish_reason_json(FinishReason reason, bool made_tool_calls);

}  // namespace dsv3::server
