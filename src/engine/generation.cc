#include "engine/generation.h"

#include <chrono>

#include "engine/stop.h"
#include "tokenizer/stream_decoder.h"

namespace dsv3 {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kContextFull: return "context_full";
  }
  return "?";
}

Result<int64_t> sync_prompt(Session& session, std::span<const int32_t> prompt) {
  if (prompt.empty()) return Err("the prompt is empty");
  const auto& have = session.tokens();
  size_t common = 0;
  while (common < have.size() && common < prompt.size() && have[common] == prompt[common]) ++common;
  // The logits of the last prompt position are needed, so at least one token is fed.
  if (common == prompt.size()) --common;
  session.truncate(int64_t(common));
  DSV3_TRY(session.append(prompt.subspan(common)));
  return int64_t(common);
}

Result<GenerationResult> generate_text(Session& session, const Tokenizer& tokenizer,
                                       const GenerationRequest& req,
                                       const GenerationCallbacks& cb) {
  DSV3_TRY(validate(req.sampling));
  GenerationResult out;
  out.prompt_tokens = int64_t(req.prompt.size());
  auto t0 = std::chrono::steady_clock::now();
  DSV3_ASSIGN_OR_RETURN(out.cached_prompt_tokens, sync_prompt(session, req.prompt));
  out.prefill_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  Sampler sampler(req.sampling);
  TokenDecoder decoder_steps(session, sampler, req.draft, req.adaptive_draft);
  StreamDecoder decoder(tokenizer, req.skip_special_in_text);
  StopMatcher stops(req.stop);
  const int32_t eos = tokenizer.eos_id();
  auto emit = [&](const std::string& text) {
    out.text += text;
    return text.empty() || !cb.on_text || cb.on_text(text);
  };
  // Handles one decided token; false when generation ends with it.
  bool stop_string_hit = false;
  auto accept = [&](int32_t next) {
    out.tokens.push_back(next);
    if (req.stop_at_eos && next == eos) {
      if (cb.on_token) cb.on_token(next, "");
      out.finish = FinishReason::kStop;
      return false;
    }
    const std::string piece = decoder.feed(next);
    if (cb.on_token) cb.on_token(next, piece);
    const auto step = stops.feed(piece);
    if (!emit(step.emit)) {
      out.finish = FinishReason::kCancelled;
      return false;
    }
    if (step.stopped) {
      out.finish = FinishReason::kStop;
      stop_string_hit = true;
      return false;
    }
    return true;
  };
  out.finish = FinishReason::kLength;
  const int64_t prompt_len = int64_t(req.prompt.size());
  bool going = req.max_new_tokens > 0;
  while (going) {
    if (cb.cancel && cb.cancel->load()) {
      out.finish = FinishReason::kCancelled;
      break;
    }
    if (session.length() >= session.capacity()) {
      out.finish = FinishReason::kContextFull;
      break;
    }
    const int64_t budget = req.max_new_tokens - int64_t(out.tokens.size());
    DSV3_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, decoder_steps.step(budget));
    for (int32_t t : tokens) {
      going = accept(t) && int64_t(out.tokens.size()) < req.max_new_tokens;
      if (!going) break;
    }
  }
  // Drafts accepted past the end are not part of the answer.
  session.truncate(prompt_len + int64_t(out.tokens.size()));
  if (!stop_string_hit) {  // show what the decoder and the stop matcher still hold
    const auto tail = stops.feed(decoder.flush());
    emit(tail.emit + (tail.stopped ? std::string() : stops.flush()));
  }
  if (req.draft > 0) out.mtp = decoder_steps.stats();
  out.decode_seconds = seconds_since(t0);
  return out;
}

}  // namespace dsv3
