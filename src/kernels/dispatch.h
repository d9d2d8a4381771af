// The one dispatch point: a table of function pointers, filled once for the best instruction
// set the CPU has (or the one a test forces), read by every public kernel in kernels.cc.
// Threading lives in kernels.cc; table entries work on a range of rows or columns.
#pragma once

#include <array>
#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/kernels.h"

namespace dsv3::kernels {

// ---- For tests and benchmarks: run every compiled target -----------------------------------
// Targets this build compiled and this CPU runs, best first; always ends with "ref" (the
// scalar reference kernels). Highway targets are named as Highway does ("AVX3", "AVX2",
// "SSE4", "EMU128", "NEON", ...).
std::vector<std::string> available_targets();
// Makes `name` the active target (false if it is not available). "" restores the best.
bool force_target(std::string_view name);
// The active target and the intrinsics kernels it uses, e.g. "AVX3 +avx512vnni".
std::string active_target();

namespace detail {

// Rows [r0, r1) of y[n, w.rows] = x[n, w.cols] w^T. r0 is a multiple of 16.
using MatmulRowsFn = void (*)(const Matrix& w, const float* x, int64_t n, float* y, int64_t r0,
                              int64_t r1);
// Columns [c0, c1) of y[n, w.cols] = x[n, w.rows] w. c0 is a multiple of 64, of the FP8 block
// (128) for FP8 and of the group (32) for q8 / q4.
using MatmulColsFn = void (*)(const Matrix& w, const float* x, int64_t n, float* y, int64_t c0,
                              int64_t c1);
using DequantizeRowFn = void (*)(const Matrix& w, int64_t r, float* out);
// Columns [c0, c1) of y[n, w.cols] = x[n, w.rows] w from tokens laid out by gemm_tokens.
using GemmColsFn = void (*)(const Matrix& w, const float* xt, int64_t n, float* y, int64_t c0,
                            int64_t c1);
// Rows [r0, r1) of y[n, w.rows] from tokens already laid out by KernelTable::gemm_tokens.
using GemmRowsFn = void (*)(const Matrix& w, const float* xt, int64_t n, float* y, int64_t r0,
                            int64_t r1);
// Rows [r0, r1) of y[xq.n, w.rows] for q8 / q4 weights. r0 is a multiple of 16.
using MatmulInt8Fn = void (*)(const Matrix& w, const QuantizedActivations& xq, float* y,
                              int64_t r0, int64_t r1);
// Tokens [t0, t1) of x[out.n, out.cols] into out (so threads can share the work).
using QuantizeActivationsFn = void (*)(const float* x, int64_t t0, int64_t t1,
                                       const QuantizedActivations& out);

// Positions [s0, s1) of kernels::latent_attention for `tokens` (at most
// kMaxAttentionTokens) query tokens q[tokens, heads, width], token t seeing the rows below
// visible + t, as a partial softmax per token: for every head h, out[t].max[h] = the largest
// scale * score, out[t].sum[h] = the sum of exp(scale * score - max[h]) and
// out[t].o[h, value_cols] = the rows' first value_cols columns weighted by those
// exponentials. decode_row turns a row of keys into float32 (not called for float32 keys).
struct LatentAttentionPart {
  float* max = nullptr;  // [heads]
  float* sum = nullptr;  // [heads]
  float* o = nullptr;    // [heads, value_cols]
};
inline constexpr int64_t kMaxAttentionTokens = 2;
using LatentAttentionFn = void (*)(const Matrix& keys, DequantizeRowFn decode_row, const float* q,
                                   int64_t tokens, int64_t heads, float scale, int64_t value_cols,
                                   int64_t s0, int64_t s1, int64_t visible,
                                   const LatentAttentionPart* out);
// The same for one token over positions [s0, s1) of a list of selected rows (position s is
// row ids[s] of keys), all of them seen, each read where the cache stores it.
using LatentAttentionRowsFn = void (*)(const Matrix& keys, DequantizeRowFn decode_row,
                                       const int32_t* ids, const float* q, int64_t heads,
                                       float scale, int64_t value_cols, int64_t s0, int64_t s1,
                                       const LatentAttentionPart* out);

// Token counts up to this take FormatKernels::matvec_rows when a table has one.
inline constexpr int64_t kMatvecMaxTokens = 4;

struct FormatKernels {
  MatmulRowsFn matmul_rows = nullptr;
  // Optional: a faster version for n <= kMatvecMaxTokens (decode), from kernels/x86/.
  MatmulRowsFn matvec_rows = nullptr;
  // Optional: n >= KernelTable::gemm_min_tokens (prefill), on tokens transposed once per call
  // by KernelTable::gemm_tokens and shared by all threads.
  GemmRowsFn gemm_rows = nullptr;
  MatmulColsFn matmul_cols = nullptr;
  // Optional: columns [c0, c1) of x^T W for n >= gemm_min_tokens, on x[n, w.rows] laid out by
  // KernelTable::gemm_tokens.
  GemmColsFn gemm_cols = nullptr;
  DequantizeRowFn dequantize_row = nullptr;
  // The int8-activation product of formats other than q8 / q4 (GGUF k-quants, kernels/kquant.h).
  MatmulInt8Fn matmul_int8 = nullptr;
};

struct KernelTable {
  std::string name;
  std::array<FormatKernels, kNumWeightFormats> formats{};
  // The token layout of FormatKernels::gemm_rows: floats needed, and columns [k0, k1) of
  // x[n, K] written into it (so threads can share the work).
  int64_t gemm_min_tokens = INT64_MAX;
  int64_t (*gemm_tokens_size)(int64_t n, int64_t K) = nullptr;
  void (*gemm_tokens)(const float* x, int64_t n, int64_t K, int64_t k0, int64_t k1,
                      float* xt) = nullptr;
  // Null where the CPU has no integer dot products: q8 / q4 then take the float path.
  std::array<MatmulInt8Fn, 2> matmul_int8{};  // [0] q8, [1] q4
  QuantizeActivationsFn quantize_activations = nullptr;

  void (*rmsnorm)(const float* x, const float* weight, int64_t n, float eps, float* out) = nullptr;
  void (*softmax)(float* x, int64_t n) = nullptr;
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* out) = nullptr;
  void (*rope_interleaved)(float* x, const float* cos_sin, int64_t dim) = nullptr;
  float (*dot)(const float* a, const float* b, int64_t n) = nullptr;
  float (*sum)(const float* x, int64_t n) = nullptr;
  void (*axpy)(float a, const float* x, float* y, int64_t n) = nullptr;
  void (*topk)(const float* x, int64_t n, int64_t k, int32_t* indices) = nullptr;
  LatentAttentionFn latent_attention = nullptr;
  // Optional: without it, kernels::latent_attention_rows copies the selected rows together
  // (as float32 where rows are not self-contained) and runs latent_attention over the copy.
  LatentAttentionRowsFn latent_attention_rows = nullptr;
  // Optional: kernels::index_scores whole (it lays the queries out once per call and splits
  // the keys over the threads itself), from kernels/x86/indexer_avx512.cc.
  void (*index_scores)(const IndexScoreArgs& a) = nullptr;
};

const KernelTable& active_table();

// Fillers, one per translation unit (kernels/simd/*.cc), for the target Highway chose.
void fill_simd_ops(KernelTable& t);
void fill_simd_latent_attention(KernelTable& t);
void fill_simd_matmul_f32(KernelTable& t);
void fill_simd_matmul_f16(KernelTable& t);
void fill_simd_matmul_bf16(KernelTable& t);
void fill_simd_matmul_fp8(KernelTable& t);
void fill_simd_matmul_quant(KernelTable& t);
// AVX-512 intrinsics (kernels/x86/): each adds what the CPU supports to a table built for an
// AVX-512 Highway target and returns what it added, e.g. " +avx512vnni".
std::string fill_x86_vnni(KernelTable& t);
std::string fill_x86_fp8(KernelTable& t);
// x^T W of q8 / q4 straight from the tiles (plain AVX-512F/BW).
std::string fill_x86_quant_cols(KernelTable& t);
// W x of q8 / q4 with float32 activations and few tokens, on the tiles as stored.
std::string fill_x86_quant_rows(KernelTable& t);
// Intel AMX tile products of q8 / q4 with int8 activations for many tokens (after
// fill_x86_vnni, whose kernels keep the few-token products).
std::string fill_x86_amx(KernelTable& t);
// The lightning indexer's scores with AVX512-BF16 dot products.
std::string fill_x86_indexer(KernelTable& t);

// Per-thread scratch of at least n floats, grown once and kept: the decode loop allocates
// nothing. Slots are independent buffers; a kernel must not call another that uses its slots.
float* thread_scratch(int slot, size_t n);

}  // namespace detail
}  // namespace dsv3::kernels
