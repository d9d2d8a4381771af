// What each rank of an expert-parallel job holds, planned before starting it
// (`dsv3 info --ranks R`): from a checkpoint's tensors, or from a config alone (the tensors
// `dsv3 synth` would write, so a 671B plan needs no download).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/expert_placement.h"

namespace dsv3 {

struct TensorBytes {
  std::string name;
  uint64_t bytes = 0;
};

struct RankPlan {
  int rank = 0;
  int64_t experts = 0;      // routed experts held (copies counted), all MoE layers
  double expert_bytes = 0;  // their tensors
  double dense_bytes = 0;   // everything else (rank 0 only)
  double kv_bytes = 0;      // KV cache for the context (rank 0 only)
  double load_share = 0;    // share of the routed-expert work (from the expert load)
  double total() const { return expert_bytes + dense_bytes + kv_bytes; }
};

// Rank 0 holds everything but the routed experts of other ranks, plus the KV caches (main
// model and MTP layers; latent values of `kv_value_bytes` each, 4 for f32) for `context`
// tokens; the others hold their experts.
std::vector<RankPlan> plan_rank_memory(const ModelConfig& c, const ExpertPlacement& p,
                                       std::span<const TensorBytes> tensors, int64_t context,
                                       const ExpertLoad& load = {}, int64_t kv_value_bytes = 4);

// Network bytes per decoded token (rank 0 sends the token's hidden state to each rank
// holding one of its experts and gets one row of partial sums back, per MoE layer of the main
// model), expected under uniform routing.
struct TrafficEstimate {
  double bytes_per_token = 0;
  double ranks_per_layer = 0;  // expected expert ranks other than 0 a token reaches per layer
};
TrafficEstimate estimate_traffic(const ModelConfig& c, const ExpertPlacement& p);

}  // namespace dsv3
