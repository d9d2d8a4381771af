// One decoder layer: x += MLA(norm(x)); x += FFN(norm(x)), FFN dense or MoE.
#pragma once

#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/layer_context.h"
#include "model/weights.h"

namespace dsv3 {

// x [rows, hidden] (tokens of the sequences in `seqs`) is updated in place. For MoE layers,
// route_ids / route_weights [rows, K] are filled when given.
void block_forward(const LayerContext& ctx, const BlockWeights& w, float* x, int64_t rows,
                   std::span<const SequenceSlice> seqs, int32_t* route_ids = nullptr,
                   float* route_weights = nullptr);

}  // namespace dsv3
