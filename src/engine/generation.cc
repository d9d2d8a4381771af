#include "engine/generation.h"

#include <chrono>


namespace dsv3 {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

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
  if (req.constraint) decoder_steps.set_constraint(structured::TokenConstraint(req.constraint));
  std::optional<MtpAuto> mtp_auto;
  // Only greedy decoding lets timing choose: sampled tokens depend on whether a step drafted
  // (speculative sampling draws differently), and a seed must always give the same text.
  if (req.mtp_auto && req.draft > 0 && req.sampling.greedy()) mtp_auto.emplace();
  TokenOutput output(tokenizer, {.stop = req.stop,
                                 .stop_at_eos = req.stop_at_eos || req.constraint != nullptr,
                                 .turn_end_tokens = req.turn_end_tokens,
                                 .skip_special = req.skip_special_in_text,
                                 .max_new_tokens = req.max_new_tokens});
  auto emit = [&](const std::string& text) {
    out.text += text;
    return text.empty() || !cb.on_text || cb.on_text(text);
  };
  // Handles one decided token; false when generation ends with it.
  auto accept = [&](int32_t next) {
    out.tokens.push_back(next);
    TokenOutput::Step step = output.accept(next);
    if (cb.on_token) cb.on_token(next, step.piece);
    if (!emit(step.emit)) {
      out.finish = FinishReason::kCancelled;
      return false;
    }
    if (step.finish) out.finish = *step.finish;
    return !step.finish;
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
    const DecodeMode mode = mtp_auto ? mtp_auto->next() : DecodeMode::kSpeculative;
    if (mtp_auto) decoder_steps.set_speculative(mode == DecodeMode::kSpeculative);
    const auto step_start = std::chrono::steady_clock::now();
    DSV3_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, decoder_steps.step(budget));
    // A step that could not draft (the budget's or the context's end) measures nothing.
    if (mtp_auto && decoder_steps.drafted() == (mode == DecodeMode::kSpeculative)) {
      mtp_auto->record(seconds_since(step_start), int64_t(tokens.size()));
    }
    for (int32_t t : tokens) {
      going = accept(t);
      if (!going) break;
    }
  }
  // Drafts accepted past the end are not part of the answer.
  session.truncate(prompt_len + int64_t(out.tokens.size()));
  // What the decoder and the stop matcher still hold (nothing after a stop string).
  if (!output.finished()) emit(output.flush());
  if (req.draft > 0) out.mtp = decoder_steps.stats();
  if (mtp_auto) out.mtp_auto = mtp_auto->report();
  out.constraint = decoder_steps.constraint_stats();
  out.decode_seconds = seconds_since(t0);
  return out;
}

}  // namespace dsv3
