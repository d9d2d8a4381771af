// SwiGLU feed-forward (dense layers, routed and shared experts): y = w2(silu(w1 x) * w3 x).
#pragma once

#include "train/context.h"
#include "train/params.h"

namespace dsv3::train {

// What backward needs, in buffers the caller owns (experts keep theirs in one shared block).
template <typename T>
struct MlpSaved {
  T* gate_up = nullptr;  // [rows, 2*inter]: per row [w1 x | w3 x]
  T* act = nullptr;      // [rows, inter]: silu(w1 x) * w3 x
};

// y[rows, hidden] from x[rows, hidden]. With a null pool it runs on the calling thread (the
// experts run side by side, one per thread).
template <typename T>
void mlp_forward(ThreadPool* pool, const MlpParams<T>& w, int64_t hidden, const T* x,
                 int64_t rows, const MlpSaved<T>& saved, T* y);

template <typename T>
struct MlpBackward {
  const MlpParams<T>* w = nullptr;
  MlpParams<T>* grad = nullptr;  // gradients are added
  int64_t hidden = 0, rows = 0;
  const T* x = nullptr;        // forward input
  const T* gate_up = nullptr;  // MlpSaved::gate_up of the forward
  const T* act = nullptr;      // MlpSaved::act of the forward
  const T* dy = nullptr;  // [rows, hidden]
  T* dx = nullptr;        // [rows, hidden], overwritten
  T* work = nullptr;      // [rows, 2*inter] scratch
};

template <typename T>
void mlp_backward(ThreadPool* pool, const MlpBackward<T>& a);

}  // namespace dsv3::train
