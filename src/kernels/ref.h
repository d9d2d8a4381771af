// Scalar reference kernels (kernels/ref.cc): plain loops, written to be obviously right. They
// are the fallback target ("ref") and the yardstick every optimised kernel is tested against.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace dsv3::kernels::ref {

void dequantize_row(const Matrix& w, int64_t r, float* out);
void matmul(const Matrix& w, const float* x, int64_t n, float* y);
void matmul_transposed(const Matrix& w, const float* x, int64_t n, float* y);
void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out);
void softmax(float* x, int64_t n);
void silu_mul(const float* gate, const float* up, int64_t n, float* out);
void rope_interleaved(float* x, const float* cos_sin, int64_t dim);
float dot(const float* a, const float* b, int64_t n);
float sum(const float* x, int64_t n);
void axpy(float a, const float* x, float* y, int64_t n);
void topk(const float* x, int64_t n, int64_t k, int32_t* indices);

// Attention of consecutive tokens over a latent cache (kernels.h): every score, one softmax
// per token and head, then the weighted sum of the rows.
void latent_attention(const Matrix& keys, const float* q, int64_t tokens, int64_t heads,
                      float scale, int64_t value_cols, int64_t visible, float* o);
// latent_attention_rows (kernels.h): the rows `ids` as float32, then latent_attention.
void latent_attention_rows(const Matrix& keys, std::span<const int32_t> ids, const float* q,
                           int64_t heads, float scale, int64_t value_cols, float* o);
// Positions [s0, s1) of it for one token seeing the rows below `visible`, as a partial
// softmax (detail::LatentAttentionFn).
void latent_attention_part(const Matrix& keys, const float* q, int64_t heads, float scale,
                           int64_t value_cols, int64_t s0, int64_t s1, int64_t visible,
                           float* max, float* sum, float* o);

// Lightning-indexer scores (kernels.h) with every e4m3 dot product exact (double), rounded to
// float32, and the weighted sum over heads rounded once: the golden data's definition.
void index_scores(const IndexScoreArgs& a);
// kernels::select_top_positions by std::nth_element over the positions with the tie rule as
// the comparison.
void select_top_positions(const float* scores, int64_t n, int64_t k, int32_t* ids);
// x H / sqrt(n) as a plain matrix product in double.
void hadamard_rotate(float* x, int64_t n);
// The e4m3 code nearest to f by searching the code table (tensor/dtype.h).
uint8_t fp8_e4m3_code(float f);

// The int8-activation product of q8 / q4 weights (MatmulOptions::int8_activations): activations
// quantized per group of 32 (QuantizedActivations), integer dot products per group, float
// scales applied per group. Rows [r0, r1) of y[n, w.rows].
// Tokens [t0, t1) of x[out.n, out.cols].
void quantize_activations(const float* x, int64_t t0, int64_t t1, const QuantizedActivations& out);
void matmul_int8_rows(const Matrix& w, const QuantizedActivations& xq, float* y, int64_t r0,
                      int64_t r1);
// The whole product through the two functions above (allocates; for tests).
void matmul_int8(const Matrix& w, const float* x, int64_t n, float* y);

}  // namespace dsv3::kernels::ref
