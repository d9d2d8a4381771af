#include "model/memory_plan.h"

#include <cmath>

#include "model/remote_experts.h"
#include "model/tensor_table.h"

namespace dsv3 {

std::vector<RankPlan> plan_rank_memory(const ModelConfig& c, const ExpertPlacement& p,
                                       std::span<const TensorBytes> tensors, int64_t context,
                                       const ExpertLoad& load, int64_t kv_value_bytes) {
  std::vector<RankPlan> plan(size_t(p.ranks()));
  const std::vector<double> shares = load_shares(p, load);
  for (int r = 0; r < p.ranks(); ++r) {
    plan[size_t(r)].rank = r;
    plan[size_t(r)].experts = p.experts_held(r);
    plan[size_t(r)].load_share = shares[size_t(r)];
  }
  for (const TensorBytes& t : tensors) {
    const auto expert = routed_expert_of(t.name);
    if (!expert || !p.is_moe_layer(expert->first)) {
      plan[0].dense_bytes += double(t.bytes);
      continue;
    }
    for (int32_t r : p.owners(expert->first, expert->second)) {
      plan[size_t(r)].expert_bytes += double(t.bytes);
    }
  }
  const int64_t cached_layers = c.num_hidden_layers + c.num_nextn_predict_layers;
  // V3.2 adds the indexer's key per token: index_head_dim FP8 codes and a float32 scale.
  const double index_bytes = c.has_indexer() ? double(c.index_head_dim + 4) : 0.0;
  plan[0].kv_bytes = double(cached_layers) *
                     (double(c.kv_cache_width()) * double(kv_value_bytes) + index_bytes) *
                     double(context);
  return plan;
}

namespace {

// log C(n, k)
double log_choose(int64_t n, int64_t k) {
  if (k < 0 || k > n) return -INFINITY;
  return std::lgamma(double(n + 1)) - std::lgamma(double(k + 1)) - std::lgamma(double(n - k + 1));
}

}  // namespace

TrafficEstimate estimate_traffic(const ModelConfig& c, const ExpertPlacement& p) {
  TrafficEstimate t;
  const int64_t n = c.n_routed_experts, k = c.num_experts_per_tok;
  const double row = double(c.hidden_size) * sizeof(float);
  int64_t layers = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (!p.is_moe_layer(l)) continue;
    ++layers;
    // Each expert counted at its first holder (copies only spread the same traffic).
    std::vector<int64_t> held(size_t(p.ranks()), 0);
    for (int64_t e = 0; e < n; ++e) ++held[size_t(p.owners(l, e).front())];
    for (int r = 1; r < p.ranks(); ++r) {
      // P(at least one of the k distinct chosen experts is held by r).
      const double none = std::exp(log_choose(n - held[size_t(r)], k) - log_choose(n, k));
      const double reach = 1.0 - none;
      const double pairs = double(k) * double(held[size_t(r)]) / double(n);
      t.ranks_per_layer += reach;
      t.bytes_per_token += reach * 2 * row + pairs * sizeof(ExpertPair);
    }
  }
  if (layers) t.ranks_per_layer /= double(layers);
  return t;
}

}  // namespace dsv3
