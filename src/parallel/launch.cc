#include "parallel/launch.h"

#include <cstdlib>

#include "parallel/expert_exchange.h"

namespace dsv3::parallel {

Result<ExpertPlacement> plan_placement(const ModelConfig& c, int ranks, const PlacementOptions& o) {
  if (ranks < 1) return Err("--ranks must be at least 1, not ", ranks);
  if (o.redundant_experts < 0) return Err("--redundant-experts must be >= 0");
  if (o.expert_load_path.empty() && o.redundant_experts == 0) return contiguous_placement(c, ranks);
  ExpertLoad load;
  if (!o.expert_load_path.empty()) {
    DSV3_ASSIGN_OR_RETURN(load, read_expert_load(o.expert_load_path, c));
  }
  return balanced_placement(c, ranks, load, o.redundant_experts);
}

namespace {

// Rank 0's placement on every rank, checked against each rank's own config.json.
Result<ExpertPlacement> share_placement(const dist::Comm& comm, const Result<ModelConfig>& config,
                                        const PlacementOptions& o) {
  Status planned = config.ok() ? OkStatus() : Status(config.error());
  std::vector<int32_t> ints;
  if (comm.is_root() && config.ok()) {
    auto p = plan_placement(config.value(), comm.size(), o);
    if (p.ok()) ints = p->to_ints();
    else planned = p.error();
  }
  DSV3_TRY(comm.agree(planned));
  comm.broadcast(ints);
  Result<ExpertPlacement> p = ExpertPlacement::from_ints(ints, config.value());
  DSV3_TRY(comm.agree(p.ok() ? OkStatus() : Status(p.error())));
  return p;
}

// Test hook: DSV3_TEST_FAIL_LOAD_RANK=R makes rank R fail to load, as a rank whose disk lacks
// its shard would (the tests check that the whole job stops with the rank's message).
Status injected_load_failure(const dist::Comm& comm) {
  const char* v = std::getenv("DSV3_TEST_FAIL_LOAD_RANK");
  if (v && std::atoi(v) == comm.rank()) return Err("injected load failure (DSV3_TEST_FAIL_LOAD_RANK)");
  return OkStatus();
}

// Whether the MTP layers are loaded is rank 0's choice (the command it runs decides): every
// rank follows it, so that the expert ranks hold the experts of the layers rank 0 runs.
bool share_mtp_choice(const dist::Comm& comm, bool load_mtp) {
  uint8_t mtp = load_mtp ? 1 : 0;
  comm.broadcast(std::span(&mtp, 1));
  return mtp != 0;
}

}  // namespace

Result<RankModel> load_rank_model(const dist::Comm& comm, const std::string& dir,
                                  ModelOptions options, const PlacementOptions& o) {
  const Result<ModelConfig> config = load_model_config(dir);
  DSV3_ASSIGN_OR_RETURN(ExpertPlacement placement, share_placement(comm, config, o));
  options.load_mtp = share_mtp_choice(comm, options.load_mtp);
  const int rank = comm.rank();
  options.selection.dense_part = comm.is_root();
  options.selection.routed_expert = [&placement, rank](int64_t layer, int64_t expert) {
    return placement.holds(rank, layer, expert);
  };
  Result<std::unique_ptr<Model>> model = Err("not loaded");
  Status loaded = injected_load_failure(comm);
  if (loaded.ok()) {
    model = Model::load(dir, options);
    if (!model.ok()) loaded = model.error();
  }
  DSV3_TRY(comm.agree(loaded));
  if (comm.is_root()) {
    Model& m = **model;
    m.set_remote_experts(std::make_unique<ExpertExchange>(comm, placement, m));
  }
  return RankModel{.model = std::move(model).value(), .placement = std::move(placement)};
}

}  // namespace dsv3::parallel
