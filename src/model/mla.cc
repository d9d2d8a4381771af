#include "model/mla.h"

#include <algorithm>
#include <array>
#include <limits>
#include <vector>
#include <optional>

#include "kernels/kernels.h"
#include "model/indexer.h"

namespace dsv3 {

namespace {

struct Dims {
  int64_t heads, nope, rope, v, lora, qk, width;
  explicit Dims(const ModelConfig& c)
      : heads(c.num_attention_heads), nope(c.qk_nope_head_dim), rope(c.qk_rope_head_dim),
        v(c.v_head_dim), lora(c.kv_lora_rank), qk(c.qk_head_dim()), width(c.kv_cache_width()) {}
};

// The input projections of T rows of x: q [T, H*(nope+rope)] before RoPE, kv [T, width] (the
// kv_a projection), and with an indexer its projections (see IndexerProjections). Products
// with the same input run as one batch: those of x (wq_a or wq, wkv_a, the indexer's wk and
// weights_proj), then those of the q latent after q_a_layernorm (wq_b, the indexer's wq_b).
// One split of all their rows over the threads per batch, not a barrier after each product;
// each product's results are those of kernels::matmul.
void project_inputs(const LayerContext& ctx, const AttentionWeights& w, const float* x,
                    int64_t T, float* q, float* kv, const IndexerProjections* indexer) {
  const ModelConfig& c = *ctx.config;
  const bool lora = !w.wq_a.empty();
  Arena::Mark mark(*ctx.arena);
  float* qa = lora ? ctx.arena->floats(T * c.q_lora_rank) : nullptr;
  std::array<kernels::MatmulJob, 4> jobs;
  size_t n = 0;
  jobs[n++] = lora ? kernels::MatmulJob{.w = &w.wq_a, .x = x, .n = T, .y = qa}
                   : kernels::MatmulJob{.w = &w.wq, .x = x, .n = T, .y = q};
  jobs[n++] = {.w = &w.wkv_a, .x = x, .n = T, .y = kv};
  if (indexer) {
    jobs[n++] = {.w = &w.indexer.wk, .x = x, .n = T, .y = indexer->k};
    jobs[n++] = {.w = &w.indexer.weights_proj, .x = x, .n = T, .y = indexer->weights};
  }
  kernels::matmul_batch(std::span(jobs.data(), n));
  if (!lora) return;
  for (int64_t t = 0; t < T; ++t) {
    float* row = qa + t * c.q_lora_rank;
    kernels::rmsnorm(row, w.q_norm.data(), c.q_lora_rank, float(c.rms_norm_eps), row);
  }
  n = 0;
  jobs[n++] = {.w = &w.wq_b, .x = qa, .n = T, .y = q};
  if (indexer) jobs[n++] = {.w = &w.indexer.wq_b, .x = qa, .n = T, .y = indexer->q};
  kernels::matmul_batch(std::span(jobs.data(), n));
}

// RoPE on each head's rope part of q [T, H*(nope+rope)] at positions start_pos + t.
void rope_queries(const LayerContext& ctx, const Dims& d, float* q, int64_t T, int64_t start_pos) {
  for (int64_t t = 0; t < T; ++t) {
    const float* cs = ctx.rope->at(start_pos + t);
    for (int64_t h = 0; h < d.heads; ++h) {
      kernels::rope_interleaved(q + (t * d.heads + h) * d.qk + d.nope, cs, d.rope);
    }
  }
}

// V3.2 (model.py, "we use fp8 kv cache in actual deployment"): c_kv goes through FP8 and
// back, per 128-block with the config's scale format, before the cache and kv_b see it.
void fp8_round_trip(const ModelConfig& c, float* c_kv, int64_t n) {
  constexpr int64_t kBlock = ModelConfig::kActQuantBlock;
  std::array<uint8_t, kBlock> codes;
  for (int64_t b = 0; b < n; b += kBlock) {
    const float scale = kernels::quantize_fp8_block(c_kv + b, kBlock, c.fp8_scale_ue8m0, codes.data());
    kernels::dequantize_fp8_block(codes.data(), kBlock, scale, c_kv + b);
  }
}

// Appends [kv_norm(c_kv) ; rope(k_pe)] of each new token to the cache; kv [T, width] is
// the kv_a projection of the tokens.
void write_latents(const LayerContext& ctx, const AttentionWeights& w, const Dims& d,
                   const float* kv, int64_t T, int64_t start_pos, KvCache& cache) {
  Arena::Mark mark(*ctx.arena);
  float* row = ctx.arena->floats(d.width);
  for (int64_t t = 0; t < T; ++t) {
    const float* src = kv + t * d.width;
    kernels::rmsnorm(src, w.kv_norm.data(), d.lora, float(ctx.config->rms_norm_eps), row);
    if (w.has_indexer) fp8_round_trip(*ctx.config, row, d.lora);
    std::copy_n(src + d.lora, d.rope, row + d.lora);
    kernels::rope_interleaved(row + d.lora, ctx.rope->at(start_pos + t), d.rope);
    cache.write(ctx.layer, start_pos + t, row);
  }
}

// The selection rows of one sequence's tokens (V3.2), or none: every token sees every
// position up to its own.
struct SequenceSelection {
  const TokenSelection* selection = nullptr;
  int64_t first_row = 0;  // the sequence's first row in the batch

  // The positions token t of the sequence (seeing `visible`) attends to; empty when it
  // attends to all of them.
  std::span<const int32_t> sparse_ids(int64_t t, int64_t visible) const {
    if (!selection || selection->dense(first_row + t, visible)) return {};
    return {selection->ids + (first_row + t) * selection->slots,
            size_t(selection->counts[first_row + t])};
  }
};

// Tokens per block of the absorbed form: the per-head buffers hold one block.
constexpr int64_t kTokenBlock = 64;
// Blocks of up to this many tokens (decode steps, MTP verification) split each token's
// positions over the threads; larger ones (prompts) give each thread whole tokens.
constexpr int64_t kPositionSplitMaxTokens = 4;

// Absorbed form: per head, q_c = W_uk^T q_nope; then every head of a token scores [q_c ; q_pe]
// against the cached rows [c_kv ; k_pe] and sums o_c = P c_kv in one pass over the cache
// (kernels::latent_attention: read once for all heads, in its own format: the point of MLA's
// shared latent), each token over exactly the positions it sees; per head again, o = W_uv o_c.
void attend_absorbed(const LayerContext& ctx, const AttentionWeights& w, const Dims& d,
                     const float* q, int64_t T, int64_t start_pos, KvCache& cache,
                     const SequenceSelection& selection, float* o) {
  const float scale = float(ctx.config->softmax_scale());
  const Matrix latent = cache.rows(ctx.layer, start_pos + T);
  const int64_t block = std::min(T, kTokenBlock);
  Arena::Mark mark(*ctx.arena);
  // Per head (the heads' small products run in parallel, one head per task): its q_nope,
  // then its q_c (later its o_c), then its output.
  float* q_nope = ctx.arena->floats(d.heads * block * d.nope);
  float* q_c = ctx.arena->floats(d.heads * block * d.lora);
  float* head_out = ctx.arena->floats(d.heads * block * d.v);
  float* q_full = ctx.arena->floats(block * d.heads * d.width);  // row t * heads + h
  float* o_lat = ctx.arena->floats(block * d.heads * d.lora);    // row t * heads + h
  ThreadPool& pool = kernels::thread_pool();
  for (int64_t t0 = 0; t0 < T; t0 += block) {
    const int64_t n = std::min(block, T - t0);
    std::optional<PhaseScope> phase(std::in_place, ctx.phases, "attention absorb (kv_b)");
    pool.parallel_for(d.heads, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) {
        const Matrix w_uk = w.wkv_b.row_slice(h * (d.nope + d.v), d.nope);
        const float* qh = q + (t0 * d.heads + h) * d.qk;  // token t: qh + t * heads * qk
        float* qn = q_nope + h * block * d.nope;
        float* qc = q_c + h * block * d.lora;
        for (int64_t t = 0; t < n; ++t) std::copy_n(qh + t * d.heads * d.qk, d.nope, qn + t * d.nope);
        kernels::matmul_transposed(w_uk, qn, n, qc);
        for (int64_t t = 0; t < n; ++t) {
          float* row = q_full + (t * d.heads + h) * d.width;
          std::copy_n(qc + t * d.lora, d.lora, row);
          std::copy_n(qh + t * d.heads * d.qk + d.nope, d.rope, row + d.lora);
        }
      }
    });
    phase.emplace(ctx.phases, "attention over the cache (fused)");
    // Tokens [t, t + count) of the block; token t sees positions [0, start_pos + t0 + t].
    auto attend = [&](int64_t t, int64_t count) {
      const int64_t visible = start_pos + t0 + t + 1;
      kernels::latent_attention(latent.row_slice(0, visible + count - 1),
                                q_full + t * d.heads * d.width, count, d.heads, scale, d.lora,
                                visible, o_lat + t * d.heads * d.lora);
    };
    // Sparse attention (V3.2): token by token, over its own selection where it has one.
    auto attend_token = [&](int64_t t) {
      const auto ids = selection.sparse_ids(t0 + t, start_pos + t0 + t + 1);
      if (ids.empty()) return attend(t, 1);
      kernels::latent_attention_rows(latent, ids, q_full + t * d.heads * d.width, d.heads, scale,
                                     d.lora, o_lat + t * d.heads * d.lora);
    };
    if (selection.selection) {
      if (n <= kPositionSplitMaxTokens) {
        for (int64_t t = 0; t < n; ++t) attend_token(t);
      } else {
        pool.run(n, attend_token);
      }
    } else if (n <= kPositionSplitMaxTokens) {
      for (int64_t t = 0; t < n; ++t) attend(t, 1);
    } else {
      // Pairs of tokens share the rows they read.
      pool.run((n + 1) / 2, [&](int64_t i) { attend(2 * i, std::min<int64_t>(2, n - 2 * i)); });
    }
    phase.emplace(ctx.phases, "attention absorb (kv_b)");
    pool.parallel_for(d.heads, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) {
        const Matrix w_uv = w.wkv_b.row_slice(h * (d.nope + d.v) + d.nope, d.v);
        float* o_c = q_c + h * block * d.lora;
        float* out = head_out + h * block * d.v;
        for (int64_t t = 0; t < n; ++t) {
          std::copy_n(o_lat + (t * d.heads + h) * d.lora, d.lora, o_c + t * d.lora);
        }
        kernels::matmul(w_uv, o_c, n, out);
        for (int64_t t = 0; t < n; ++t) {
          std::copy_n(out + t * d.v, d.v, o + ((t0 + t) * d.heads + h) * d.v);
        }
      }
    });
  }
}

// Naive form: expand every cached latent into per-head k_nope and v with kv_b. Positions a
// sparse token did not select get a score of -inf (the reference's index_mask).
void attend_naive(const LayerContext& ctx, const AttentionWeights& w, const Dims& d,
                  const float* q, int64_t T, int64_t start_pos, KvCache& cache,
                  const SequenceSelection& selection, float* o) {
  const float scale = float(ctx.config->softmax_scale());
  const int64_t end = start_pos + T;
  const int64_t kv_width = d.heads * (d.nope + d.v);
  Arena::Mark mark(*ctx.arena);
  float* latent = ctx.arena->floats(end * d.width);
  float* c_kv = ctx.arena->floats(end * d.lora);
  float* kv = ctx.arena->floats(end * kv_width);
  float* scores = ctx.arena->floats(end);
  std::vector<char> selected(size_t(end), 1);
  for (int64_t s = 0; s < end; ++s) {
    cache.read(ctx.layer, s, latent + s * d.width);
    std::copy_n(latent + s * d.width, d.lora, c_kv + s * d.lora);
  }
  kernels::matmul(w.wkv_b, c_kv, end, kv);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t n = start_pos + t + 1;
    const auto ids = selection.sparse_ids(t, n);
    std::fill_n(selected.begin(), n, char(ids.empty()));
    for (int32_t id : ids) selected[size_t(id)] = 1;
    for (int64_t h = 0; h < d.heads; ++h) {
      const float* qh = q + (t * d.heads + h) * d.qk;
      for (int64_t s = 0; s < n; ++s) {
        const float* k_nope = kv + s * kv_width + h * (d.nope + d.v);
        const float* k_pe = latent + s * d.width + d.lora;
        scores[s] = (kernels::dot(qh, k_nope, d.nope) + kernels::dot(qh + d.nope, k_pe, d.rope)) * scale;
        if (!selected[size_t(s)]) scores[s] = -std::numeric_limits<float>::infinity();
      }
      kernels::softmax(scores, n);
      float* oh = o + (t * d.heads + h) * d.v;
      std::fill_n(oh, d.v, 0.0f);
      for (int64_t s = 0; s < n; ++s) {
        kernels::axpy(scores[s], kv + s * kv_width + h * (d.nope + d.v) + d.nope, oh, d.v);
      }
    }
  }
}

}  // namespace

void mla_forward(const LayerContext& ctx, const AttentionWeights& w, const float* x, int64_t rows,
                 std::span<const SequenceSlice> seqs, float* out) {
  const Dims d(*ctx.config);
  Arena::Mark mark(*ctx.arena);
  float* q = ctx.arena->floats(rows * d.heads * d.qk);
  float* o = ctx.arena->floats(rows * d.heads * d.v);
  float* kv = ctx.arena->floats(rows * d.width);
  const ModelConfig& c = *ctx.config;
  IndexerProjections indexer;
  if (w.has_indexer) {
    indexer = {.q = ctx.arena->floats(rows * c.index_n_heads * c.index_head_dim),
               .k = ctx.arena->floats(rows * c.index_head_dim),
               .weights = ctx.arena->floats(rows * c.index_n_heads)};
  }
  {
    PhaseScope phase(ctx.phases, "attention in-proj");  // with the indexer's projections
    project_inputs(ctx, w, x, rows, q, kv, w.has_indexer ? &indexer : nullptr);
  }
  TokenSelection selection;
  if (w.has_indexer) {
    selection = {.slots = c.index_topk, .ids = ctx.arena->ints(rows * c.index_topk),
                 .counts = ctx.arena->ints(rows)};
    index_select(ctx, w.indexer, indexer, rows, seqs, selection);
  }
  for (const SequenceSlice& s : seqs) {
    DSV3_CHECK(s.start_pos + s.count <= s.cache->capacity(), "KV cache of %ld positions is full",
               long(s.cache->capacity()));
    {
      PhaseScope phase(ctx.phases, "attention rope + cache");
      rope_queries(ctx, d, q + s.row * d.heads * d.qk, s.count, s.start_pos);
      write_latents(ctx, w, d, kv + s.row * d.width, s.count, s.start_pos, *s.cache);
    }
    float* qs = q + s.row * d.heads * d.qk;
    float* os = o + s.row * d.heads * d.v;
    const SequenceSelection rows_selection{.selection = w.has_indexer ? &selection : nullptr,
                                           .first_row = s.row};
    if (ctx.attention == AttentionImpl::kAbsorbed) {
      attend_absorbed(ctx, w, d, qs, s.count, s.start_pos, *s.cache, rows_selection, os);
    } else {
      PhaseScope phase(ctx.phases, "attention (naive form)");
      attend_naive(ctx, w, d, qs, s.count, s.start_pos, *s.cache, rows_selection, os);
    }
  }
  PhaseScope phase(ctx.phases, "attention out-proj");
  kernels::matmul(w.wo, o, rows, out);
}

}  // namespace dsv3
