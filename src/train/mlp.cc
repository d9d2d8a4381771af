#include "train/mlp.h"

#include <cmath>
#include <type_traits>

#include "train/linear.h"
#include "train/vec.h"

namespace dsv3::train {

namespace {

// gate_proj and up_proj sit next to each other in the parameter buffer (params.cc), so one
// product can read them as a single [2*inter, hidden] matrix.
template <typename T>
bool fused(const MlpParams<T>& w, int64_t hidden) {
  return w.w3 == w.w1 + w.inter * hidden;
}

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

}  // namespace

template <typename T>
void mlp_forward(ThreadPool* pool, const MlpParams<T>& w, int64_t hidden, const T* x,
                 int64_t rows, const MlpSaved<T>& saved, T* y) {
  const int64_t inter = w.inter;
  T* gu = saved.gate_up;
  if (fused(w, hidden)) {
    linear_forward(pool, {rows, hidden, 2 * inter}, x, w.w1, gu);
  } else {
    gemm<T>(pool, {.tb = true, .m = rows, .n = inter, .k = hidden, .a = x, .lda = hidden,
                   .b = w.w1, .ldb = hidden, .c = gu, .ldc = 2 * inter});
    gemm<T>(pool, {.tb = true, .m = rows, .n = inter, .k = hidden, .a = x, .lda = hidden,
                   .b = w.w3, .ldb = hidden, .c = gu + inter, .ldc = 2 * inter});
  }
  parallel_for(pool, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* g = gu + r * 2 * inter;
      const T* u = g + inter;
      T* act = saved.act + r * inter;
      if constexpr (std::is_same_v<T, float>) {
        vec::silu_mul(g, inter, act);
      } else {
        for (int64_t i = 0; i < inter; ++i) act[i] = g[i] * sigmoid(g[i]) * u[i];
      }
    }
  });
  linear_forward(pool, {rows, inter, hidden}, saved.act, w.w2, y);
}

template <typename T>
void mlp_backward(ThreadPool* pool, const MlpBackward<T>& a) {
  const MlpParams<T>& w = *a.w;
  const int64_t inter = w.inter, rows = a.rows, hidden = a.hidden;
  T* dgu = a.work;  // [rows, 2*inter]: d act into the first half, then [d gate | d up]
  // d act = dy w2 (stored with row stride 2*inter); dw2 += dy^T act.
  gemm<T>(pool, {.m = rows, .n = inter, .k = hidden, .a = a.dy, .lda = hidden, .b = w.w2,
                 .ldb = inter, .c = dgu, .ldc = 2 * inter});
  linear_backward<T>(pool, {.shape = {rows, inter, hidden}, .x = a.act, .w = w.w2,
                            .dy = a.dy, .dw = a.grad->w2});
  parallel_for(pool, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* g = a.gate_up + r * 2 * inter;
      const T* u = g + inter;
      T* dg = dgu + r * 2 * inter;
      T* du = dg + inter;
      if constexpr (std::is_same_v<T, float>) {
        vec::silu_mul_backward(g, inter, dg);
        continue;
      }
      for (int64_t i = 0; i < inter; ++i) {
        const T s = sigmoid(g[i]), dact = dg[i];
        du[i] = dact * g[i] * s;                           // d/du of silu(g) u
        dg[i] = dact * u[i] * s * (T(1) + g[i] * (T(1) - s));  // silu'(g) = s (1 + g (1 - s))
      }
    }
  });
  if (fused(w, hidden) && fused(*a.grad, hidden)) {
    linear_backward<T>(pool, {.shape = {rows, hidden, 2 * inter}, .x = a.x, .w = w.w1,
                              .dy = dgu, .dx = a.dx, .dw = a.grad->w1});
    return;
  }
  // Unfused: the two halves of dgu against w1 and w3 separately.
  gemm<T>(pool, {.m = rows, .n = hidden, .k = inter, .a = dgu, .lda = 2 * inter, .b = w.w1,
                 .ldb = hidden, .c = a.dx, .ldc = hidden});
  gemm<T>(pool, {.m = rows, .n = hidden, .k = inter, .a = dgu + inter, .lda = 2 * inter,
                 .b = w.w3, .ldb = hidden, .beta = 1, .c = a.dx, .ldc = hidden});
  gemm<T>(pool, {.ta = true, .m = inter, .n = hidden, .k = rows, .a = dgu, .lda = 2 * inter,
                 .b = a.x, .ldb = hidden, .beta = 1, .c = a.grad->w1, .ldc = hidden});
  gemm<T>(pool, {.ta = true, .m = inter, .n = hidden, .k = rows, .a = dgu + inter,
                 .lda = 2 * inter, .b = a.x, .ldb = hidden, .beta = 1, .c = a.grad->w3,
                 .ldc = hidden});
}

template void mlp_forward(ThreadPool*, const MlpParams<float>&, int64_t, const float*, int64_t,
                          const MlpSaved<float>&, float*);
template void mlp_forward(ThreadPool*, const MlpParams<double>&, int64_t, const double*, int64_t,
                          const MlpSaved<double>&, double*);
template void mlp_backward(ThreadPool*, const MlpBackward<float>&);
template void mlp_backward(ThreadPool*, const MlpBackward<double>&);

}  // namespace dsv3::train
