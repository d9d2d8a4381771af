// Multi-head Latent Attention (DeepSeek-V2 report section 2.1; DeepSeek-V3 section 2.1.1).
#pragma once

#include <span>

#include "model/kv_cache.h"
#include "model/layer_context.h"
#include "model/weights.h"

namespace dsv3 {

// Attention for a batch of `rows` new tokens from one or more sequences. Projections run on
// all rows at once (each weight read once per batch); attention runs per sequence. Writes the
// new tokens' latent entries into each cache (layer ctx.layer) before attending. With a
// lightning indexer (V3.2) each token attends only to the cached tokens it selects.
// x [rows, hidden] is the normalised input; out [rows, hidden].
void mla_forward(const LayerContext& ctx, const AttentionWeights& w, const float* x, int64_t rows,
                 std::span<const SequenceSlice> seqs, float* out);

}  // namespace dsv3
