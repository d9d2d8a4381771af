// Text generation on a Session: feed the prompt (reusing the cached prefix the session
// already holds, so a chat keeps its KV cache between turns), then sample token by token,
// streaming text, until EOS, a stop string, the token limit, the context end or a cancel.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/mtp_auto.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "engine/speculative.h"
#include "engine/token_output.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool stop_at_eos = true;
  std::vector<int32_t> turn_end_tokens;  // end like EOS (a chat's turn markers)
  bool skip_special_in_text = false;  // leave special tokens out of the streamed text
  int draft = 0;  // MTP draft tokens per step (0: off; needs a session with MTP enabled)
  bool adaptive_draft = false;  // `draft` is the most; the depth follows the acceptance
  // With `draft` >= 1: draft only while it is measured to be faster (MtpAuto, `--mtp auto`).
  bool mtp_auto = false;
  // Structured output: every token stays inside this language (JSON mode, a JSON schema)
  // where the plan says (the whole output, the answer after reasoning, tool-call arguments);
  // generation then always stops at EOS, which the constraint allows once the JSON is whole.
  std::shared_ptr<const structured::OutputConstraint> constraint;
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids (EOS / stop tokens included)
  std::string text;             // streamed text (stop string excluded)
  FinishReason finish = FinishReason::kStop;
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prefix reused from the session's cache
  double prefill_seconds = 0, decode_seconds = 0;
  MtpStats mtp;  // acceptance of MTP drafts (empty without drafting)
  std::optional<MtpAutoReport> mtp_auto;  // what `--mtp auto` chose (request.mtp_auto only)
  ConstraintStats constraint;  // time spent masking logits (with a constraint)
  double decode_tok_s() const { return decode_seconds > 0 ? double(tokens.size()) / decode_seconds : 0; }
};

struct GenerationCallbacks {
  // Receives each piece of text as it becomes final; return false to stop.
  std::function<bool(std::string_view)> on_text;
  // Receives each generated id with the text it completed (may be empty).
  std::function<void(int32_t, std::string_view)> on_token;
  const std::atomic<bool>* cancel = nullptr;  // set (e.g. by Ctrl-C) to stop early
};

Result<GenerationResult> generate_text(Session& session, const Tokenizer& tokenizer,
                                       const GenerationRequest& request,
                                       const GenerationCallbacks& callbacks = {});

// Brings the session to exactly `prompt`, reusing the longest common prefix it already holds.
// Returns how many prompt tokens were reused.
Result<int64_t> sync_prompt(Session& session, std::span<const int32_t> prompt);

}  // namespace dsv3
