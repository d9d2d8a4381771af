// Scalar reference kernels: plain loops, written to be obviously right. They are the fallback
// and the yardstick for every optimised kernel.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/kernels.h"
#include "tensor/dtype.h"
#include "util/check.h"

namespace dsv3::kernels {

void dequantize_row(const Matrix& w, int64_t r, float* out) {
  const uint8_t* row = w.row_data(r);
  switch (w.format) {
    case WeightFormat::kF32:
      std::copy_n(reinterpret_cast<const float*>(row), w.cols, out);
      return;
    case WeightFormat::kF16: {
      const auto* h = reinterpret_cast<const uint16_t*>(row);
      for (int64_t c = 0; c < w.cols; ++c) out[c] = f16_to_f32(h[c]);
      return;
    }
    case WeightFormat::kBF16: {
      const auto* h = reinterpret_cast<const uint16_t*>(row);
      for (int64_t c = 0; c < w.cols; ++c) out[c] = bf16_to_f32(h[c]);
      return;
    }
    case WeightFormat::kFP8Block: {
      const float* scales = w.block_scales + ((w.row0 + r) / w.block) * w.scale_cols;
      for (int64_t c = 0; c < w.cols; ++c) out[c] = fp8_e4m3_to_f32(row[c]) * scales[c / w.block];
      return;
    }
  }
  DSV3_CHECK(false, "unknown weight format");
}

void matmul(const Matrix& w, const float* x, int64_t n, float* y) {
  std::vector<float> row(w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row(w, r, row.data());
    for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = dot(row.data(), x + t * w.cols, w.cols);
  }
}

void matmul_transposed(const Matrix& w, const float* x, int64_t n, float* y) {
  std::fill_n(y, n * w.cols, 0.0f);
  std::vector<float> row(w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row(w, r, row.data());
    for (int64_t t = 0; t < n; ++t) axpy(x[t * w.rows + r], row.data(), y + t * w.cols, w.cols);
  }
}

void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const float inv = float(1.0 / std::sqrt(ss / double(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

void softmax(float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void rope_interleaved(float* x, const float* cos_sin, int64_t dim) {
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void topk(const float* x, int64_t n, int64_t k, int32_t* indices) {
  std::vector<int32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [x](int32_t a, int32_t b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  });
  std::copy_n(idx.begin(), k, indices);
}

}  // namespace dsv3::kernels
