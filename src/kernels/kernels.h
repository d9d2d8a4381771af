// Numeric kernels: the only place that knows how weights are stored and how to go fast.
// They know nothing about DeepSeek. Shapes are written next to every pointer.
// Each has a plain scalar reference in kernels/ref.cc that tests compare against.
#pragma once

#include <cstdint>

#include "tensor/matrix.h"

namespace dsv3::kernels {

// out[cols] = row r of w as float32.
void dequantize_row(const Matrix& w, int64_t r, float* out);

// y[n, rows] = x[n, cols] * w^T  (each token's y = W x). x and y must not alias.
void matmul(const Matrix& w, const float* x, int64_t n, float* y);

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
// y[n] += a * x[n]
void axpy(float a, const float* x, float* y, int64_t n);

// Indices of the k largest values of x[n], largest first; ties go to the lower index.
void topk(const float* x, int64_t n, int64_t k, int32_t* indices);

}  // namespace dsv3::kernels
