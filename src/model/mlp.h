// SwiGLU feed-forward: w2(silu(w1 x) * w3 x). Dense layers, routed and shared experts.
#pragma once

#include <span>

#include "model/weights.h"
#include "util/arena.h"

namespace dsv3 {

// x [T, hidden] -> out [T, hidden].
void mlp_forward(const MlpWeights& w, const float* x, int64_t T, Arena& arena, float* out);

// One MLP on its own rows: out [n, hidden] = mlp(x [n, hidden]).
struct MlpRun {
  const MlpWeights* w = nullptr;
  const float* x = nullptr;
  int64_t n = 0;
  float* out = nullptr;
};
// Several MLPs at once (a MoE layer's chosen experts): every gate and up product in one
// batched call, then every down product in another, so a decode step meets two barriers per
// layer instead of three per expert. Each out equals mlp_forward's.
void mlps_forward(std::span<const MlpRun> runs, Arena& arena);

}  // namespace dsv3
