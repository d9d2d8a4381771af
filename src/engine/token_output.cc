#include "engine/token_output.h"

#include <algorithm>
#include <utility>

namespace dsv3 {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kContextFull: return "context_full";
  }
  return "?";
}

TokenOutput::TokenOutput(const Tokenizer& tokenizer, TokenOutputOptions options)
    : tokenizer_(tokenizer), options_(std::move(options)),
      decoder_(tokenizer, options_.skip_special), stops_(options_.stop) {}

TokenOutput::Step TokenOutput::accept(int32_t token) {
  Step step;
  ++generated_;
  if (options_.stop_at_eos && ends_turn(token)) {
    step.emit = flush();
    step.finish = FinishReason::kStop;
    finished_ = true;
    return step;
  }
  step.piece = decoder_.feed(token);
  StopMatcher::Step text = stops_.feed(step.piece);
  step.emit = std::move(text.emit);
  if (text.stopped) {
    stop_string_hit_ = true;
    step.finish = FinishReason::kStop;
  } else if (options_.max_new_tokens > 0 && generated_ >= options_.max_new_tokens) {
    step.emit += flush();
    step.finish = FinishReason::kLength;
  }
  finished_ = step.finish.has_value();
  return step;
}

bool TokenOutput::ends_turn(int32_t token) const {
  return token == tokenizer_.eos_id() ||
         std::ranges::find(options_.turn_end_tokens, token) != options_.turn_end_tokens.end();
}

std::string TokenOutput::flush() {
  if (stop_string_hit_) return {};
  const StopMatcher::Step tail = stops_.feed(decoder_.flush());
  if (tail.stopped) {
    stop_string_hit_ = true;
    return tail.emit;
  }
  return tail.emit + stops_.flush();
}

}  // namespace dsv3
