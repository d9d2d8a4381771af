// The tensor table against the real layouts: the golden checkpoints (written by the
// reference code, tests/data/golden) hold exactly its tensors, `dsv3 synth` writes exactly
// them, and the parameter counts are its sums.
#include "model/tensor_table.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "io/checkpoint.h"
#include "model/presets.h"
#include "model/synth.h"
#include "support/param_names.h"

namespace dsv3 {
namespace {

using Shapes = std::map<std::string, std::vector<int64_t>>;

std::string golden_dir(const std::string& name) {
  return std::string(DSV3_TEST_DATA_DIR) + "/golden/" + name + "/checkpoint";
}

int64_t blocks(int64_t n, int64_t b) { return (n + b - 1) / b; }

class GoldenTable : public ::testing::TestWithParam<const char*> {};

// Both directions: every table entry is in the checkpoint with its shape, and every
// checkpoint tensor is a table entry or the FP8 scales of one.
TEST_P(GoldenTable, MatchesTheCheckpointExactly) {
  const ModelConfig c = load_model_config(golden_dir(GetParam())).value();
  const Checkpoint ck = Checkpoint::open(golden_dir(GetParam())).value();
  Shapes table;
  for (const TensorEntry& e : tensor_table(c)) {
    EXPECT_TRUE(table.emplace(e.name, e.shape).second) << "duplicate " << e.name;
  }
  Shapes weights;
  for (const auto& [name, t] : ck.tensors()) {
    const auto scaled = fp8_scaled_weight_of(name);
    if (!scaled) {
      weights[name] = t.shape;
      continue;
    }
    ASSERT_TRUE(table.count(*scaled)) << name << " scales no table entry";
    const std::vector<int64_t>& w = table[*scaled];
    const int64_t b = c.fp8_block_size;
    EXPECT_EQ(t.shape, (std::vector<int64_t>{blocks(w[0], b), blocks(w[1], b)})) << name;
  }
  EXPECT_EQ(weights, table);
}

// An FP8 checkpoint stores exactly the table's fp8_in_release matrices as F8_E4M3 with
// scales; a BF16 one none.
TEST_P(GoldenTable, Fp8MatricesAreTheReleaseOnes) {
  const ModelConfig c = load_model_config(golden_dir(GetParam())).value();
  const Checkpoint ck = Checkpoint::open(golden_dir(GetParam())).value();
  for (const TensorEntry& e : tensor_table(c)) {
    const bool fp8 = c.fp8_block_quantized && e.fp8_in_release;
    const TensorView t = ck.get(e.name).value();
    EXPECT_EQ(t.dtype == DType::kF8E4M3, fp8) << e.name;
    EXPECT_EQ(ck.has(fp8_scales_name(e.name)), fp8) << e.name;
  }
}

TEST_P(GoldenTable, ParameterCountIsTheCheckpointsElements) {
  const ModelConfig c = load_model_config(golden_dir(GetParam())).value();
  const Checkpoint ck = Checkpoint::open(golden_dir(GetParam())).value();
  int64_t elements = 0, mtp = 0;
  for (const auto& [name, t] : ck.tensors()) {
    if (fp8_scaled_weight_of(name)) continue;
    elements += t.numel();
    const std::string mtp_prefix = "model.layers." + std::to_string(c.num_hidden_layers) + ".";
    if (c.num_nextn_predict_layers > 0 && name.starts_with(mtp_prefix)) mtp += t.numel();
  }
  const ParameterCounts p = count_parameters(c);
  EXPECT_EQ(p.total, elements);
  EXPECT_EQ(p.mtp, mtp);
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTable, ::testing::Values("v3-tiny", "v2lite-tiny", "v32-tiny"),
                         testing::golden_case_test_name);

// synth writes the table in its order, each FP8 matrix followed by its scales, for every
// preset in both dtypes.
TEST(TensorTable, SynthWritesExactlyTheTable) {
  for (const PresetInfo& p : list_presets()) {
    for (bool fp8 : {false, true}) {
      ModelConfig c = preset_config(p.name).value();
      c.fp8_block_quantized = fp8;
      const std::vector<TensorEntry> table = tensor_table(c);
      const std::vector<SynthTensor> written = synth_tensors(c);
      size_t w = 0;
      for (const TensorEntry& e : table) {
        ASSERT_LT(w, written.size()) << p.name;
        EXPECT_EQ(written[w].spec.name, e.name) << p.name;
        EXPECT_EQ(written[w].spec.shape, e.shape) << e.name;
        ++w;
        if (fp8 && e.fp8_in_release) {
          ASSERT_LT(w, written.size());
          EXPECT_EQ(written[w].spec.name, fp8_scales_name(e.name));
          EXPECT_EQ(written[w].fill, SynthFill::kScaleInv);
          ++w;
        }
      }
      EXPECT_EQ(w, written.size()) << p.name << (fp8 ? " fp8" : " bf16");
    }
  }
}

TEST(TensorTable, ParameterCountsAreSumsOverTheTable) {
  for (const PresetInfo& p : list_presets()) {
    const ModelConfig c = preset_config(p.name).value();
    int64_t total = 0, mtp = 0, routed = 0;
    for (const TensorEntry& e : tensor_table(c)) {
      total += e.numel();
      if (e.mtp) mtp += e.numel();
      if (!e.mtp && is_routed_expert(e.role)) routed += e.numel();
    }
    const ParameterCounts counts = count_parameters(c);
    EXPECT_EQ(counts.total, total) << p.name;
    EXPECT_EQ(counts.mtp, mtp) << p.name;
    // Active: everything of the main model but the embedding and the routed experts not chosen.
    const int64_t unchosen =
        c.n_routed_experts > 0
            ? routed - routed * c.num_experts_per_tok / c.n_routed_experts
            : 0;
    EXPECT_EQ(counts.active_per_token, total - mtp - counts.embedding - unchosen +
                                           (c.tie_word_embeddings ? counts.embedding : 0))
        << p.name;
  }
}

// Entries carry their layer, expert and MTP membership, which expert parallelism selects by.
TEST(TensorTable, RoutedExpertsCarryTheirLayerAndIndex) {
  const ModelConfig c = load_model_config(golden_dir("v3-tiny")).value();
  int64_t experts = 0;
  for (const TensorEntry& e : tensor_table(c)) {
    const auto parsed = routed_expert_of(e.name);
    EXPECT_EQ(parsed.has_value(), is_routed_expert(e.role)) << e.name;
    if (parsed) {
      ++experts;
      EXPECT_EQ(*parsed, std::pair(e.layer, e.expert)) << e.name;
      EXPECT_EQ(e.mtp, e.layer >= c.num_hidden_layers) << e.name;
    }
    EXPECT_EQ(routed_expert_of(fp8_scales_name(e.name)), parsed) << e.name;
  }
  int64_t moe_layers = c.num_nextn_predict_layers;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) moe_layers += c.is_moe_layer(l);
  EXPECT_EQ(experts, 3 * c.n_routed_experts * moe_layers);
}

// Every name the table gives reads back as its role, layer and expert, in both namings.
TEST_P(GoldenTable, NamesReadBackInBothNamings) {
  const ModelConfig c = load_model_config(golden_dir(GetParam())).value();
  std::set<std::string> gguf_names;
  int64_t without_gguf = 0;
  for (const TensorEntry& e : tensor_table(c)) {
    const auto hf = parse_tensor_name(e.name);
    ASSERT_TRUE(hf.has_value()) << e.name;
    EXPECT_EQ(hf->role, e.role) << e.name;
    EXPECT_EQ(hf->layer, e.layer) << e.name;
    EXPECT_EQ(hf->expert, e.expert) << e.name;
    EXPECT_EQ(tensor_name(e.role, e.layer, e.expert), e.name);
    const auto gguf = gguf_tensor_name(e.role, e.layer);
    if (!gguf) {
      ++without_gguf;
      continue;
    }
    const auto back = parse_gguf_tensor_name(*gguf);
    ASSERT_TRUE(back.has_value()) << *gguf;
    EXPECT_EQ(back->role, e.role) << *gguf;
    EXPECT_EQ(back->layer, e.layer) << *gguf;
    EXPECT_EQ(back->expert, -1) << *gguf;
    EXPECT_FALSE(back->kv_b_half.has_value()) << *gguf;
    // One GGUF tensor per table entry, except a layer's routed experts of one role: stacked.
    EXPECT_EQ(gguf_names.insert(*gguf).second, !is_routed_expert(e.role) || e.expert == 0) << *gguf;
  }
  // Only V3.2's indexer has no llama.cpp name.
  EXPECT_EQ(without_gguf,
            c.has_indexer() ? 5 * (c.num_hidden_layers + c.num_nextn_predict_layers) : 0);
}

TEST(TensorTable, GgufNamesAreLlamaCpps) {
  EXPECT_EQ(gguf_tensor_name(TensorRole::kEmbedding), "token_embd.weight");
  EXPECT_EQ(gguf_tensor_name(TensorRole::kHead), "output.weight");
  EXPECT_EQ(gguf_tensor_name(TensorRole::kKvA, 3), "blk.3.attn_kv_a_mqa.weight");
  EXPECT_EQ(gguf_tensor_name(TensorRole::kRouterBias, 5), "blk.5.exp_probs_b.bias");
  EXPECT_EQ(gguf_tensor_name(TensorRole::kExpertDownProj, 2), "blk.2.ffn_down_exps.weight");
  EXPECT_EQ(gguf_tensor_name(TensorRole::kMtpHead, 61), "blk.61.nextn.shared_head_head.weight");
  EXPECT_EQ(gguf_tensor_name(TensorRole::kIndexerK, 0), std::nullopt);
  for (const KvBHalf half : {KvBHalf::kK, KvBHalf::kV}) {
    const std::string name = gguf_kv_b_half_name(4, half);
    EXPECT_EQ(name, half == KvBHalf::kK ? "blk.4.attn_k_b.weight" : "blk.4.attn_v_b.weight");
    const auto part = parse_gguf_tensor_name(name);
    ASSERT_TRUE(part.has_value()) << name;
    EXPECT_EQ(part->role, TensorRole::kKvB);
    EXPECT_EQ(part->layer, 4);
    EXPECT_EQ(part->kv_b_half, half);
  }
  for (const char* name : {"blk.x.attn_q.weight", "blk.0.attn_mystery.weight", "blk.0.",
                           "blk.0.input_layernorm.weight", "token_embd", "model.norm.weight"}) {
    EXPECT_FALSE(parse_gguf_tensor_name(name).has_value()) << name;
  }
  for (const char* name : {"model.layers.0.self_attn.q_a_proj.weight_scale_inv",
                           "model.layers.0.mlp.experts.1.gate.weight", "blk.0.attn_norm.weight",
                           "model.layers.0.model.norm.weight", "model.layers.0.gate_proj.weight",
                           "token_embd.weight"}) {
    EXPECT_FALSE(parse_tensor_name(name).has_value()) << name;
  }
}

TEST(TensorTable, Fp8ScalesNames) {
  EXPECT_EQ(fp8_scales_name("model.layers.0.self_attn.o_proj.weight"),
            "model.layers.0.self_attn.o_proj.weight_scale_inv");
  EXPECT_EQ(fp8_scaled_weight_of("model.layers.0.self_attn.o_proj.weight_scale_inv"),
            "model.layers.0.self_attn.o_proj.weight");
  EXPECT_EQ(fp8_scaled_weight_of("model.layers.0.self_attn.o_proj.weight"), std::nullopt);
  EXPECT_EQ(fp8_scaled_weight_of("x_scale_inv"), std::nullopt);
}

}  // namespace
}  // namespace dsv3
