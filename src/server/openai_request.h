// The OpenAI request bodies the server accepts, parsed and checked field by field. Fields the
// server knows must have the right type and range (400 naming the field otherwise); fields it
// does not know are ignored, as OpenAI clients send extras (user, metadata, store, ...).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler.h"
#include "structured/grammar.h"
#include "server/api_error.h"

namespace dsv3::server {

// What /v1/chat/completions and /v1/completions share.
struct GenerationParams {
  int64_t max_tokens = 0;  // 0: until the context is full
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // extension (as in vLLM)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage
  int32_t top_logprobs = -1;   // -1: no logprobs; n >= 0: the sampled token's and n others
  int64_t n = 1;               // choices: independent samples, seeds seed, seed + 1, ...
  // response_format json_object / json_schema: the language the output must stay in (null:
  // free text), and a text that names it (the same schema gives the same key: masks are shared).
  std::shared_ptr<const structured::Grammar> grammar;
  std::string grammar_key;
};

// Most choices one request may ask for: each runs as its own sequence of the batch.
inline constexpr int64_t kMaxChoices = 16;

struct ChatRequest {
  GenerationParams params;
  nlohmann::ordered_json messages;  // normalised for the chat template (content as strings)
  nlohmann::ordered_json tools;     // null when absent or tool_choice is "none"
  bool parse_tool_calls = false;
  // tool_choice "required" (some call) or {"type": "function", "function": {"name": N}} (a call
  // of N): the answer is made to start with that call's markup. Empty: the model chooses.
  bool require_tool_call = false;
  std::string required_function;  // N, or empty for any function
  // The arguments' language when tool_choice names a function with "strict": true (null
  // otherwise): the answer then starts inside those arguments.
  std::shared_ptr<const structured::Grammar> tool_grammar;
  std::string tool_grammar_key;
  // The functions the model may call (all of `tools`, or the one tool_choice names), each with
  // its arguments' language when it is strict: the model opens calls itself, and a strict
  // function's arguments are constrained from where its call opens.
  struct Function {
    std::string name;
    std::shared_ptr<const structured::Grammar> grammar;  // null: not strict
    std::string grammar_key;
  };
  std::vector<Function> functions;
  bool any_strict() const {
    for (const Function& f : functions) {
      if (f.grammar) return true;
    }
    return false;
  }
};

struct CompletionRequest {
  GenerationParams params;
  std::optional<std::string> prompt_text;  // a text prompt ...
  std::vector<int32_t> prompt_tokens;      // ... or token ids
};

// The body as JSON: malformed JSON, invalid UTF-8 and non-objects are refused.
ApiResult<nlohmann::ordered_json> parse_json_body(std::string_view body);

ApiResult<ChatRequest> parse_chat_request(const nlohmann::ordered_json& body);
ApiResult<CompletionRequest> parse_completion_request(const nlohmann::ordered_json& body);

}  // namespace dsv3::server
