// Streaming detokenization: ids arrive one at a time during generation and the text is
// shown as it grows. A token may end inside a UTF-8 character (byte-level BPE splits
// emoji and CJK characters across tokens), so bytes of an unfinished character are held
// back until a later token completes it. The concatenation of everything feed() and
// flush() return equals Tokenizer::decode of all the ids.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace dsv3 {

class StreamDecoder {
 public:
  // `tokenizer` must outlive the decoder. With `skip_special`, special added tokens
  // produce no text (as in decode).
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(&tokenizer), skip_special_(skip_special) {}

  // Adds one token and returns the text it completes (possibly empty). Ids outside the
  // vocabulary are skipped; bytes that can never form a character come out as U+FFFD.
  std::string feed(int32_t id);
  // Returns what is held back, an unfinished character as U+FFFD, and starts afresh.
  std::string flush();
  // How many bytes of an unfinished character are held back (0 to 3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace dsv3
