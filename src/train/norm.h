// RMSNorm (y = x / sqrt(mean(x^2) + eps) * w), forward and backward, over rows.
#pragma once

#include "train/context.h"

namespace dsv3::train {

// y[rows, n] = rmsnorm(x) * w; rstd[rows] = 1 / sqrt(mean(x^2) + eps), kept for backward.
// y may alias x.
template <typename T>
void rmsnorm_forward(const TrainContext& ctx, const T* x, const T* w, int64_t rows, int64_t n,
                     T* y, T* rstd);

template <typename T>
struct RmsNormBackward {
  const T* x = nullptr;     // [rows, n] forward input
  const T* w = nullptr;     // [n]
  const T* rstd = nullptr;  // [rows] from forward
  const T* dy = nullptr;    // [rows, n]
  int64_t rows = 0, n = 0;
  T* dx = nullptr;  // [rows, n]; may alias dy when not accumulating
  bool accumulate_dx = false;
  T* dw = nullptr;  // [n] +=
};

// With g = dy * w: dx = rstd * g - x * rstd^3 * mean(g * x); dw += sum_rows dy * x * rstd.
template <typename T>
void rmsnorm_backward(const TrainContext& ctx, const RmsNormBackward<T>& a);

}  // namespace dsv3::train
