// Shared fixtures of the training tests: a micro DeepSeek-V3-shaped config (2 layers, dense
// then MoE, 4 experts in 2 groups, MTP on), a model of it in double or float, and a central
// finite-difference checker. Header-only: the test binary is built from *_test.cc files.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/rope.h"
#include "train/blas.h"
#include "train/context.h"
#include "train/params.h"
#include "train/rng.h"

namespace dsv3::train::testing {

inline std::string micro_config_json(int64_t mtp_layers = 1, int64_t q_lora = 16) {
  return R"({
    "model_type": "deepseek_v3", "vocab_size": 64, "hidden_size": 32,
    "intermediate_size": 48, "moe_intermediate_size": 16, "num_hidden_layers": 2,
    "first_k_dense_replace": 1, "num_attention_heads": 2, "n_routed_experts": 4,
    "num_experts_per_tok": 2, "n_shared_experts": 1, "n_group": 2, "topk_group": 1,
    "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": true,
    "routed_scaling_factor": 2.5, "q_lora_rank": )" +
         (q_lora > 0 ? std::to_string(q_lora) : std::string("null")) + R"(,
    "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8,
    "num_nextn_predict_layers": )" +
         std::to_string(mtp_layers) + R"(, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4,
                     "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
    "max_position_embeddings": 64})";
}

inline ModelConfig micro_config(int64_t mtp_layers = 1, int64_t q_lora = 16) {
  Result<ModelConfig> c = parse_model_config(micro_config_json(mtp_layers, q_lora), "micro");
  DSV3_CHECK(c.ok(), "%s", c.error().message.c_str());
  return c.value();
}

// A model's parameters, gradients, router biases and everything a forward needs.
template <typename T>
struct MicroModel {
  ModelConfig config;
  ParamLayout layout;
  std::vector<T> values, grads;
  ModelParams<T> w, g;
  RouterBiases bias;
  std::unique_ptr<RopeTable> rope;
  ThreadPool pool{2};
  Arena arena;
  TrainContext ctx;

  // Matrices ~ N(0, init_std); norm weights 1 + N(0, 0.1) so their gradients are exercised;
  // router biases N(0, 0.05) so selection differs from the unbiased order.
  MicroModel(const ModelConfig& c, int64_t batch, int64_t seq, double init_std, uint64_t seed)
      : config(c), layout(make_layout(c)) {
    init_blas();
    std::vector<float> f(layout.total, 0.0f);
    init_params(layout, f.data(), init_std, seed);
    Rng rng(seed + 1);
    for (const ParamInfo& p : layout.params) {
      if (p.kind != ParamKind::kNorm) continue;
      for (int64_t i = 0; i < p.numel; ++i) f[p.offset + i] += float(0.1 * rng.normal());
    }
    values.assign(f.begin(), f.end());
    grads.assign(layout.total, T(0));
    w = bind_params(config, values.data());
    g = bind_params(config, grads.data());
    bias = make_router_biases(config);
    for (auto& b : bias) {
      for (float& v : b) v = float(0.05 * rng.normal());
    }
    rope = std::make_unique<RopeTable>(config, seq);
    ctx = {.config = &config, .rope = rope.get(), .pool = &pool, .arena = &arena,
           .batch = batch, .seq = seq};
  }

  const ParamInfo& param(const std::string& name) const {
    const ParamInfo* p = layout.find(name);
    DSV3_CHECK(p, "no parameter %s", name.c_str());
    return *p;
  }
};

inline std::vector<double> random_vector(int64_t n, double scale, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> v(n);
  for (double& x : v) x = scale * rng.normal();
  return v;
}

inline std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(n);
  for (int32_t& t : v) t = int32_t(rng.below(uint64_t(vocab)));
  return v;
}

// Central differences in double precision: step 1e-5 gives truncation error ~1e-10 and
// rounding error ~1e-11 * |loss|, far below the tolerance.
inline constexpr double kFiniteDifferenceStep = 1e-5;
// |analytic - numeric| <= kGradTolerance * max(1e-2, |analytic|, |numeric|).
inline constexpr double kGradTolerance = 1e-5;

// Compares grad[i] with (loss(v_i + h) - loss(v_i - h)) / 2h for up to `samples` indices of
// [begin, begin + count) of `values` (all of them when count <= samples). Returns the number
// of mismatches (each reported as a test failure naming `what` and the index).
inline int check_gradient(const std::string& what, double* values, const double* grad,
                          int64_t count, int samples, const std::function<double()>& loss,
                          uint64_t seed = 7) {
  Rng rng(seed ^ hash_name(what));
  int bad = 0;
  const int64_t n = std::min<int64_t>(count, samples);
  for (int64_t s = 0; s < n; ++s) {
    const int64_t i = count <= samples ? s : int64_t(rng.below(uint64_t(count)));
    const double saved = values[i];
    values[i] = saved + kFiniteDifferenceStep;
    const double up = loss();
    values[i] = saved - kFiniteDifferenceStep;
    const double down = loss();
    values[i] = saved;
    const double numeric = (up - down) / (2 * kFiniteDifferenceStep);
    const double scale = std::max({1e-2, std::abs(grad[i]), std::abs(numeric)});
    if (std::abs(grad[i] - numeric) > kGradTolerance * scale) {
      ++bad;
      ADD_FAILURE() << what << "[" << i << "]: analytic " << grad[i] << ", numeric " << numeric;
    }
  }
  return bad;
}

// Checks every parameter whose name starts with `prefix`, `samples` entries each.
inline void check_params(MicroModel<double>& m, const std::string& prefix, int samples,
                         const std::function<double()>& loss) {
  int checked = 0;
  for (const ParamInfo& p : m.layout.params) {
    if (p.name.compare(0, prefix.size(), prefix) != 0) continue;
    check_gradient(p.name, m.values.data() + p.offset, m.grads.data() + p.offset, p.numel,
                   samples, loss);
    ++checked;
  }
  EXPECT_GT(checked, 0) << "no parameter starts with " << prefix;
}

inline double dot(const std::vector<double>& a, const double* b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace dsv3::train::testing
