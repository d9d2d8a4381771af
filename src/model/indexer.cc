#include "model/indexer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/kernels.h"
#include "model/kv_cache.h"
#include "tensor/dtype.h"

namespace dsv3 {

namespace {

// Scores of a chunk of query tokens are [tokens, keys] floats: chunks stay below this.
constexpr int64_t kMaxChunkScores = int64_t(1) << 22;
constexpr double kLayerNormEps = 1e-6;  // the indexer's k_norm (LayerNorm default of model.py)

struct IndexDims {
  int64_t heads, dim, rope, q_lora, hidden, topk;
  bool ue8m0;
  explicit IndexDims(const ModelConfig& c)
      : heads(c.index_n_heads), dim(c.index_head_dim), rope(c.qk_rope_head_dim),
        q_lora(c.q_lora_rank), hidden(c.hidden_size), topk(c.index_topk),
        ue8m0(c.fp8_scale_ue8m0) {}
};

// F.layer_norm over x[n] with weight and bias, biased variance, in place.
void layer_norm(float* x, const std::vector<float>& weight, const std::vector<float>& bias,
                int64_t n) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= double(n);
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double inv = 1.0 / std::sqrt(var / double(n) + kLayerNormEps);
  for (int64_t i = 0; i < n; ++i) x[i] = float((x[i] - mean) * inv) * weight[i] + bias[i];
}

// RoPE on the leading rope dims (rotate_half layout: the indexer keeps [rope | nope], and
// since the reference's "fix indexer rope" its pairs are (i, i + rope/2)), then the Hadamard
// rotation, then FP8 with one scale for the whole vector (act_quant, one 128-block).
// Returns the scale; codes[dim].
float rotate_and_quantize(const IndexDims& d, const float* cos_sin, float* v, uint8_t* codes) {
  kernels::rope_halves(v, cos_sin, d.rope);
  kernels::hadamard_rotate(v, d.dim);
  return kernels::quantize_fp8_block(v, d.dim, d.ue8m0, codes);
}

// Each new token's key into the cache: LayerNorm(wk x), rotated and quantised.
void write_keys(const LayerContext& ctx, const IndexerWeights& w, const IndexDims& d,
                float* k, const SequenceSlice& s) {
  std::array<uint8_t, ModelConfig::kActQuantBlock> codes;
  for (int64_t t = 0; t < s.count; ++t) {
    float* kt = k + (s.row + t) * d.dim;
    layer_norm(kt, w.k_norm_weight, w.k_norm_bias, d.dim);
    const float scale = rotate_and_quantize(d, ctx.rope->at(s.start_pos + t), kt, codes.data());
    s.cache->write_index_key(ctx.layer, s.start_pos + t, codes.data(), scale);
  }
}

// Each query head rotated and quantised, as its e4m3 values (float, exact) in q, and the head
// weights w[t, h] = weights_proj(x)[t, h] * heads^-0.5 * q_scale[t, h] * dim^-0.5, multiplied
// in this order in float32 as the reference does.
void prepare_queries(const LayerContext& ctx, const IndexDims& d, float* q, float* weights,
                     const SequenceSlice& s) {
  std::array<uint8_t, ModelConfig::kActQuantBlock> codes;
  const float head_scale = float(1.0 / std::sqrt(double(d.heads)));
  const float softmax_scale = float(1.0 / std::sqrt(double(d.dim)));
  for (int64_t t = 0; t < s.count; ++t) {
    const float* cos_sin = ctx.rope->at(s.start_pos + t);
    for (int64_t h = 0; h < d.heads; ++h) {
      float* qh = q + ((s.row + t) * d.heads + h) * d.dim;
      const float scale = rotate_and_quantize(d, cos_sin, qh, codes.data());
      kernels::dequantize_fp8_block(codes.data(), d.dim, 1.0f, qh);
      float& wt = weights[(s.row + t) * d.heads + h];
      wt = wt * head_scale * scale * softmax_scale;
    }
  }
}

// Scores and selections of one sequence's rows; chunks of query tokens keep the scores
// [tokens, keys] bounded (the kernel reads each key once per chunk). Rows that see at most
// index_topk positions keep them all (scores are then only computed for traces).
void select_sequence(const LayerContext& ctx, const IndexDims& d, const float* q,
                     const float* weights, const SequenceSlice& s, const TokenSelection& out) {
  const int64_t end = s.start_pos + s.count;
  const bool tracing = ctx.trace && *ctx.trace;
  const Matrix keys = s.cache->index_keys(ctx.layer, end);
  const float* key_scales = s.cache->index_key_scales(ctx.layer);
  const int64_t chunk = std::max<int64_t>(1, kMaxChunkScores / end);
  std::vector<float> traced_scores;
  if (tracing) traced_scores.assign(size_t(s.count * end), -std::numeric_limits<float>::infinity());
  Arena::Mark mark(*ctx.arena);
  float* scores = ctx.arena->floats(std::min(chunk, s.count) * end);
  bool scored = false;
  for (int64_t t0 = 0; t0 < s.count; t0 += chunk) {
    const int64_t n = std::min(chunk, s.count - t0);
    const int64_t first_row = s.row + t0;
    // Dense rows need no scores; rows only get sparser further on.
    // (Traces get the scores of the chunks computed: a forward that drops no token, as with
    // index_topk at least the context, does no indexer work beyond its keys.)
    const bool sparse = s.start_pos + t0 + n > d.topk;
    scored |= sparse;
    if (sparse) {
      // Rows seeing fewer keys score only the ones the chunk's last row sees.
      const Matrix chunk_keys = keys.row_slice(0, s.start_pos + t0 + n);
      kernels::index_scores({.q = q + first_row * d.heads * d.dim,
                             .weights = weights + first_row * d.heads, .queries = n,
                             .heads = d.heads, .keys = &chunk_keys, .key_scales = key_scales,
                             .scores = scores, .visible = s.start_pos + t0 + 1});
    }
    const int64_t stride = s.start_pos + t0 + n;
    for (int64_t t = t0; t < t0 + n; ++t) {
      const int64_t r = s.row + t, visible = s.start_pos + t + 1;
      const float* row_scores = scores + (t - t0) * stride;
      int32_t* ids = out.ids + r * out.slots;
      out.counts[r] = int32_t(std::min(d.topk, visible));
      if (visible <= d.topk) {
        for (int64_t i = 0; i < visible; ++i) ids[i] = int32_t(i);
      } else {
        kernels::select_top_positions(row_scores, visible, d.topk, ids);
      }
      std::fill(ids + out.counts[r], ids + out.slots, -1);
      if (tracing && sparse) std::copy_n(row_scores, visible, traced_scores.data() + t * end);
    }
  }
  if (tracing && scored) ctx.emit("index_scores", traced_scores);
  if (tracing) {
    ctx.emit("index_head_weights",
             {weights + s.row * d.heads, size_t(s.count * d.heads)});
  }
}

}  // namespace

void index_select(const LayerContext& ctx, const IndexerWeights& w, const IndexerProjections& p,
                  int64_t rows, std::span<const SequenceSlice> seqs, const TokenSelection& out) {
  const IndexDims d(*ctx.config);
  float* q = p.q;
  float* k = p.k;
  float* weights = p.weights;
  for (const SequenceSlice& s : seqs) {
    {
      PhaseScope phase(ctx.phases, "indexer rope + fp8");
      write_keys(ctx, w, d, k, s);
      prepare_queries(ctx, d, q, weights, s);
    }
    PhaseScope phase(ctx.phases, "indexer scores + top-k");
    select_sequence(ctx, d, q, weights, s, out);
  }
  if (ctx.trace && *ctx.trace) {
    std::vector<float> ids(out.ids, out.ids + rows * out.slots);
    ctx.emit("index_ids", ids);
  }
}

}  // namespace dsv3
