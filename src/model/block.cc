#include "model/block.h"

#include "kernels/kernels.h"
#include "model/mla.h"
#include "model/mlp.h"
#include "model/moe.h"

namespace dsv3 {

void block_forward(const LayerContext& ctx, const BlockWeights& w, float* x, int64_t T,
                   std::span<const SequenceSlice> seqs, int32_t* route_ids, float* route_weights) {
  const ModelConfig& c = *ctx.config;
  const int64_t d = c.hidden_size;
  const float eps = float(c.rms_norm_eps);
  Arena::Mark mark(*ctx.arena);
  float* h = ctx.arena->floats(T * d);
  float* y = ctx.arena->floats(T * d);

  {
    PhaseScope phase(ctx.phases, "norms + residuals");
    for (int64_t t = 0; t < T; ++t) kernels::rmsnorm(x + t * d, w.attn_norm.data(), d, eps, h + t * d);
  }
  mla_forward(ctx, w.attn, h, T, seqs, y);
  {
    PhaseScope phase(ctx.phases, "norms + residuals");
    kernels::axpy(1.0f, y, x, T * d);
    for (int64_t t = 0; t < T; ++t) kernels::rmsnorm(x + t * d, w.ffn_norm.data(), d, eps, h + t * d);
  }
  if (w.is_moe) {
    moe_forward(ctx, w.moe, h, T, y, route_ids, route_weights);
  } else {
    PhaseScope phase(ctx.phases, "dense ffn");
    mlp_forward(w.mlp, h, T, *ctx.arena, y);
  }
  PhaseScope phase(ctx.phases, "norms + residuals");
  kernels::axpy(1.0f, y, x, T * d);
}

}  // namespace dsv3
