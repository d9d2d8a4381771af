// The LM head and its cross-entropy, fused: logits are made a chunk of rows at a time and
// turned into their gradient on the spot, so [T, vocab] never exists whole.
#pragma once

#include "train/context.h"

namespace dsv3::train {

template <typename T>
struct HeadLoss {
  const T* h = nullptr;        // [rows, hidden] the normed hidden states the head reads
  const T* head = nullptr;     // [vocab, hidden]
  const int32_t* targets = nullptr;  // [rows]
  int64_t rows = 0;
  int32_t* predicted = nullptr;  // [rows] when set: each row's most likely token (first argmax)
  // Backward (when dh is set): gradients of grad_scale * (sum of the rows' losses).
  T grad_scale = 1;
  T* dh = nullptr;     // [rows, hidden], overwritten
  T* dhead = nullptr;  // [vocab, hidden] +=
};

// Sum over rows of -log softmax(h W^T)[target].
template <typename T>
double head_cross_entropy(const TrainContext& ctx, const HeadLoss<T>& a);

}  // namespace dsv3::train
