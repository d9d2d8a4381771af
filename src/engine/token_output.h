// The one path from decided tokens to the text a user sees, shared by `generate` / `chat`
// (generation.cc) and the server's scheduler: EOS, stop strings (also split across tokens),
// UTF-8 characters held back until complete, and the token limit. Feed it each accepted token;
// it returns the text that became final and whether (and why) generation ends there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/stop.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {

enum class FinishReason { kStop, kLength, kCancelled, kContextFull };
const char* finish_reason_name(FinishReason r);  // "stop", "length", ...

struct TokenOutputOptions {
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool stop_at_eos = true;
  // With stop_at_eos: more tokens that end the answer as EOS does (a chat's turn markers).
  std::vector<int32_t> turn_end_tokens;
  bool skip_special = false;   // special tokens produce no text
  int64_t max_new_tokens = 0;  // 0: no limit (the context ends generation)
};

class TokenOutput {
 public:
  // `tokenizer` must outlive this.
  TokenOutput(const Tokenizer& tokenizer, TokenOutputOptions options);

  struct Step {
    std::string piece;  // the text the token completed, before stop strings are looked for
    std::string emit;   // text that is final now (the stop string and what follows excluded)
    std::optional<FinishReason> finish;  // set when generation ends with this token
  };
  Step accept(int32_t token);

  // Generation ended for a reason accept() did not see (context full, cancel, or the caller's
  // own limit): the text still held back, unless a stop string already ended it.
  std::string flush();

  int64_t generated() const { return generated_; }
  bool finished() const { return finished_; }

 private:
  bool ends_turn(int32_t token) const;

  const Tokenizer& tokenizer_;
  TokenOutputOptions options_;
  StreamDecoder decoder_;
  StopMatcher stops_;
  int64_t generated_ = 0;
  bool finished_ = false;
  bool stop_string_hit_ = false;
};

}  // namespace dsv3
