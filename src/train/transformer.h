// The whole training model: embedding -> decoder layers -> model.norm -> lm_head with
// next-token cross-entropy, plus the MTP modules and the routers' balance loss; forward, then
// backward by hand in reverse.
//
// A batch is `batch` windows of seq + 1 + D tokens (D = num_nextn_predict_layers): the main
// model reads t_0..t_{S-1} and predicts t_1..t_S; MTP depth k reads t_k..t_{k+S-1} with the
// hidden states of positions 0..S-1 and predicts t_{k+1}..t_{k+S}.
#pragma once

#include <vector>

#include "train/mtp.h"
#include "train/params.h"

namespace dsv3::train {

inline int64_t window_length(const ModelConfig& c, int64_t seq) {
  return seq + 1 + c.num_nextn_predict_layers;
}

struct LossOptions {
  double mtp_weight = 0.3;   // lambda: L = L_main + lambda / D * sum_k L_k (+ balance)
  double balance_alpha = 0;  // weight of the routers' balance loss (gate.h), per MoE layer
  double grad_scale = 1;     // gradients are of grad_scale * L (1 / accumulation steps)
  // What MTP depth k learns at position i: the text's token t_{i+k+1} (DeepSeek-V3), or the
  // main model's own greedy choice for it (its argmax at position i+k, where i+k < seq; the
  // text's token beyond), which is what a draft must match to be accepted.
  bool mtp_learns_main_model = false;
  // Measure LossReport::mtp_agreement (one argmax per head row).
  bool measure_agreement = false;
};

struct LossReport {
  double main = 0;          // mean next-token cross-entropy
  std::vector<double> mtp;  // mean cross-entropy of each MTP depth
  // Per MTP depth (with measure_agreement): the share of positions i (i+k < seq) where its
  // most likely token is the main model's most likely token at position i+k, the rate at
  // which greedy drafts would be accepted on this text.
  std::vector<double> mtp_agreement;
  double balance = 0;       // summed over the MoE layers
  double total = 0;         // main + lambda / D * sum(mtp) + balance
  // Tokens routed to each expert, per layer (main layers, then MTP); empty for dense layers.
  std::vector<std::vector<int64_t>> loads;
};

template <typename T>
struct ModelActivations {
  std::vector<int32_t> inputs, targets;  // [T]
  std::vector<std::vector<T>> resid;     // num_hidden_layers + 1 residual streams [T, hidden]
  std::vector<BlockActivations<T>> blocks;
  std::vector<T> hn, hn_rstd;  // model.norm output: what lm_head (and MTP depth 1) reads
  std::vector<MtpActivations<T>> mtp;
  std::vector<std::vector<int32_t>> mtp_targets;  // [D][T]
};

// windows [ctx.batch, window_length(seq)]. With grad set, gradients of
// grad_scale * total loss are added into *grad.
template <typename T>
LossReport model_forward_backward(const TrainContext& ctx, const ModelParams<T>& w,
                                  const RouterBiases& bias, const int32_t* windows,
                                  const LossOptions& opt, ModelActivations<T>& act,
                                  ModelParams<T>* grad);

}  // namespace dsv3::train
