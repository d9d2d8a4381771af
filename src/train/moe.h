// Mixture of experts for training: router, routed experts run only on their own tokens
// (grouped by expert, experts side by side on the threads), shared expert on every token.
// y = shared(x) + sum_k w_k expert_k(x).
#pragma once

#include <vector>

#include "train/gate.h"
#include "train/mlp.h"

namespace dsv3::train {

template <typename T>
struct MoeActivations {
  RouterActivations<T> router;
  // The T*K choices (choice t*K + j is token t's j-th expert) sorted by expert.
  std::vector<int32_t> offsets;  // [N+1] start of each expert's rows
  std::vector<int32_t> order;    // [T*K] choice at each sorted row
  std::vector<int32_t> row_of;   // [T*K] sorted row of each choice
  std::vector<T> xs;             // [T*K, hidden] expert inputs, sorted
  std::vector<T> gate_up;        // [T*K, 2*inter]
  std::vector<T> act;            // [T*K, inter]
  std::vector<T> ys;             // [T*K, hidden] expert outputs before weighting
  std::vector<T> shared_gate_up;  // [T, 2*shared_inter]
  std::vector<T> shared_act;      // [T, shared_inter]
};

// out[T, hidden]; bias [N] may be null. Returns the balance loss of the router.
template <typename T>
double moe_forward(const TrainContext& ctx, const MoeParams<T>& w, const float* bias,
                   double balance_alpha, const T* x, MoeActivations<T>& act, T* out);

template <typename T>
struct MoeBackward {
  const MoeParams<T>* w = nullptr;
  MoeParams<T>* grad = nullptr;
  const T* x = nullptr;  // forward input [T, hidden]
  const MoeActivations<T>* act = nullptr;
  double balance_alpha = 0;  // times the gradient scale
  const T* dout = nullptr;   // [T, hidden]
  T* dx = nullptr;           // [T, hidden], overwritten
};

template <typename T>
void moe_backward(const TrainContext& ctx, const MoeBackward<T>& a);

}  // namespace dsv3::train
