// DeepSeekMoE: shared experts plus top-k of many fine-grained routed experts.
#pragma once

#include "model/layer_context.h"
#include "model/weights.h"

namespace dsv3 {

// x [T, hidden] (normalised) -> out [T, hidden]. Tokens are grouped by expert so each chosen
// expert's weights are read once per call; experts nobody chose are skipped.
// ids / weights [T, K] (optional) receive the routing.
void moe_forward(const LayerContext& ctx, const MoeWeights& w, const float* x, int64_t T,
                 float* out, int32_t* ids = nullptr, float* weights = nullptr);

// The same computed token by token (the textbook form); tests check both agree.
void moe_forward_per_token(const LayerContext& ctx, const MoeWeights& w, const float* x,
                           int64_t T, float* out);

}  // namespace dsv3
