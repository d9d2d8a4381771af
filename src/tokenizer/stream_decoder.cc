#include "tokenizer/stream_decoder.h"

#include "tokenizer/utf8.h"

namespace dsv3 {

std::string StreamDecoder::feed(int32_t id) {
  if (!tokenizer_->is_valid_id(id) || (skip_special_ && tokenizer_->is_special(id))) return {};
  pending_ += tokenizer_->token_bytes(id);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const Utf8Step step = utf8_step(std::string_view(pending_).substr(i));
    if (step.kind == Utf8Step::kTruncated) break;  // a later token may complete it
    if (step.kind == Utf8Step::kValid) {
      out.append(pending_, i, step.length);
    } else {
      out.append(kReplacementChar);
    }
    i += step.length;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8_lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace dsv3
