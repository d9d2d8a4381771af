// One decoder layer: x += MLA(norm(x)); x += FFN(norm(x)), FFN dense or MoE.
#pragma once

#include "model/kv_cache.h"
#include "model/layer_context.h"
#include "model/weights.h"

namespace dsv3 {

// x [T, hidden] is updated in place. For MoE layers, route_ids / route_weights [T, K] are
// filled when given.
void block_forward(const LayerContext& ctx, const BlockWeights& w, float* x, int64_t T,
                   int64_t start_pos, KvCache& cache, int32_t* route_ids = nullptr,
                   float* route_weights = nullptr);

}  // namespace dsv3
