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

}  // namespace

template <typename T>
void mla_forward(const TrainContext& ctx, const AttentionParams<T>& w, const T* x,
                 MlaActivations<T>& act, T* out) {
  const Dims d(*ctx.config);
  const int64_t n = ctx.tokens(), B = ctx.batch, S = ctx.seq, H = d.heads;
  ThreadPool* pool = ctx.pool;

  // Queries: q_b(q_a_layernorm(q_a(x))), or q_proj(x) without the compression.
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

  // Latent and shared RoPE key: kv_a's first kv_lora rows give c, the last rope rows k_pe.
  act.c_in.resize(n * d.lora);
  act.kv_rstd.resize(n);
  act.c_kv.resize(n * d.lora);
  act.kv.resize(n * d.kv_width());
  act.k.resize(n * d.q_width());
  Arena::Mark mark(*ctx.arena);
  T* k_pe = scratch<T>(*ctx.arena, n * d.rope);
  linear_forward(pool, {n, d.hidden, d.lora}, x, w.wkv_a, act.c_in.data());
  linear_forward(pool, {n, d.hidden, d.rope}, x, w.wkv_a + d.lora * d.hidden, k_pe);
  rmsnorm_forward(ctx, act.c_in.data(), w.kv_norm, n, d.lora, act.c_kv.data(),
                  act.kv_rstd.data());
  linear_forward(pool, {n, d.lora, d.kv_width()}, act.c_kv.data(), w.wkv_b, act.kv.data());

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
    const T* q = act.q.data() + (b * S * H + h) * d.qk;
    const T* k = act.k.data() + (b * S * H + h) * d.qk;
    const T* v = act.kv.data() + (b * S * H + h) * (d.nope + d.v) + d.nope;
    T* p = act.probs.data() + pair * S * S;
    T* o = act.o.data() + (b * S * H + h) * d.v;
    // Causal blocks: query rows [r0, r1) see keys [0, r1); P's columns past r1 stay unset.
    for (int64_t r0 = 0; r0 < S; r0 += block) {
      const int64_t r1 = std::min(S, r0 + block), rows = r1 - r0;
      gemm(Gemm<T>{.tb = true, .m = rows, .n = r1, .k = d.qk, .alpha = scale,
                   .a = q + r0 * H * d.qk, .lda = H * d.qk, .b = k, .ldb = H * d.qk,
                   .c = p + r0 * S, .ldc = S});
      for (int64_t i = r0; i < r1; ++i) {
        T* row = p + i * S;
        softmax_row(row, i + 1);
        std::fill(row + i + 1, row + r1, T(0));
      }
      gemm(Gemm<T>{.m = rows, .n = d.v, .k = r1, .a = p + r0 * S, .lda = S, .b = v,
                   .ldb = H * (d.nope + d.v), .c = o + r0 * H * d.v, .ldc = H * d.v});
    }
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
      const T* p = act.probs.data() + pair * S * S;
      const T* dout_h = d_o + (b * S * H + h) * d.v;
      const T* q = act.q.data() + q_off;
      const T* k = act.k.data() + q_off;
      const T* v = act.kv.data() + kv_off + d.nope;
      // Causal blocks, last first: the last one spans every key, so its dV and dK products
      // initialise those rows (beta 0) and the earlier blocks add to them.
      const int64_t blocks = (S + block - 1) / block;
      for (int64_t blk = blocks - 1; blk >= 0; --blk) {
        const int64_t r0 = blk * block, r1 = std::min(S, r0 + block), rows = r1 - r0;
        const T beta = T(blk == blocks - 1 ? 0 : 1);
        gemm(Gemm<T>{.ta = true, .m = r1, .n = d.v, .k = rows, .a = p + r0 * S, .lda = S,
                     .b = dout_h + r0 * H * d.v, .ldb = H * d.v, .beta = beta,
                     .c = dkv + kv_off + d.nope, .ldc = H * (d.nope + d.v)});
        gemm(Gemm<T>{.tb = true, .m = rows, .n = r1, .k = d.v, .a = dout_h + r0 * H * d.v,
                     .lda = H * d.v, .b = v, .ldb = H * (d.nope + d.v), .c = dp, .ldc = S});
        for (int64_t i = r0; i < r1; ++i) {
          const T* pr = p + i * S;
          T* row = dp + (i - r0) * S;
          const T pd = dot(pr, row, i + 1);
          for (int64_t j = 0; j <= i; ++j) row[j] = pr[j] * (row[j] - pd);
          std::fill(row + i + 1, row + r1, T(0));
        }
        gemm(Gemm<T>{.m = rows, .n = d.qk, .k = r1, .alpha = scale, .a = dp, .lda = S, .b = k,
                     .ldb = H * d.qk, .c = dq + q_off + r0 * H * d.qk, .ldc = H * d.qk});
        gemm(Gemm<T>{.ta = true, .m = r1, .n = d.qk, .k = rows, .alpha = scale, .a = dp,
                     .lda = S, .b = q + r0 * H * d.qk, .ldb = H * d.qk, .beta = beta,
                     .c = dk + q_off, .ldc = H * d.qk});
      }
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

  // kv_b, kv_a_layernorm, kv_a (latent rows, then RoPE rows).
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

  // Query path.
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

template void mla_forward(const TrainContext&, const AttentionParams<float>&, const float*,
                          MlaActivations<float>&, float*);
template void mla_forward(const TrainContext&, const AttentionParams<double>&, const double*,
                          MlaActivations<double>&, double*);
template void mla_backward(const TrainContext&, const MlaBackward<float>&);
template void mla_backward(const TrainContext&, const MlaBackward<double>&);

}  // namespace dsv3::train
