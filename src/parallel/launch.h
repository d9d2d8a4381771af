// Starting an expert-parallel job: every rank loads its share of the checkpoint.
//
// Rank 0 decides the placement (contiguous, or balanced from a measured load file, which only
// rank 0 needs to have) and broadcasts it; each rank then opens only the shards holding its
// part: rank 0 everything except the routed experts of other ranks (it runs attention, dense
// layers, routers, shared experts, the heads and the KV cache), every other rank only its
// routed experts. The ranks then agree on the outcome, so a rank that cannot load its shard
// stops the whole job with its message instead of leaving the others waiting.
#pragma once

#include <memory>
#include <string>

#include "dist/communicator.h"
#include "model/expert_placement.h"
#include "model/transformer.h"

namespace dsv3::parallel {

struct PlacementOptions {
  std::string expert_load_path;  // empty: contiguous blocks (uniform load)
  int redundant_experts = 0;     // extra copies of the hottest experts, per MoE layer
};

// The placement for `ranks` ranks: contiguous without a load file or redundant copies,
// balanced otherwise. Errors: the load file.
Result<ExpertPlacement> plan_placement(const ModelConfig& c, int ranks, const PlacementOptions& o);

// This rank's part of the job: rank 0's model has the other ranks attached as its remote
// experts; another rank's model holds only its routed experts, for serve_experts. Every rank
// of `comm` must call it (it is collective). Rank 0's options.load_mtp holds for every rank
// (an expert rank need not know what the command wants). An error is the job's, known to
// every rank, and names the rank(s) that failed.
struct RankModel {
  std::unique_ptr<Model> model;
  ExpertPlacement placement;
};
Result<RankModel> load_rank_model(const dist::Comm& comm, const std::string& dir,
                                  ModelOptions options, const PlacementOptions& placement);

}  // namespace dsv3::parallel
