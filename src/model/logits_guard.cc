#include "model/logits_guard.h"

#include <cmath>

namespace dsv3 {

Status check_logits_finite(std::span<const float> logits, int64_t vocab, std::string_view what) {
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isfinite(logits[i])) continue;
    const int64_t row = vocab > 0 ? int64_t(i) / vocab : 0;
    const int64_t id = vocab > 0 ? int64_t(i) % vocab : int64_t(i);
    return Err(what, " produced a non-finite logit (", logits[i], " at row ", row, ", token id ",
               id, "): the checkpoint's weights or config.json values are broken");
  }
  return OkStatus();
}

}  // namespace dsv3
