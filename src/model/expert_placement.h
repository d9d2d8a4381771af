// Which ranks of an expert-parallel job hold which routed experts.
//
// Every MoE layer (the MTP layers included, by checkpoint layer index) spreads its routed
// experts over the ranks. By default each rank holds a contiguous block of expert ids
// (the releases store consecutive experts together, so a rank opens few shards). Given the
// measured load of each expert, balanced_placement packs them so that every rank computes
// about the same number of tokens, and may give the hottest experts a second copy on another
// rank; a token's pair with a copied expert is then computed by exactly one of its holders.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "util/result.h"

namespace dsv3 {

class ExpertPlacement {
 public:
  ExpertPlacement() = default;
  // Every layer with n_routed_experts experts, none placed yet.
  ExpertPlacement(const ModelConfig& c, int ranks);

  int ranks() const { return ranks_; }
  int64_t num_layers() const { return int64_t(owners_.size()); }
  bool is_moe_layer(int64_t layer) const {
    return layer >= 0 && layer < num_layers() && !owners_[size_t(layer)].empty();
  }
  int64_t num_experts(int64_t layer) const { return int64_t(owners_[size_t(layer)].size()); }
  // The ranks holding `expert` of `layer`, first the primary one.
  const std::vector<int32_t>& owners(int64_t layer, int64_t expert) const {
    return owners_[size_t(layer)][size_t(expert)];
  }
  bool holds(int rank, int64_t layer, int64_t expert) const;
  void add_owner(int64_t layer, int64_t expert, int rank);
  // Routed experts (copies counted) that `rank` holds over all layers.
  int64_t experts_held(int rank) const;

  // A flat list of ints (to broadcast from rank 0) and back; from_ints checks it against the
  // config so a rank with another checkpoint is caught.
  std::vector<int32_t> to_ints() const;
  static Result<ExpertPlacement> from_ints(std::span<const int32_t> v, const ModelConfig& c);

 private:
  int ranks_ = 1;
  std::vector<std::vector<std::vector<int32_t>>> owners_;  // [layer][expert] -> ranks
};

// The checkpoint layer indices of every MoE layer: the main model's, then the MTP layers'.
std::vector<int64_t> moe_layer_indices(const ModelConfig& c);

// Rank r holds experts [r n / R, (r + 1) n / R) of every MoE layer.
ExpertPlacement contiguous_placement(const ModelConfig& c, int ranks);

// Measured tokens per expert: load[layer][expert]. Layers not listed count as uniform.
using ExpertLoad = std::map<int64_t, std::vector<double>>;

// Reads `{"expert_load": {"LAYER": [count per expert, ...], ...}}` (what `dsv3 bench
// --save-expert-load` writes); errors name the file, the layer and what was expected.
Result<ExpertLoad> read_expert_load(const std::string& path, const ModelConfig& c);
std::string expert_load_json(const ExpertLoad& load);

// Per layer: the `redundant` hottest experts get a second copy, then copies are packed
// hottest first onto the rank with the least load so far (longest-processing-time-first),
// at most ceil((n + redundant) / R) per rank so memory stays balanced too, never two copies
// of one expert on one rank. A copied expert's load is split between its copies.
// Deterministic: ties go to the lower expert id and the lower rank.
ExpertPlacement balanced_placement(const ModelConfig& c, int ranks, const ExpertLoad& load,
                                   int redundant);

// Share of the measured load (1/R each when uniform) that each rank computes when a copied
// expert's tokens are split evenly between its copies; averaged over the MoE layers.
std::vector<double> load_shares(const ExpertPlacement& p, const ExpertLoad& load);

}  // namespace dsv3
