#include "model/gate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/kernels.h"

namespace dsv3 {

namespace {

// Masks all but the topk_group best groups of `biased` [N] to -inf.
void limit_to_best_groups(const ModelConfig& c, float* biased) {
  const int64_t n_group = c.n_group, per_group = c.n_routed_experts / c.n_group;
  float group_score[256];
  int32_t best[256];
  DSV3_CHECK(n_group <= 256, "n_group %ld", long(n_group));
  for (int64_t g = 0; g < n_group; ++g) {
    const float* s = biased + g * per_group;
    if (c.topk_method == TopkMethod::kNoauxTc) {  // sum of the two best (V3)
      int32_t top2[2];
      kernels::topk(s, per_group, 2, top2);
      group_score[g] = s[top2[0]] + s[top2[1]];
    } else {  // the best one (V2 group_limited_greedy)
      group_score[g] = *std::max_element(s, s + per_group);
    }
  }
  kernels::topk(group_score, n_group, c.topk_group, best);
  for (int64_t g = 0; g < n_group; ++g) {
    if (std::find(best, best + c.topk_group, int32_t(g)) != best + c.topk_group) continue;
    std::fill_n(biased + g * per_group, per_group, -std::numeric_limits<float>::infinity());
  }
}

}  // namespace

void route_one(const ModelConfig& c, const float* bias, float* logits, int32_t* ids,
               float* weights) {
  const int64_t n = c.n_routed_experts, k = c.num_experts_per_tok;
  float* scores = logits;  // becomes the affinities in place
  if (c.scoring_func == ScoringFunc::kSigmoid) {
    for (int64_t i = 0; i < n; ++i) scores[i] = 1.0f / (1.0f + std::exp(-scores[i]));
  } else {
    kernels::softmax(scores, n);
  }
  float biased[1024];
  DSV3_CHECK(n <= 1024, "n_routed_experts %ld", long(n));
  for (int64_t i = 0; i < n; ++i) biased[i] = scores[i] + (bias ? bias[i] : 0.0f);
  if (c.n_group > 1 && c.topk_method != TopkMethod::kGreedy) limit_to_best_groups(c, biased);
  kernels::topk(biased, n, k, ids);
  float sum = 0;
  for (int64_t j = 0; j < k; ++j) {
    weights[j] = scores[ids[j]];
    sum += weights[j];
  }
  const float norm = c.norm_topk_prob ? 1.0f / sum : 1.0f;
  for (int64_t j = 0; j < k; ++j) weights[j] *= norm * float(c.routed_scaling_factor);
}

void route_tokens(const LayerContext& ctx, const GateWeights& g, const float* x, int64_t T,
                  int32_t* ids, float* weights, float* scores_out) {
  const ModelConfig& c = *ctx.config;
  const int64_t n = c.n_routed_experts, k = c.num_experts_per_tok;
  Arena::Mark mark(*ctx.arena);
  float* logits = ctx.arena->floats(T * n);
  kernels::matmul(g.weight, x, T, logits);
  const float* bias = g.bias.empty() ? nullptr : g.bias.data();
  for (int64_t t = 0; t < T; ++t) {
    route_one(c, bias, logits + t * n, ids + t * k, weights + t * k);
  }
  if (scores_out) std::copy_n(logits, T * n, scores_out);
}

}  // namespace dsv3
