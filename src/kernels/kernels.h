// Numeric kernels: the only place that knows how weights are stored and how to go fast.
// They know nothing about DeepSeek. Shapes are written next to every pointer.
// Each has a plain scalar reference in kernels/ref.cc that tests compare against; the fast
// versions (Highway per-target code in kernels/simd/, AVX-512 VNNI/BF16 intrinsics in
// kernels/x86/) are chosen once, at first use, by kernels/dispatch.cc.
#pragma once

#include <cstdint>
#include <span>

#include "tensor/matrix.h"
#include "util/thread_pool.h"

namespace dsv3::kernels {

// ---- Threads -------------------------------------------------------------------------------
// Threads the kernels use (the caller counts as one). Default: hardware concurrency. Call it
// when no kernel is running (at startup, from a -t flag).
void set_num_threads(int n);
int num_threads();
// The kernels' pool, for callers that parallelise their own loops (experts, heads) with the
// same threads. Kernels called from inside one of its tasks run single-threaded.
ThreadPool& thread_pool();

// ---- Precision of the matrix products ------------------------------------------------------
struct MatmulOptions {
  // q8 / q4 weights: quantize the activations to int8 per group of 32 and use integer dot
  // products (AVX-512 VNNI) where the CPU has them. About 2x faster prefill; adds the
  // activations' rounding error (~0.3% of each group's largest value). Off: float32
  // activations, weights dequantized on the fly.
  bool int8_activations = true;
};
void set_matmul_options(const MatmulOptions& options);
MatmulOptions matmul_options();

// ---- Kernels -------------------------------------------------------------------------------
// out[cols] = row r of w as float32.
void dequantize_row(const Matrix& w, int64_t r, float* out);

// y[n, rows] = x[n, cols] * w^T  (each token's y = W x). x and y must not alias.
// Float32 activations and accumulation for f32/f16/bf16/fp8 weights.
void matmul(const Matrix& w, const float* x, int64_t n, float* y);

// Several independent products y = x w^T in one parallel call. Decode runs many small ones
// (the chosen experts' matrices, a few MB each): one split of all their rows keeps both cores
// streaming weights instead of meeting at a barrier after each. Same results as matmul() on
// each job. x and y of a job must not alias any job's y.
struct MatmulJob {
  const Matrix* w = nullptr;
  const float* x = nullptr;  // [n, w->cols]
  int64_t n = 0;
  float* y = nullptr;  // [n, w->rows]
};
void matmul_batch(std::span<const MatmulJob> jobs);

// y[n, cols] = x[n, rows] * w  (x^T W per token: the absorbed-MLA query projection).
void matmul_transposed(const Matrix& w, const float* x, int64_t n, float* y);

// out[n] = x[n] / sqrt(mean(x^2) + eps) * weight[n]. out may alias x.
void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// x[n] = softmax(x[n]), in place, max-subtracted.
void softmax(float* x, int64_t n);

// out[n] = silu(gate[n]) * up[n]. out may alias gate or up.
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// Rotates interleaved pairs (x[2i], x[2i+1]) by angle i: cos_sin[dim] holds (cos_i, sin_i).
void rope_interleaved(float* x, const float* cos_sin, int64_t dim);

float dot(const float* a, const float* b, int64_t n);
// Sum of x[n] (vector loads, several accumulators: also the bandwidth probe's read loop).
float sum(const float* x, int64_t n);
// y[n] += a * x[n]
void axpy(float a, const float* x, float* y, int64_t n);

// Attention over a latent KV cache (the absorbed MLA form) of `tokens` query tokens at
// consecutive positions: token t sees rows [0, visible + t) of keys. For each token t and
// head h < heads:  o[t, h] = softmax(scale * keys q[t, h]) keys[:, :value_cols]
// keys[positions >= visible + tokens - 1, width] in the cache's format (f32, bf16, f16 or
// fp8), q[tokens, heads, width], o[tokens, heads, value_cols] with value_cols <= width. The
// cache is read once for all heads (and for pairs of tokens); the threads split the positions
// and merge their partial softmaxes, unless called from a task of the pool (then it runs on
// the calling thread).
void latent_attention(const Matrix& keys, const float* q, int64_t tokens, int64_t heads,
                      float scale, int64_t value_cols, int64_t visible, float* o);

// latent_attention of one token over the rows `ids` of keys alone (V3.2's selected positions,
// each < keys.rows, in any order): q[heads, width], o[heads, value_cols]. The threads split
// the ids (unless called from a task of the pool); each attends over its share, reading the
// rows where they are stored (targets without that kernel copy them together first: f32,
// bf16 and f16 rows as they are, other formats as float32).
void latent_attention_rows(const Matrix& keys, std::span<const int32_t> ids, const float* q,
                           int64_t heads, float scale, int64_t value_cols, float* o);

// Indices of the k largest values of x[n], largest first; ties go to the lower index.
void topk(const float* x, int64_t n, int64_t k, int32_t* indices);

// ---- FP8 activations and the lightning indexer (DeepSeek-V3.2 sparse attention) -----------
// kernel.act_quant of the DeepSeek-V3.2 code on one block x[n]: s = max(max|x|, 1e-4) *
// float(1/448), rounded up to a power of two when pow2_scale (the "ue8m0" scale format, exactly
// from the float's bits), then codes[i] = e4m3(clamp(x[i] / s, +-448)) rounded to nearest even
// (subnormals down to 2^-9 included). Returns s: x[i] ~= s * e4m3 value of codes[i].
float quantize_fp8_block(const float* x, int64_t n, bool pow2_scale, uint8_t* codes);
// out[n] = scale * the e4m3 value of codes[n] (float32 product).
void dequantize_fp8_block(const uint8_t* codes, int64_t n, float scale, float* out);
// The e4m3fn code of f, rounded to nearest even and saturated at +-448 (bit arithmetic).
uint8_t fp8_e4m3_code(float f);

// x[n] = x[n] H / sqrt(n), H the n x n Sylvester Hadamard matrix H[i][j] = (-1)^popcount(i&j)
// (scipy.linalg.hadamard); n a power of two. The fast Walsh-Hadamard butterfly.
void hadamard_rotate(float* x, int64_t n);

// RoPE in the rotate_half (NeoX) layout: pair (x[i], x[i + dim/2]) is rotated by angle i;
// cos_sin[dim] holds (cos_i, sin_i) interleaved, as for rope_interleaved.
void rope_halves(float* x, const float* cos_sin, int64_t dim);

// Lightning-indexer scores (fp8_index of DeepSeek-V3.2) of `queries` query tokens against the
// keys: scores[t, s] = key_scales[s] * sum_h weights[t, h] * relu(q[t, h] . keys[s]).
// q[queries, heads, keys.cols]: e4m3 values as float32 (exact); weights[queries, heads];
// keys[n, cols]: e4m3 codes as an FP8 matrix with unit block scales; key_scales[n];
// scores[queries, n]. With visible > 0, query t sees keys [0, visible + t) only (a causal block
// of prompt rows) and its scores above them are -inf. Products of e4m3 values are exact in
// float32; the sums are float32 (as the GPU kernel; the reference sums exactly). On AVX-512
// with BF16 dot products a dedicated kernel streams each key once for every head and query of
// the call (kernels/x86/indexer_avx512.cc); elsewhere the FP8 matrix product gives the dots.
struct IndexScoreArgs {
  const float* q = nullptr;
  const float* weights = nullptr;
  int64_t queries = 0;
  int64_t heads = 0;
  const Matrix* keys = nullptr;
  const float* key_scales = nullptr;
  float* scores = nullptr;
  int64_t visible = 0;
};
void index_scores(const IndexScoreArgs& a);

// The k largest of scores[n] (k <= n, no NaN) as ascending positions in ids[k]; ties go to the
// lower position (-0 equals +0). A radix selection over the scores' bits in O(n), no sort: k is
// 2048 of up to 160K positions in the release.
void select_top_positions(const float* scores, int64_t n, int64_t k, int32_t* ids);

// ---- Building block of the int8 path -------------------------------------------------------
// x[n, cols] as int8 per group of 32 columns: x[t][32 g + c] ~= scale[g][t] * q[g][t][c].
// Group-major, so a kernel reaches every token of a group at fixed offsets from one pointer.
// Columns are padded with zeros to groups * 32.
struct QuantizedActivations {
  int64_t n = 0;
  int64_t cols = 0;
  int64_t groups = 0;           // ceil(cols / 32)
  int8_t* q = nullptr;          // [groups, n, 32]
  float* scale = nullptr;       // [groups, n]: largest |x| of the group / 127
  float* scaled_sum = nullptr;  // [groups, n]: scale * sum of the group's q (for offsets)
  float* q8_offset = nullptr;   // [groups, n]: -128 * scaled_sum (q8's zero point 128)
};

}  // namespace dsv3::kernels
