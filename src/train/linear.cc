#include "train/linear.h"

namespace dsv3::train {

template <typename T>
void linear_forward(ThreadPool* pool, LinearShape s, const T* x, const T* w, T* y) {
  gemm<T>(pool, {.tb = true, .m = s.rows, .n = s.out, .k = s.in, .a = x, .lda = s.in, .b = w,
                 .ldb = s.in, .c = y, .ldc = s.out});
}

template <typename T>
void linear_backward(ThreadPool* pool, const LinearBackward<T>& a) {
  const LinearShape s = a.shape;
  if (a.dx) {
    gemm<T>(pool, {.m = s.rows, .n = s.in, .k = s.out, .a = a.dy, .lda = s.out, .b = a.w,
                   .ldb = s.in, .beta = T(a.accumulate_dx ? 1 : 0), .c = a.dx, .ldc = s.in});
  }
  if (a.dw) {
    gemm<T>(pool, {.ta = true, .m = s.out, .n = s.in, .k = s.rows, .a = a.dy, .lda = s.out,
                   .b = a.x, .ldb = s.in, .beta = 1, .c = a.dw, .ldc = s.in});
  }
}

template void linear_forward(ThreadPool*, LinearShape, const float*, const float*, float*);
template void linear_forward(ThreadPool*, LinearShape, const double*, const double*, double*);
template void linear_backward(ThreadPool*, const LinearBackward<float>&);
template void linear_backward(ThreadPool*, const LinearBackward<double>&);

}  // namespace dsv3::train
