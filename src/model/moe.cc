#include "model/moe.h"

#include <algorithm>
#include <vector>

#include "kernels/kernels.h"
#include "model/gate.h"
#include "model/mlp.h"

namespace dsv3 {

void experts_forward(const MoeWeights& w, const float* x, int64_t d, int64_t T,
                     std::span<const ExpertPair> pairs, Arena& arena, float* out,
                     bool with_shared) {
  const int64_t n = int64_t(w.experts.size()), P = int64_t(pairs.size());
  Arena::Mark mark(arena);
  // Bucket the pairs by expert: a stable counting sort, so each expert's rows keep their order.
  int32_t* offsets = arena.ints(n + 1);
  int32_t* order = arena.ints(std::max<int64_t>(P, 1));
  std::fill_n(offsets, n + 1, 0);
  for (const ExpertPair& p : pairs) ++offsets[p.expert + 1];
  for (int64_t e = 0; e < n; ++e) offsets[e + 1] += offsets[e];
  int32_t* fill = arena.ints(n);
  std::copy_n(offsets, n, fill);
  for (int64_t i = 0; i < P; ++i) order[fill[pairs[i].expert]++] = int32_t(i);

  // Each chosen expert's rows gathered, and all the MLPs (shared one first) run together.
  float* xs = arena.floats(std::max<int64_t>(P, 1) * d);
  float* ys = arena.floats(std::max<int64_t>(P, 1) * d);
  auto* runs = reinterpret_cast<MlpRun*>(arena.floats((n + 1) * sizeof(MlpRun) / sizeof(float)));
  int64_t num_runs = 0;
  if (with_shared && T > 0) runs[num_runs++] = {.w = &w.shared, .x = x, .n = T, .out = out};
  for (int64_t e = 0; e < n; ++e) {
    const int64_t begin = offsets[e], count = offsets[e + 1] - begin;
    if (count == 0) continue;
    DSV3_CHECK(w.held(e), "expert %ld of layer %ld is not held by this process", long(e),
               long(w.layer));
    for (int64_t j = 0; j < count; ++j) {
      std::copy_n(x + pairs[order[begin + j]].row * d, d, xs + (begin + j) * d);
    }
    runs[num_runs++] = {.w = &w.experts[e], .x = xs + begin * d, .n = count, .out = ys + begin * d};
  }
  mlps_forward(std::span(runs, size_t(num_runs)), arena);
  // Added in increasing expert order, each expert's rows in their order.
  for (int64_t i = 0; i < P; ++i) {
    const ExpertPair& p = pairs[order[i]];
    kernels::axpy(p.weight, ys + i * d, out + p.row * d, d);
  }
}

void moe_forward(const LayerContext& ctx, const MoeWeights& w, const float* x, int64_t T,
                 float* out, int32_t* ids_out, float* weights_out) {
  const ModelConfig& c = *ctx.config;
  const int64_t d = c.hidden_size, k = c.num_experts_per_tok;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);
  int32_t* ids = arena.ints(T * k);
  float* weights = arena.floats(T * k);
  {
    PhaseScope phase(ctx.phases, "router");
    route_tokens(ctx, w.gate, x, T, ids, weights);
  }
  if (ids_out) std::copy_n(ids, T * k, ids_out);
  if (weights_out) std::copy_n(weights, T * k, weights_out);

  // Pairs held elsewhere leave first, so other ranks compute while this one does its share.
  uint8_t* local = reinterpret_cast<uint8_t*>(arena.ints((T * k + 3) / 4));
  std::fill_n(local, T * k, uint8_t(1));
  RemoteExperts* remote = ctx.remote_experts;
  if (remote) {
    remote->dispatch({.layer = w.layer, .x = x, .rows = T, .ids = ids, .weights = weights, .k = k},
                     local);
  }
  ExpertPair* pairs = reinterpret_cast<ExpertPair*>(arena.ints(3 * T * k));
  static_assert(sizeof(ExpertPair) == 3 * sizeof(int32_t));
  int64_t n_local = 0;
  for (int64_t i = 0; i < T * k; ++i) {
    if (local[i]) pairs[n_local++] = {.row = int32_t(i / k), .expert = ids[i], .weight = weights[i]};
  }

  PhaseScope phase(ctx.phases, "experts (shared + routed)");
  if (!w.has_shared) std::fill_n(out, T * d, 0.0f);
  experts_forward(w, x, d, T, std::span(pairs, size_t(n_local)), arena, out, w.has_shared);
  if (remote) remote->combine(out);
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
