// DeepSeekMoE: shared experts plus top-k of many fine-grained routed experts.
#pragma once

#include <span>

#include "model/layer_context.h"
#include "model/remote_experts.h"
#include "model/weights.h"

namespace dsv3 {

// x [T, hidden] (normalised) -> out [T, hidden]. Tokens are grouped by expert so each chosen
// expert's weights are read once per call; experts nobody chose are skipped.
// ids / weights [T, K] (optional) receive the routing. With ctx.remote_experts (expert
// parallelism) the pairs of experts held elsewhere are computed there and added.
void moe_forward(const LayerContext& ctx, const MoeWeights& w, const float* x, int64_t T,
                 float* out, int32_t* ids = nullptr, float* weights = nullptr);

// out [T, hidden] += sum over `pairs` of weight * expert(x[row]): pairs grouped by
// expert, each expert's weights read once, in increasing expert order (the order
// moe_forward adds them in). Every expert named must be held. With `with_shared`, out is
// first set to the shared experts' output on all T rows, computed in the same batch.
void experts_forward(const MoeWeights& w, const float* x, int64_t hidden, int64_t T,
                     std::span<const ExpertPair> pairs, Arena& arena, float* out,
                     bool with_shared = false);

// The same computed token by token (the textbook form); tests check both agree.
void moe_forward_per_token(const LayerContext& ctx, const MoeWeights& w, const float* x,
                           int64_t T, float* out);

}  // namespace dsv3
