#include "train/mla.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "train/linear.h"
#include "train/norm.h"
#include "train/row_ops.h"
#include "train/vec.h"

namespace dsv3::train {

namespace {

struct Dims {
  int64_t heads, nope, rope, v, lora, q_lora, qk, hidden;
  explicit Dims(const ModelConfig& c)
      : heads(c.num_attention_heads), nope(c.qk_nope_head_dim), rope(c.qk_rope_head_dim),
        v(c.v_head_dim), lora(c.kv_lora_rank), q_lora(c.q_lora_rank), qk(c.qk_head_dim()),
        hidden(c.hidden_size) {}
  int64_t q_width() const { return heads * qk; }
  int64_t kv_width() const { return heads * (nope + v); }
};

// Rotates interleaved pairs (x[2i], x[2i+1]) by the angle of pair i (as kernels::
// rope_interleaved); `inverse` rotates back, which is the transpose, i.e. the backward.
template <typename T>
void rope_rotate(T* x, const float* cos_sin, int64_t dim, bool inverse) {
  for (int64_t i = 0; i < dim / 2; ++i) {
    const T c = T(cos_sin[2 * i]), s = inverse ? -T(cos_sin[2 * i + 1]) : T(cos_sin[2 * i + 1]);
    const T a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

// row[0, n) = softmax(row[0, n)).
template <typename T>
void softmax_row(T* row, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    const float mx = vec::max(row, n);
    vec::scale(row, n, float(1.0 / vec::exp_shifted_sum(row, n, mx)));
  } else {
    const T mx = *std::max_element(row, row + n);
    T sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += (row[j] = std::exp(row[j] - mx));
    for (int64_t j = 0; j < n; ++j) row[j] /= sum;
  }
}

// The (sequence, head) pairs split into parts of consecutive pairs, so a part can own scratch.
struct PairParts {
  int64_t pairs, per_part, parts;
  PairParts(int64_t pairs, ThreadPool* pool)
      : pairs(pairs),
        per_part(std::max<int64_t>(1, pairs / (4 * (pool ? pool->num_threads() : 1)))),
        parts((pairs + per_part - 1) / per_part) {}
  int64_t end(int64_t part) const { return std::min(pairs, (part + 1) * per_part); }
};

// One (sequence, head) pair: its rows of Q, K [S, qk], V [S, v] and O [S, v] (row strides
// from Dims) and its probabilities P [S, S].
template <typename T>
struct Pair {
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  T* p = nullptr;  // written
  T* o = nullptr;  // written
};

// The same pair in backward: the forward's operands, dO, and the gradients of Q, K, V.
template <typename T>
struct PairGrad {
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  const T* p = nullptr;
  const T* dout = nullptr;
  T* dq = nullptr;
  T* dk = nullptr;
  T* dv = nullptr;
};

struct Strides {
  int64_t qk, v, o;
  explicit Strides(const Dims& d) : qk(d.heads * d.qk), v(d.heads * (d.nope + d.v)), o(d.heads * d.v) {}
};

// P = softmax(scale Q K^T) causally, O = P V, by blocks of query rows: rows [r0, r1) see keys
// [0, r1), so blocks above the diagonal are never computed (P's columns past r1 stay unset).
template <typename T>
void pair_forward(const Dims& d, int64_t S, int64_t block, T scale, const Pair<T>& x) {
  const Strides st(d);
  for (int64_t r0 = 0; r0 < S; r0 += block) {
    const int64_t r1 = std::min(S, r0 + block), rows = r1 - r0;
    gemm(Gemm<T>{.tb = true, .m = rows, .n = r1, .k = d.qk, .alpha = scale, .a = x.q + r0 * st.qk,
                 .lda = st.qk, .b = x.k, .ldb = st.qk, .c = x.p + r0 * S, .ldc = S});
    for (int64_t i = r0; i < r1; ++i) {
      T* row = x.p + i * S;
      softmax_row(row, i + 1);
      std::fill(row + i + 1, row + r1, T(0));
    }
    gemm(Gemm<T>{.m = rows, .n = d.v, .k = r1, .a = x.p + r0 * S, .lda = S, .b = x.v,
                 .ldb = st.v, .c = x.o + r0 * st.o, .ldc = st.o});
  }
}

// dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(P dP)), dQ = scale dS K, dK = scale dS^T Q,
// by the forward's blocks, last first: the last one spans every key, so its dV and dK
// products initialise those rows (beta 0) and the earlier blocks add to them. dp: [block, S].
template <typename T>
void pair_backward(const Dims& d, int64_t S, int64_t block, T scale, const PairGrad<T>& x,
                   T* dp) {
  const Strides st(d);
  const int64_t blocks = (S + block - 1) / block;
  for (int64_t blk = blocks - 1; blk >= 0; --blk) {
    const int64_t r0 = blk * block, r1 = std::min(S, r0 + block), rows = r1 - r0;
    const T beta = T(blk == blocks - 1 ? 0 : 1);
    const T* p = x.p + r0 * S;
    const T* dout = x.dout + r0 * st.o;
    gemm(Gemm<T>{.ta = true, .m = r1, .n = d.v, .k = rows, .a = p, .lda = S, .b = dout,
                 .ldb = st.o, .beta = beta, .c = x.dv, .ldc = st.v});
    gemm(Gemm<T>{.tb = true, .m = rows, .n = r1, .k = d.v, .a = dout, .lda = st.o, .b = x.v,
                 .ldb = st.v, .c = dp, .ldc = S});
    for (int64_t i = 0; i < rows; ++i) {
      const T* pr = p + i * S;
      T* row = dp + i * S;
      const T pd = dot(pr, row, r0 + i + 1);
      for (int64_t j = 0; j <= r0 + i; ++j) row[j] = pr[j] * (row[j] - pd);
      std::fill(row + r0 + i + 1, row + r1, T(0));
    }
    gemm(Gemm<T>{.m = rows, .n = d.qk, .k = r1, .alpha = scale, .a = dp, .lda = S, .b = x.k,
                 .ldb = st.qk, .c = x.dq + r0 * st.qk, .ldc = st.qk});
    gemm(Gemm<T>{.ta = true, .m = r1, .n = d.qk, .k = rows, .alpha = scale, .a = dp, .lda = S,
                 .b = x.q + r0 * st.qk, .ldb = st.qk, .beta = beta, .c = x.dk, .ldc = st.qk});
  }
}


// Queries q_b(q_a_layernorm(q_a(x))), or q_proj(x) without the compression (no RoPE yet).
template <typename T>
void project_queries(const TrainContext& ctx, const AttentionParams<T>& w, const T* x,
                     MlaActivations<T>& act) {
  const Dims d(*ctx.config);
  const int64_t n = ctx.tokens();
  ThreadPool* pool = ctx.pool;
  act.q.resize(n * d.q_width());
  if (w.wq_a) {
    act.qa.resize(n * d.q_lora);
    act.qa_rstd.resize(n);
    act.qn.resize(n * d.q_lora);
    linear_forward(pool, {n, d.hidden, d.q_lora}, x, w.wq_a, act.qa.data());
    rmsnorm_forward(ctx, act.qa.data(), w.q_norm, n, d.q_lora, act.qn.data(), act.qa_rstd.data());
    linear_forward(pool, {n, d.q_lora, d.q_width()}, act.qn.data(), w.wq_b, act.q.data());
  } else {
    linear_forward(pool, {n, d.hidden, d.q_width()}, x, w.wq, act.q.data());
  }
}

// Latent and shared RoPE key: kv_a's first kv_lora rows give c (normed, then expanded by
// kv_b into act.kv), the last rope rows k_pe [T, rope] (no RoPE yet).
template <typename T>
void project_latents(const TrainContext& ctx, const AttentionParams<T>& w, const T* x,
                     MlaActivations<T>& act, T* k_pe) {
  const Dims d(*ctx.config);
  const int64_t n = ctx.tokens();
  ThreadPool* pool = ctx.pool;
  act.c_in.resize(n * d.lora);
  act.kv_rstd.resize(n);
  act.c_kv.resize(n * d.lora);
  act.kv.resize(n * d.kv_width());
  linear_forward(pool, {n, d.hidden, d.lora}, x, w.wkv_a, act.c_in.data());
  linear_forward(pool, {n, d.hidden, d.rope}, x, w.wkv_a + d.lora * d.hidden, k_pe);
  rmsnorm_forward(ctx, act.c_in.data(), w.kv_norm, n, d.lora, act.c_kv.data(),
                  act.kv_rstd.data());
  linear_forward(pool, {n, d.lora, d.kv_width()}, act.c_kv.data(), w.wkv_b, act.kv.data());
}

// kv_b, kv_a_layernorm, kv_a (latent rows, then RoPE rows): writes a.dx.
template <typename T>
void latents_backward(const TrainContext& ctx, const MlaBackward<T>& a, const T* dkv,
                      const T* dk_pe) {
  const Dims d(*ctx.config);
  const int64_t n = ctx.tokens();
  const MlaActivations<T>& act = *a.act;
  const AttentionParams<T>& w = *a.w;
  AttentionParams<T>& g = *a.grad;
  ThreadPool* pool = ctx.pool;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);
  T* dc = scratch<T>(arena, n * d.lora);
  linear_backward<T>(pool, {.shape = {n, d.lora, d.kv_width()}, .x = act.c_kv.data(),
                            .w = w.wkv_b, .dy = dkv, .dx = dc, .dw = g.wkv_b});
  rmsnorm_backward<T>(ctx, {.x = act.c_in.data(), .w = w.kv_norm, .rstd = act.kv_rstd.data(),
                            .dy = dc, .rows = n, .n = d.lora, .dx = dc, .dw = g.kv_norm});
  linear_backward<T>(pool, {.shape = {n, d.hidden, d.lora}, .x = a.x, .w = w.wkv_a, .dy = dc,
                            .dx = a.dx, .dw = g.wkv_a});
  linear_backward<T>(pool, {.shape = {n, d.hidden, d.rope}, .x = a.x,
                            .w = w.wkv_a + d.lora * d.hidden, .dy = dk_pe, .dx = a.dx,
                            .accumulate_dx = true, .dw = g.wkv_a + d.lora * d.hidden});
}

// q_b, q_a_layernorm, q_a (or q_proj): adds to a.dx.
template <typename T>
void queries_backward(const TrainContext& ctx, const MlaBackward<T>& a, const T* dq) {
  const Dims d(*ctx.config);
  const int64_t n = ctx.tokens();
  const MlaActivations<T>& act = *a.act;
  const AttentionParams<T>& w = *a.w;
  AttentionParams<T>& g = *a.grad;
  ThreadPool* pool = ctx.pool;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);
  if (!w.wq_a) {
    linear_backward<T>(pool, {.shape = {n, d.hidden, d.q_width()}, .x = a.x, .w = w.wq,
                              .dy = dq, .dx = a.dx, .accumulate_dx = true, .dw = g.wq});
    return;
  }
  T* dqn = scratch<T>(arena, n * d.q_lora);
  linear_backward<T>(pool, {.shape = {n, d.q_lora, d.q_width()}, .x = act.qn.data(),
                            .w = w.wq_b, .dy = dq, .dx = dqn, .dw = g.wq_b});
  rmsnorm_backward<T>(ctx, {.x = act.qa.data(), .w = w.q_norm, .rstd = act.qa_rstd.data(),
                            .dy = dqn, .rows = n, .n = d.q_lora, .dx = dqn, .dw = g.q_norm});
  linear_backward<T>(pool, {.shape = {n, d.hidden, d.q_lora}, .x = a.x, .w = w.wq_a, .dy = dqn,
                            .dx = a.dx, .accumulate_dx = true, .dw = g.wq_a});
}

}  // namespace

template <typename T>
void mla_forward(const TrainContext& ctx, const AttentionParams<T>& w, const T* x,
                 MlaActivations<T>& act, T* out) {
  const Dims d(*ctx.config);
  const int64_t n = ctx.tokens(), B = ctx.batch, S = ctx.seq, H = d.heads;
  ThreadPool* pool = ctx.pool;
  Arena::Mark mark(*ctx.arena);
  T* k_pe = scratch<T>(*ctx.arena, n * d.rope);
  project_queries(ctx, w, x, act);
  project_latents(ctx, w, x, act, k_pe);
  act.k.resize(n * d.q_width());

  // RoPE on every head's query rope part and on k_pe; assemble per-head keys [k_nope | k_pe].
  parallel_for(pool, n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* cs = ctx.rope->at(t % S);
      T* kpe = k_pe + t * d.rope;
      rope_rotate(kpe, cs, d.rope, false);
      for (int64_t h = 0; h < H; ++h) {
        rope_rotate(act.q.data() + (t * H + h) * d.qk + d.nope, cs, d.rope, false);
        T* key = act.k.data() + (t * H + h) * d.qk;
        std::copy_n(act.kv.data() + (t * H + h) * (d.nope + d.v), d.nope, key);
        std::copy_n(kpe, d.rope, key + d.nope);
      }
    }
  });

  // Per (sequence, head): P = softmax(scale * Q K^T, causal), O = P V.
  const T scale = T(ctx.config->softmax_scale());
  const int64_t block = std::max<int64_t>(1, ctx.attention_block);
  act.probs.resize(B * H * S * S);
  act.o.resize(n * H * d.v);
  parallel_tasks(pool, B * H, [&](int64_t pair) {
    const int64_t b = pair / H, h = pair % H;
    pair_forward(d, S, block, scale,
                 Pair<T>{.q = act.q.data() + (b * S * H + h) * d.qk,
                         .k = act.k.data() + (b * S * H + h) * d.qk,
                         .v = act.kv.data() + (b * S * H + h) * (d.nope + d.v) + d.nope,
                         .p = act.probs.data() + pair * S * S,
                         .o = act.o.data() + (b * S * H + h) * d.v});
  });
  linear_forward(pool, {n, H * d.v, d.hidden}, act.o.data(), w.wo, out);
}

template <typename T>
void mla_backward(const TrainContext& ctx, const MlaBackward<T>& a) {
  const Dims d(*ctx.config);
  const int64_t n = ctx.tokens(), B = ctx.batch, S = ctx.seq, H = d.heads;
  const MlaActivations<T>& act = *a.act;
  const AttentionParams<T>& w = *a.w;
  AttentionParams<T>& g = *a.grad;
  ThreadPool* pool = ctx.pool;
  Arena& arena = *ctx.arena;
  Arena::Mark mark(arena);

  // o_proj.
  T* d_o = scratch<T>(arena, n * H * d.v);
  linear_backward<T>(pool, {.shape = {n, H * d.v, d.hidden}, .x = act.o.data(), .w = w.wo,
                            .dy = a.dout, .dx = d_o, .dw = g.wo});

  // Attention, per (sequence, head): dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(P dP)),
  // dQ = scale dS K, dK = scale dS^T Q.
  T* dq = scratch<T>(arena, n * d.q_width());
  T* dk = scratch<T>(arena, n * d.q_width());
  T* dkv = scratch<T>(arena, n * d.kv_width());
  const T scale = T(ctx.config->softmax_scale());
  const int64_t block = std::max<int64_t>(1, ctx.attention_block);
  const PairParts parts(B * H, pool);
  T* dp_all = scratch<T>(arena, parts.parts * std::min(block, S) * S);
  parallel_tasks(pool, parts.parts, [&](int64_t part) {
    T* dp = dp_all + part * std::min(block, S) * S;
    for (int64_t pair = part * parts.per_part; pair < parts.end(part); ++pair) {
      const int64_t b = pair / H, h = pair % H;
      const int64_t q_off = (b * S * H + h) * d.qk, kv_off = (b * S * H + h) * (d.nope + d.v);
      pair_backward(d, S, block, scale,
                    PairGrad<T>{.q = act.q.data() + q_off, .k = act.k.data() + q_off,
                                .v = act.kv.data() + kv_off + d.nope,
                                .p = act.probs.data() + pair * S * S,
                                .dout = d_o + (b * S * H + h) * d.v, .dq = dq + q_off,
                                .dk = dk + q_off, .dv = dkv + kv_off + d.nope},
                    dp);
    }
  });

  // Split the key gradients: k_nope goes to kv_b's output, k_pe (shared) sums over heads;
  // RoPE backward rotates the query and key rope gradients back.
  T* dk_pe = scratch<T>(arena, n * d.rope);
  parallel_for(pool, n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* cs = ctx.rope->at(t % S);
      T* kpe = dk_pe + t * d.rope;
      std::fill_n(kpe, d.rope, T(0));
      for (int64_t h = 0; h < H; ++h) {
        const T* dkey = dk + (t * H + h) * d.qk;
        std::copy_n(dkey, d.nope, dkv + (t * H + h) * (d.nope + d.v));
        for (int64_t i = 0; i < d.rope; ++i) kpe[i] += dkey[d.nope + i];
        rope_rotate(dq + (t * H + h) * d.qk + d.nope, cs, d.rope, true);
      }
      rope_rotate(kpe, cs, d.rope, true);
    }
  });

  latents_backward(ctx, a, dkv, dk_pe);
  queries_backward(ctx, a, dq);
}

template void mla_forward(const TrainContext&, const AttentionParams<float>&, const float*,
                          MlaActivations<float>&, float*);
template void mla_forward(const TrainContext&, const AttentionParams<double>&, const double*,
                          MlaActivations<double>&, double*);
template void mla_backward(const TrainContext&, const MlaBackward<float>&);
template void mla_backward(const TrainContext&, const MlaBackward<double>&);

}  // namespace dsv3::train
