// What an evaluation over held-out tokens measured: the losses and, per MoE layer, the
// tokens routed to each expert over the whole evaluated set, with its MaxVio (Wang et al.
// 2024, eq. 6: MaxVio_global is computed from the loads of the whole validation set, not
// averaged over batches).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace dsv3::train {

struct EvalReport {
  int64_t step = 0;     // updates done when the evaluation ran
  int64_t windows = 0;  // sequences evaluated
  int64_t tokens = 0;   // tokens predicted by the main model
  double main_loss = 0;            // mean next-token cross-entropy
  std::vector<double> mtp_loss;    // mean cross-entropy of each MTP depth
  // Per MTP depth: share of positions where its most likely token is the main model's (the
  // greedy draft acceptance on this text, teacher-forced).
  std::vector<double> mtp_agreement;
  std::vector<int64_t> moe_layers;  // layer index of each entry below (MTP: N + depth - 1)
  std::vector<double> max_vio;      // MaxVio of the summed loads, per MoE layer
  std::vector<std::vector<int64_t>> loads;  // tokens per expert over the whole set

  // Mean of max_vio over the MoE layers (MTP layers included); 0 without MoE layers.
  double mean_max_vio() const;
};

// Fills moe_layers and max_vio from loads indexed by layer (empty entries: dense layers).
void set_expert_loads(EvalReport& r, const std::vector<std::vector<int64_t>>& loads_by_layer);

// One metrics.jsonl record (no newline): {"step":S,"eval":{"main_loss","mtp_loss":[..],
// "mtp_agreement":[..],
// "windows","tokens","max_vio_mean","layers":[{"layer","max_vio","load"}]}}.
std::string eval_json(const EvalReport& r);

// Several lines for people: the losses, then MaxVio per layer and their mean.
std::string eval_text(const EvalReport& r);

}  // namespace dsv3::train
