#include "model/presets.h"

namespace dsv3 {

namespace {

// YaRN as the V3 release (and V2) configure it: 40x the 4096 positions of pre-training.
YarnConfig v3_yarn(double mscale) {
  return {.enabled = true, .factor = 40.0, .original_max_position_embeddings = 4096,
          .beta_fast = 32.0, .beta_slow = 1.0, .mscale = mscale, .mscale_all_dim = mscale};
}

// Routing, norms and RoPE of DeepSeek-V3: sigmoid scores with the aux-loss-free bias
// (noaux_tc), normalised top-k weights scaled by 2.5, YaRN factor 40.
ModelConfig v3_family() {
  ModelConfig c;
  c.model_type = "deepseek_v3";
  c.topk_method = TopkMethod::kNoauxTc;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  c.qk_nope_head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.v_head_dim = 128;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000.0;
  c.rope_scaling = v3_yarn(1.0);
  c.max_position_embeddings = 163840;
  c.num_nextn_predict_layers = 1;
  c.moe_layer_freq = 1;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  return c;
}

// The shape of tests/data/golden/v3-tiny (without its FP8 quantization_config).
ModelConfig tiny() {
  ModelConfig c = v3_family();
  c.vocab_size = 2048;
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.moe_intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.first_k_dense_replace = 1;
  c.num_attention_heads = 4;
  c.n_routed_experts = 16;
  c.num_experts_per_tok = 4;
  c.n_shared_experts = 1;
  c.n_group = 4;
  c.topk_group = 2;
  c.q_lora_rank = 192;
  c.kv_lora_rank = 128;
  c.qk_nope_head_dim = 32;
  c.qk_rope_head_dim = 16;
  c.v_head_dim = 32;
  return c;
}

ModelConfig train_small() {
  ModelConfig c = v3_family();
  c.vocab_size = 4096;
  c.hidden_size = 256;
  c.intermediate_size = 768;
  c.moe_intermediate_size = 128;
  c.num_hidden_layers = 4;
  c.first_k_dense_replace = 1;
  c.num_attention_heads = 4;
  c.n_routed_experts = 16;
  c.num_experts_per_tok = 4;
  c.n_shared_experts = 1;
  c.n_group = 4;
  c.topk_group = 2;
  c.q_lora_rank = 128;
  c.kv_lora_rank = 64;
  c.qk_nope_head_dim = 32;
  c.qk_rope_head_dim = 16;
  c.v_head_dim = 32;
  return c;
}

// The benchmark model: 1.69 B parameters (2.04 B with the MTP layer), ~390 M
// active per token, 781 MB read per decoded token in BF16.
ModelConfig bench_moe() {
  ModelConfig c = v3_family();
  c.vocab_size = 32000;
  c.hidden_size = 2048;
  c.intermediate_size = 5632;
  c.moe_intermediate_size = 512;
  c.num_hidden_layers = 8;
  c.first_k_dense_replace = 1;
  c.num_attention_heads = 16;
  c.n_routed_experts = 64;
  c.num_experts_per_tok = 8;
  c.n_shared_experts = 1;
  c.n_group = 8;
  c.topk_group = 4;
  c.q_lora_rank = 768;
  c.kv_lora_rank = 512;
  return c;
}

// deepseek-ai/DeepSeek-V2-Lite (spec/deepseek-v3.md, section 1).
ModelConfig v2_lite() {
  ModelConfig c;
  c.model_type = "deepseek_v2";
  c.vocab_size = 102400;
  c.hidden_size = 2048;
  c.intermediate_size = 10944;
  c.moe_intermediate_size = 1408;
  c.num_hidden_layers = 27;
  c.first_k_dense_replace = 1;
  c.moe_layer_freq = 1;
  c.num_attention_heads = 16;
  c.n_routed_experts = 64;
  c.num_experts_per_tok = 6;
  c.n_shared_experts = 2;
  c.n_group = 1;
  c.topk_group = 1;
  c.topk_method = TopkMethod::kGreedy;
  c.scoring_func = ScoringFunc::kSoftmax;
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 1.0;
  c.q_lora_rank = 0;
  c.kv_lora_rank = 512;
  c.qk_nope_head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.v_head_dim = 128;
  c.num_nextn_predict_layers = 0;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000.0;
  c.rope_scaling = v3_yarn(0.707);
  c.max_position_embeddings = 163840;
  c.bos_token_id = 100000;
  c.eos_token_id = 100001;
  return c;
}

// deepseek-ai/DeepSeek-V3 (671 B total, 37 B active).
ModelConfig v3_671b() {
  ModelConfig c = v3_family();
  c.vocab_size = 129280;
  c.hidden_size = 7168;
  c.intermediate_size = 18432;
  c.moe_intermediate_size = 2048;
  c.num_hidden_layers = 61;
  c.first_k_dense_replace = 3;
  c.num_attention_heads = 128;
  c.n_routed_experts = 256;
  c.num_experts_per_tok = 8;
  c.n_shared_experts = 1;
  c.n_group = 8;
  c.topk_group = 4;
  c.q_lora_rank = 1536;
  c.kv_lora_rank = 512;
  return c;
}

// DeepSeek Sparse Attention on a V3 shape: the lightning indexer of the V3.2 release
// (64 heads of 128, top-2048 tokens) or a smaller one, and its power-of-two FP8 scales.
ModelConfig with_indexer(ModelConfig c, int64_t heads, int64_t topk) {
  c.model_type = "deepseek_v32";
  c.index_n_heads = heads;
  c.index_head_dim = 128;
  c.index_topk = topk;
  c.fp8_scale_ue8m0 = true;
  return c;
}

// The shape of tests/data/golden/v32-tiny (without its FP8 quantization_config).
ModelConfig v32_tiny() {
  ModelConfig c = v3_family();
  c.vocab_size = 512;
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.moe_intermediate_size = 128;
  c.num_hidden_layers = 2;
  c.first_k_dense_replace = 1;
  c.num_attention_heads = 4;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 2;
  c.n_shared_experts = 1;
  c.n_group = 4;
  c.topk_group = 2;
  c.q_lora_rank = 128;
  c.kv_lora_rank = 128;
  c.qk_nope_head_dim = 32;
  c.qk_rope_head_dim = 32;
  c.v_head_dim = 32;
  return with_indexer(c, 8, 16);
}

// deepseek-ai/DeepSeek-V3.2-Exp: V3's sizes plus the indexer.
ModelConfig v32_671b() { return with_indexer(v3_671b(), 64, 2048); }

// Decode at long context, sparse against dense attention: V3.2's layers as they are (hidden
// 7168, 128 MLA heads, the 64-head indexer, dense FFN 18432, experts of 2048) but one dense
// and one MoE layer with 16 experts and no MTP, so that it fits this machine (~1.5 GB in
// FP8). Each layer reads about what a real V3.2 layer reads per token (~0.6 GB); the 4096
// vocabulary keeps the head's share of a token's reads near the real model's, where 61
// layers share one head (1.85 GB / 61 = 30 MB per layer). Its dense twin: the same
// checkpoint with index_topk at least the context.
ModelConfig bench_v32() {
  ModelConfig c = v32_671b();
  c.vocab_size = 4096;
  c.num_hidden_layers = 2;
  c.first_k_dense_replace = 1;
  c.n_routed_experts = 16;
  c.num_nextn_predict_layers = 0;
  return c;
}

struct Preset {
  const char* name;
  const char* description;
  ModelConfig (*make)();
};

constexpr Preset kPresets[] = {
    {"tiny", "2 layers, hidden 256, 16 experts: the shape of the v3-tiny goldens", tiny},
    {"train-small", "4 layers, hidden 256, vocab 4096, 16 experts: for training runs",
     train_small},
    {"bench-moe", "8 layers, hidden 2048, 64 experts top-8: 1.69 B params, the benchmark model",
     bench_moe},
    {"v2-lite", "DeepSeek-V2-Lite sizes: 27 layers, 64 experts top-6, no q_lora (15.7 B)",
     v2_lite},
    {"v3-671b", "DeepSeek-V3 sizes: 61 layers, 256 experts top-8 (use --layers to cut it)",
     v3_671b},
    {"v32-tiny", "2 layers, hidden 256, 8 experts, indexer top-16: the shape of the v32-tiny goldens",
     v32_tiny},
    {"bench-v32", "DeepSeek-V3.2 layers (1 dense, 1 MoE of 16 experts), vocab 4096: sparse "
     "attention speed at long context", bench_v32},
    {"v32-671b", "DeepSeek-V3.2 sizes: V3's 61 layers plus the indexer (use --layers to cut it)",
     v32_671b},
};

}  // namespace

std::vector<PresetInfo> list_presets() {
  std::vector<PresetInfo> out;
  for (const Preset& p : kPresets) out.push_back({p.name, p.description});
  return out;
}

Result<ModelConfig> preset_config(std::string_view name) {
  std::string known;
  for (const Preset& p : kPresets) {
    if (name == p.name) return p.make();
    known += (known.empty() ? "" : ", ") + std::string(p.name);
  }
  return Err("unknown preset '", std::string(name), "' (expected one of: ", known, ")");
}

Result<std::string> preset_config_json(std::string_view name) {
  DSV3_ASSIGN_OR_RETURN(ModelConfig c, preset_config(name));
  return model_config_json(c);
}

}  // namespace dsv3
