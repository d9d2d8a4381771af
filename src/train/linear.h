// Linear layers in the checkpoint layout: W is [out, in] and y = W x for every row x.
#pragma once

#include "train/blas.h"

namespace dsv3::train {

struct LinearShape {
  int64_t rows = 0, in = 0, out = 0;
};

// y[rows, out] = x[rows, in] W^T.
template <typename T>
void linear_forward(ThreadPool* pool, LinearShape s, const T* x, const T* w, T* y);

template <typename T>
struct LinearBackward {
  LinearShape shape;
  const T* x = nullptr;   // [rows, in], the forward input
  const T* w = nullptr;   // [out, in]
  const T* dy = nullptr;  // [rows, out]
  T* dx = nullptr;        // [rows, in] = dy W (added to when accumulate_dx); may be null
  bool accumulate_dx = false;
  T* dw = nullptr;  // [out, in] += dy^T x; may be null
};

template <typename T>
void linear_backward(ThreadPool* pool, const LinearBackward<T>& a);

}  // namespace dsv3::train
