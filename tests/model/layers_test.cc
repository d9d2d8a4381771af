// Layer pieces against plain restatements of the formulas in spec/deepseek-v3.md.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <set>

#include "model/gate.h"
#include "support/golden.h"
#include "model/moe.h"
#include "model/rope.h"
#include "model/transformer.h"

namespace dsv3 {
namespace {

ModelConfig v3_like() {
  ModelConfig c;
  c.model_type = "deepseek_v3";
  c.qk_rope_head_dim = 64;
  c.rope_theta = 10000;
  c.rope_scaling = {.enabled = true, .factor = 40, .original_max_position_embeddings = 4096,
                    .beta_fast = 32, .beta_slow = 1, .mscale = 1, .mscale_all_dim = 1};
  c.n_routed_experts = 16;
  c.num_experts_per_tok = 4;
  c.n_group = 4;
  c.topk_group = 2;
  c.topk_method = TopkMethod::kNoauxTc;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  return c;
}

TEST(Rope, YarnFrequenciesFollowTheSpec) {
  const ModelConfig c = v3_like();
  const auto f = yarn_frequencies(c);
  const double dim = 64, base = 10000, L0 = 4096;
  auto corr = [&](double r) { return dim * std::log(L0 / (r * 2 * std::numbers::pi)) / (2 * std::log(base)); };
  const double low = std::max(std::floor(corr(32)), 0.0), high = std::min(std::ceil(corr(1)), dim - 1);
  ASSERT_EQ(f.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    const double inv = std::pow(base, -2.0 * i / dim);
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    const double want = inv / 40 * ramp + inv * (1 - ramp);
    EXPECT_NEAR(f[i], want, 1e-6 * want) << i;
  }
  // High-frequency pairs are untouched, low-frequency ones divided by the factor.
  EXPECT_NEAR(f[0], 1.0, 1e-7);
  EXPECT_NEAR(f[31], std::pow(base, -62.0 / 64) / 40, 1e-9);
}

TEST(Rope, RotatesInterleavedPairs) {
  ModelConfig c = v3_like();
  c.rope_scaling.enabled = false;
  c.qk_rope_head_dim = 4;
  RopeTable rope(c, 8);
  const float* cs = rope.at(3);
  // pair 0 has frequency 1 -> angle 3; pair 1 has 10000^-0.5 -> angle 0.03.
  EXPECT_NEAR(cs[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(cs[1], std::sin(3.0), 1e-6);
  EXPECT_NEAR(cs[2], std::cos(0.03), 1e-6);
  EXPECT_NEAR(cs[3], std::sin(0.03), 1e-6);
}

TEST(Gate, BiasSteersSelectionButNotWeights) {
  const ModelConfig c = v3_like();
  std::vector<float> logits(16), bias(16, 0.0f);
  for (int i = 0; i < 16; ++i) logits[i] = 0.1f * float(i);  // expert 15 best
  bias[0] = 10.0f;  // forces expert 0 in, and its group (0..3)
  int32_t ids[4];
  float w[4];
  std::vector<float> l = logits;
  route_one(c, bias.data(), l.data(), ids, w);
  std::set<int32_t> chosen(ids, ids + 4);
  EXPECT_TRUE(chosen.count(0));
  // Group 0 (0..3) wins by bias, group 3 (12..15) has the best two remaining scores.
  for (int32_t e : chosen) EXPECT_TRUE(e < 4 || e >= 12) << e;
  // Weights: unbiased sigmoid scores, normalised, times 2.5.
  double sum = 0;
  for (int j = 0; j < 4; ++j) sum += 1.0 / (1.0 + std::exp(-logits[ids[j]]));
  for (int j = 0; j < 4; ++j) {
    EXPECT_NEAR(w[j], 2.5 / (1.0 + std::exp(-logits[ids[j]])) / sum, 1e-6);
  }
}

TEST(Gate, GroupLimitKeepsOnlyTheBestGroups) {
  ModelConfig c = v3_like();
  c.topk_method = TopkMethod::kGroupLimitedGreedy;
  c.scoring_func = ScoringFunc::kSoftmax;
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 1.0;
  std::vector<float> logits(16, 0.0f);
  logits[1] = 5;   // group 0 max
  logits[6] = 4;   // group 1 max
  logits[7] = 3.9f;
  logits[5] = 3.8f;
  logits[13] = 4.5f;  // group 3 max (second best group by max)
  int32_t ids[4];
  float w[4];
  route_one(c, nullptr, logits.data(), ids, w);
  std::set<int32_t> chosen(ids, ids + 4);
  // Best groups by max: group 0 (5), group 3 (4.5). Group 1's 4, 3.9, 3.8 are excluded.
  for (int32_t e : chosen) EXPECT_TRUE(e < 4 || e >= 12) << e;
  EXPECT_TRUE(chosen.count(1) && chosen.count(13));
}

TEST(Moe, GroupedByExpertEqualsPerToken) {
  testing::GoldenCase g("v3-tiny");
  auto m = Model::load(g.checkpoint_dir(), {.max_positions = 64});
  ASSERT_TRUE(m.ok()) << m.error().message;
  const Model& model = *m.value();
  const auto& c = model.config();
  const int64_t T = 9;
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0, 1);
  std::vector<float> x(T * c.hidden_size), a(x.size()), b(x.size());
  for (float& v : x) v = dist(rng);
  Arena arena;
  LayerContext ctx{.config = &c, .arena = &arena, .layer = 1};
  const MoeWeights& w = model.weights().layers[1].moe;
  moe_forward(ctx, w, x.data(), T, a.data());
  moe_forward_per_token(ctx, w, x.data(), T, b.data());
  EXPECT_LT(testing::max_abs_diff(a.data(), b.data(), a.size()), 1e-5f);
}

}  // namespace
}  // namespace dsv3
