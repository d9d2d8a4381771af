// Every backward pass against central finite differences of its forward, in double precision
// (the same templated code as the float trainer, on dgemm), on the micro model: each layer
// alone, then the whole model's loss with MTP and the balance loss on.
#include <gtest/gtest.h>

#include "micro_model.h"
#include "train/block.h"
#include "train/loss.h"
#include "train/mla.h"
#include "train/moe.h"
#include "train/mtp.h"
#include "train/norm.h"
#include "train/transformer.h"

namespace dsv3::train {
namespace {

using testing::check_gradient;
using testing::check_params;
using testing::dot;
using testing::micro_config;
using testing::MicroModel;
using testing::random_tokens;
using testing::random_vector;

constexpr int64_t kBatch = 2, kSeq = 8, kTokens = kBatch * kSeq;
constexpr int kSamples = 12;  // entries checked per tensor

TEST(GradCheck, RmsNorm) {
  MicroModel<double> m(micro_config(), kBatch, kSeq, 0.2, 1);
  const int64_t d = m.config.hidden_size;
  std::vector<double> x = random_vector(kTokens * d, 1.0, 2), r = random_vector(kTokens * d, 1.0, 3);
  std::vector<double> y(kTokens * d), rstd(kTokens), dx(kTokens * d);
  double* w = m.w.norm;
  auto loss = [&] {
    rmsnorm_forward(m.ctx, x.data(), w, kTokens, d, y.data(), rstd.data());
    return dot(r, y.data());
  };
  loss();
  rmsnorm_backward<double>(m.ctx, {.x = x.data(), .w = w, .rstd = rstd.data(), .dy = r.data(),
                                   .rows = kTokens, .n = d, .dx = dx.data(), .dw = m.g.norm});
  check_params(m, "model.norm.", kSamples, loss);
  check_gradient("x", x.data(), dx.data(), kTokens * d, kSamples, loss);
}

TEST(GradCheck, DenseMlp) {
  MicroModel<double> m(micro_config(), kBatch, kSeq, 0.2, 4);
  const int64_t d = m.config.hidden_size, inter = m.config.intermediate_size;
  std::vector<double> x = random_vector(kTokens * d, 1.0, 5), r = random_vector(kTokens * d, 1.0, 6);
  std::vector<double> y(kTokens * d), gu(kTokens * 2 * inter), act(kTokens * inter);
  std::vector<double> dx(kTokens * d), work(kTokens * 2 * inter);
  const MlpParams<double>& w = m.w.layers[0].mlp;
  auto loss = [&] {
    mlp_forward(&m.pool, w, d, x.data(), kTokens, {.gate_up = gu.data(), .act = act.data()},
                y.data());
    return dot(r, y.data());
  };
  loss();
  mlp_backward<double>(&m.pool, {.w = &w, .grad = &m.g.layers[0].mlp, .hidden = d,
                                 .rows = kTokens, .x = x.data(), .gate_up = gu.data(),
                                 .act = act.data(), .dy = r.data(), .dx = dx.data(),
                                 .work = work.data()});
  check_params(m, "model.layers.0.mlp.", kSamples, loss);
  check_gradient("x", x.data(), dx.data(), kTokens * d, kSamples, loss);
}

void check_attention(const ModelConfig& c, uint64_t seed, int64_t block) {
  MicroModel<double> m(c, kBatch, kSeq, 0.3, seed);
  m.ctx.attention_block = block;
  const int64_t d = m.config.hidden_size;
  std::vector<double> x = random_vector(kTokens * d, 1.0, seed + 1);
  std::vector<double> r = random_vector(kTokens * d, 1.0, seed + 2);
  std::vector<double> y(kTokens * d), dx(kTokens * d);
  MlaActivations<double> act;
  auto loss = [&] {
    mla_forward(m.ctx, m.w.layers[0].attn, x.data(), act, y.data());
    return dot(r, y.data());
  };
  loss();
  mla_backward<double>(m.ctx, {.w = &m.w.layers[0].attn, .grad = &m.g.layers[0].attn,
                               .x = x.data(), .act = &act, .dout = r.data(), .dx = dx.data()});
  check_params(m, "model.layers.0.self_attn.", kSamples, loss);
  check_gradient("x", x.data(), dx.data(), kTokens * d, kSamples, loss);
}

TEST(GradCheck, Mla) { check_attention(micro_config(), 10, 64); }

// Causal blocks of 3 query rows over 8 tokens: full, partial and diagonal blocks.
TEST(GradCheck, MlaCausalBlocks) { check_attention(micro_config(), 11, 3); }

TEST(GradCheck, MlaWithoutQueryCompression) { check_attention(micro_config(1, 0), 20, 4); }

TEST(GradCheck, MoeWithBalanceLoss) {
  MicroModel<double> m(micro_config(), kBatch, kSeq, 0.3, 30);
  const int64_t d = m.config.hidden_size;
  const double alpha = 0.1;
  std::vector<double> x = random_vector(kTokens * d, 1.0, 31), r = random_vector(kTokens * d, 1.0, 32);
  std::vector<double> y(kTokens * d), dx(kTokens * d);
  MoeActivations<double> act;
  const float* bias = m.bias[1].data();
  auto loss = [&] {
    const double balance = moe_forward(m.ctx, m.w.layers[1].moe, bias, alpha, x.data(), act,
                                       y.data());
    return dot(r, y.data()) + balance;
  };
  const double l0 = loss();
  EXPECT_GT(l0 - dot(r, y.data()), 0.0) << "balance loss should be positive";
  moe_backward<double>(m.ctx, {.w = &m.w.layers[1].moe, .grad = &m.g.layers[1].moe,
                               .x = x.data(), .act = &act, .balance_alpha = alpha,
                               .dout = r.data(), .dx = dx.data()});
  check_params(m, "model.layers.1.mlp.", kSamples, loss);
  check_gradient("x", x.data(), dx.data(), kTokens * d, kSamples, loss);
}

// DeepSeek-V2 routing: softmax affinities, group-limited greedy (max per group), no bias, no
// renormalisation, scaling 16.
TEST(GradCheck, MoeSoftmaxRouting) {
  std::string json = testing::micro_config_json();
  for (auto [from, to] : {std::pair<std::string, std::string>{"\"deepseek_v3\"", "\"deepseek_v2\""},
                          {"\"noaux_tc\"", "\"group_limited_greedy\""},
                          {"\"sigmoid\"", "\"softmax\""},
                          {"\"norm_topk_prob\": true", "\"norm_topk_prob\": false"},
                          {"2.5", "16.0"}}) {
    json.replace(json.find(from), from.size(), to);
  }
  Result<ModelConfig> c = parse_model_config(json, "micro-v2");
  ASSERT_TRUE(c.ok()) << c.error().message;
  MicroModel<double> m(*c, kBatch, kSeq, 0.3, 35);
  ASSERT_TRUE(m.bias[1].empty());
  const int64_t d = m.config.hidden_size;
  std::vector<double> x = random_vector(kTokens * d, 1.0, 36), r = random_vector(kTokens * d, 0.1, 37);
  std::vector<double> y(kTokens * d), dx(kTokens * d);
  MoeActivations<double> act;
  auto loss = [&] {
    return moe_forward(m.ctx, m.w.layers[1].moe, nullptr, 0.1, x.data(), act, y.data()) +
           dot(r, y.data());
  };
  loss();
  moe_backward<double>(m.ctx, {.w = &m.w.layers[1].moe, .grad = &m.g.layers[1].moe,
                               .x = x.data(), .act = &act, .balance_alpha = 0.1,
                               .dout = r.data(), .dx = dx.data()});
  check_params(m, "model.layers.1.mlp.", kSamples, loss);
  check_gradient("x", x.data(), dx.data(), kTokens * d, kSamples, loss);
}

TEST(GradCheck, MoeBlock) {
  MicroModel<double> m(micro_config(), kBatch, kSeq, 0.3, 40);
  const int64_t d = m.config.hidden_size;
  std::vector<double> x = random_vector(kTokens * d, 1.0, 41), r = random_vector(kTokens * d, 1.0, 42);
  std::vector<double> y(kTokens * d), dx(kTokens * d);
  BlockActivations<double> act;
  auto loss = [&] {
    block_forward(m.ctx, m.w.layers[1], m.bias[1].data(), 0.0, x.data(), act, y.data());
    return dot(r, y.data());
  };
  loss();
  block_backward<double>(m.ctx, {.w = &m.w.layers[1], .grad = &m.g.layers[1], .x_in = x.data(),
                                 .act = &act, .dx_out = r.data(), .dx_in = dx.data()});
  check_params(m, "model.layers.1.", kSamples, loss);
  check_gradient("x", x.data(), dx.data(), kTokens * d, kSamples, loss);
}

TEST(GradCheck, HeadCrossEntropy) {
  MicroModel<double> m(micro_config(), kBatch, kSeq, 0.3, 50);
  const int64_t d = m.config.hidden_size;
  std::vector<double> h = random_vector(kTokens * d, 1.0, 51), dh(kTokens * d);
  const std::vector<int32_t> targets = random_tokens(kTokens, m.config.vocab_size, 52);
  const double scale = 0.7;
  auto loss = [&] {
    return scale * head_cross_entropy<double>(m.ctx, {.h = h.data(), .head = m.w.head,
                                                      .targets = targets.data(),
                                                      .rows = kTokens});
  };
  head_cross_entropy<double>(m.ctx, {.h = h.data(), .head = m.w.head, .targets = targets.data(),
                                     .rows = kTokens, .grad_scale = scale, .dh = dh.data(),
                                     .dhead = m.g.head});
  check_params(m, "lm_head.", kSamples, loss);
  check_gradient("h", h.data(), dh.data(), kTokens * d, kSamples, loss);
}

TEST(GradCheck, MtpModule) {
  MicroModel<double> m(micro_config(), kBatch, kSeq, 0.3, 60);
  const int64_t d = m.config.hidden_size;
  std::vector<double> h = random_vector(kTokens * d, 1.0, 61), r = random_vector(kTokens * d, 1.0, 62);
  std::vector<double> dyn(kTokens * d), dh(kTokens * d, 0.0);
  const std::vector<int32_t> tokens = random_tokens(kTokens, m.config.vocab_size, 63);
  MtpActivations<double> act;
  const MtpInputs in{.tokens = tokens.data(), .bias = m.bias[2].data(), .balance_alpha = 0.05};
  auto loss = [&] {
    const double balance = mtp_forward(m.ctx, m.w.mtp[0], m.w.embed, in, h.data(), act);
    return dot(r, act.yn.data()) + balance;
  };
  loss();
  dyn.assign(r.begin(), r.end());
  mtp_backward<double>(m.ctx, {.w = &m.w.mtp[0], .grad = &m.g.mtp[0], .embed_grad = m.g.embed,
                               .h = h.data(), .act = &act, .balance_alpha = 0.05,
                               .dyn = dyn.data(), .dh = dh.data()});
  check_params(m, "model.layers.2.", kSamples, loss);
  check_params(m, "model.embed_tokens.", kSamples, loss);
  check_gradient("h", h.data(), dh.data(), kTokens * d, kSamples, loss);
}

// The whole model: next-token loss + MTP loss (lambda 0.3) + balance loss, every tensor.
// With mtp_learns_main_model the MTP targets are the main model's argmaxes: constant under
// the checker's tiny steps, so the same gradient formulas hold.
void check_whole_model(int64_t mtp_depth, uint64_t seed, bool mtp_learns_main_model = false) {
  MicroModel<double> m(micro_config(mtp_depth), kBatch, kSeq, 0.2, seed);
  const int64_t W = window_length(m.config, kSeq);
  const std::vector<int32_t> windows = random_tokens(kBatch * W, m.config.vocab_size, seed + 1);
  const LossOptions opt{.mtp_weight = 0.3, .balance_alpha = 0.01, .grad_scale = 1.0,
                        .mtp_learns_main_model = mtp_learns_main_model};
  ModelActivations<double> act;
  auto loss = [&] {
    return model_forward_backward(m.ctx, m.w, m.bias, windows.data(), opt, act,
                                  static_cast<ModelParams<double>*>(nullptr))
        .total;
  };
  const LossReport report =
      model_forward_backward(m.ctx, m.w, m.bias, windows.data(), opt, act, &m.g);
  EXPECT_NEAR(report.total, loss(), 1e-12);
  ASSERT_EQ(report.mtp.size(), size_t(mtp_depth));
  EXPECT_GT(report.balance, 0.0);
  check_params(m, "", 6, loss);
}

TEST(GradCheck, WholeModel) { check_whole_model(1, 70); }

// Two MTP depths: depth 2 reads depth 1's shared_head.norm output and predicts 3 ahead.
TEST(GradCheck, WholeModelTwoMtpDepths) { check_whole_model(2, 80); }

TEST(GradCheck, WholeModelMtpLearningTheMainModel) { check_whole_model(2, 90, true); }

}  // namespace
}  // namespace dsv3::train
