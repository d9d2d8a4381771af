// The MoE router (DeepSeek-V3 report eqs. 13-16; official inference/model.py class Gate).
#pragma once

#include "model/layer_context.h"
#include "model/weights.h"

namespace dsv3 {

// For each of T tokens: the chosen experts ids [T, K] and their output weights [T, K].
// Selection uses score + bias (bias only steers which experts are picked, never the weights),
// limited to the topk_group best groups; weights are the unbiased scores, renormalised when
// norm_topk_prob, times routed_scaling_factor. `scores_out` [T, N] (optional) receives the
// unbiased affinities (training needs them).
void route_tokens(const LayerContext& ctx, const GateWeights& g, const float* x, int64_t T,
                  int32_t* ids, float* weights, float* scores_out = nullptr);

// Routing of one token from its raw router logits [N]; exposed for tests and training.
void route_one(const ModelConfig& c, const float* bias, float* logits, int32_t* ids,
               float* weights);

}  // namespace dsv3
