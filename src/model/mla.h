// Multi-head Latent Attention (DeepSeek-V2 report section 2.1; DeepSeek-V3 section 2.1.1).
#pragma once

#include "model/kv_cache.h"
#include "model/layer_context.h"
#include "model/weights.h"

namespace dsv3 {

// Attention over T new tokens at positions [start_pos, start_pos + T), causal over the cache.
// Writes the new tokens' latent entries into `cache` (layer ctx.layer) before attending.
// x [T, hidden] is the normalised input; out [T, hidden].
void mla_forward(const LayerContext& ctx, const AttentionWeights& w, const float* x, int64_t T,
                 int64_t start_pos, KvCache& cache, float* out);

}  // namespace dsv3
