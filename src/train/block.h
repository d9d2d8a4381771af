// One decoder layer: x = x + MLA(attn_norm(x)); x = x + FFN(ffn_norm(x)), FFN dense SwiGLU or
// MoE.
#pragma once

#include <vector>

#include "train/mla.h"
#include "train/moe.h"

namespace dsv3::train {

template <typename T>
struct BlockActivations {
  std::vector<T> h1, rstd1;  // attn_norm(x_in) [T, hidden], [T]
  MlaActivations<T> mla;
  std::vector<T> x_mid;      // x_in + attention [T, hidden]
  std::vector<T> h2, rstd2;  // ffn_norm(x_mid)
  std::vector<T> mlp_gate_up, mlp_act;  // dense FFN
  MoeActivations<T> moe;
};

// x_out[T, hidden] = layer(x_in); bias is the router's (MoE layers, may be null). Returns the
// balance loss of the router (0 for dense layers).
template <typename T>
double block_forward(const TrainContext& ctx, const BlockParams<T>& w, const float* bias,
                     double balance_alpha, const T* x_in, BlockActivations<T>& act, T* x_out);

template <typename T>
struct BlockBackward {
  const BlockParams<T>* w = nullptr;
  BlockParams<T>* grad = nullptr;
  const T* x_in = nullptr;
  const BlockActivations<T>* act = nullptr;
  double balance_alpha = 0;  // times the gradient scale
  const T* dx_out = nullptr;  // [T, hidden]
  T* dx_in = nullptr;         // [T, hidden], overwritten; may alias dx_out
};

template <typename T>
void block_backward(const TrainContext& ctx, const BlockBackward<T>& a);

}  // namespace dsv3::train
