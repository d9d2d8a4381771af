#include "model/moe.h"

#include <algorithm>
#include <vector>

#include "kernels/kernels.h"
#include "model/gate.h"
#include "model/mlp.h"

namespace dsv3 {

void moe_forward(const LayerContext& ctx, const MoeWeights& w, const float* x, int64_t T,
                 float* out, int32_t* ids_out, float* weights_out) {
  const ModelConfig& c = *ctx.config;
  const int64_t d = c.hidden_size, k = c.num_experts_per_tok, n = c.n_routed_experts;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);
  int32_t* ids = arena.ints(T * k);
  float* weights = arena.floats(T * k);
  route_tokens(ctx, w.gate, x, T, ids, weights);
  if (ids_out) std::copy_n(ids, T * k, ids_out);
  if (weights_out) std::copy_n(weights, T * k, weights_out);

  // Bucket (token, weight) pairs by expert: counting sort over the T*K choices.
  int32_t* offsets = arena.ints(n + 1);
  int32_t* order = arena.ints(T * k);
  std::fill_n(offsets, n + 1, 0);
  for (int64_t i = 0; i < T * k; ++i) ++offsets[ids[i] + 1];
  for (int64_t e = 0; e < n; ++e) offsets[e + 1] += offsets[e];
  int32_t* fill = arena.ints(n);
  std::copy_n(offsets, n, fill);
  for (int64_t i = 0; i < T * k; ++i) order[fill[ids[i]]++] = int32_t(i);

  if (w.has_shared) {
    mlp_forward(w.shared, x, T, arena, out);
  } else {
    std::fill_n(out, T * d, 0.0f);
  }
  float* xs = arena.floats(T * d);
  float* ys = arena.floats(T * d);
  for (int64_t e = 0; e < n; ++e) {
    const int64_t count = offsets[e + 1] - offsets[e];
    if (count == 0) continue;
    const int32_t* choice = order + offsets[e];
    for (int64_t j = 0; j < count; ++j) std::copy_n(x + (choice[j] / k) * d, d, xs + j * d);
    mlp_forward(w.experts[e], xs, count, arena, ys);
    for (int64_t j = 0; j < count; ++j) {
      kernels::axpy(weights[choice[j]], ys + j * d, out + (choice[j] / k) * d, d);
    }
  }
}

void moe_forward_per_token(const LayerContext& ctx, const MoeWeights& w, const float* x,
                           int64_t T, float* out) {
  const ModelConfig& c = *ctx.config;
  const int64_t d = c.hidden_size, k = c.num_experts_per_tok;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);
  int32_t* ids = arena.ints(k);
  float* weights = arena.floats(k);
  float* y = arena.floats(d);
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * d;
    float* ot = out + t * d;
    route_tokens(ctx, w.gate, xt, 1, ids, weights);
    std::fill_n(ot, d, 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      mlp_forward(w.experts[ids[j]], xt, 1, arena, y);
      kernels::axpy(weights[j], y, ot, d);
    }
    if (w.has_shared) {
      mlp_forward(w.shared, xt, 1, arena, y);
      kernels::axpy(1.0f, y, ot, d);
    }
  }
}

}  // namespace dsv3
