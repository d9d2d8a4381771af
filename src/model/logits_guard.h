// The last line of defence against silent garbage: weights or config values that pass every
// other check must still never turn into NaN or infinite logits that a command prints, samples
// from or writes with exit status 0. One pass over the rows, cheap next to the forward.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "util/result.h"

namespace dsv3 {

// An error naming the first non-finite value (row and token id) of `logits` [rows, vocab];
// `what` says which forward produced them.
Status check_logits_finite(std::span<const float> logits, int64_t vocab, std::string_view what);

}  // namespace dsv3
