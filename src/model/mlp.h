// SwiGLU feed-forward: w2(silu(w1 x) * w3 x). Dense layers, routed and shared experts.
#pragma once

#include "model/weights.h"
#include "util/arena.h"

namespace dsv3 {

// x [T, hidden] -> out [T, hidden].
void mlp_forward(const MlpWeights& w, const float* x, int64_t T, Arena& arena, float* out);

}  // namespace dsv3
