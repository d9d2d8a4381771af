// The MoE router for training (DeepSeek-V3 report eqs. 13-16): affinities s = sigmoid(x W^T)
// (softmax for V2 configs); experts chosen on s + e_score_correction_bias, limited to the
// best groups (model/gate.cc's route_one, so training picks exactly what inference picks);
// output weights from the unbiased s, normalised over the chosen when norm_topk_prob, times
// routed_scaling_factor. The bias never enters a gradient.
//
// Also the balance loss on the affinities (report eq. 17-20, the complementary sequence-wise
// loss): per sequence of S tokens, L = alpha * sum_i f_i P_i with f_i = N/(K S) * (tokens
// choosing i) and P_i = mean over the sequence of s_i / sum_j s_j; averaged over sequences.
// With alpha > 0 and no bias updates this is also the classic auxiliary balance loss.
#pragma once

#include <vector>

#include "train/context.h"

namespace dsv3::train {

template <typename T>
struct RouterActivations {
  std::vector<T> scores;       // [T, N] affinities s, no bias
  std::vector<int32_t> ids;    // [T, K] chosen experts
  std::vector<T> weights;      // [T, K] output weights
  std::vector<T> chosen_sum;   // [T] sum of the chosen s (the norm_topk_prob denominator)
  std::vector<int32_t> seq_load;  // [B, N] tokens of each sequence choosing each expert
  std::vector<int64_t> load;      // [N] tokens choosing each expert, whole batch
};

// Routes x[T, hidden]; bias [N] may be null. Returns the balance loss (0 when alpha is 0).
template <typename T>
double router_forward(const TrainContext& ctx, const T* gate_w, const float* bias, const T* x,
                      double balance_alpha, RouterActivations<T>& act);

template <typename T>
struct RouterBackward {
  const T* gate_w = nullptr;  // [N, hidden]
  T* gate_grad = nullptr;     // [N, hidden] +=
  const T* x = nullptr;       // forward input [T, hidden]
  const RouterActivations<T>* act = nullptr;
  const T* dweights = nullptr;  // [T, K] gradient of the output weights
  double balance_alpha = 0;     // alpha times the loss's gradient scale
  T* dx = nullptr;              // [T, hidden] +=
};

template <typename T>
void router_backward(const TrainContext& ctx, const RouterBackward<T>& a);

}  // namespace dsv3::train
