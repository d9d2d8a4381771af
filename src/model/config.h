// config.json of a DeepSeek-V2/V3-family checkpoint, parsed once into a validated struct.
// Names follow the Hugging Face keys; behaviour comes from these values, never from sizes.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tensor/matrix.h"
#include "util/result.h"

namespace dsv3 {

enum class ScoringFunc { kSigmoid, kSoftmax };
// noaux_tc: group score = sum of top-2 biased scores (V3); group_limited_greedy: max (V2);
// greedy: no group limit (V2-Lite).
enum class TopkMethod { kNoauxTc, kGroupLimitedGreedy, kGreedy };

struct YarnConfig {
  bool enabled = false;
  double factor = 1.0;
  int64_t original_max_position_embeddings = 4096;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;

  bool operator==(const YarnConfig&) const = default;
};

struct ModelConfig {
  std::string model_type;  // deepseek_v3, deepseek_v32 or deepseek_v2
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;      // dense FFN width
  int64_t moe_intermediate_size = 0;  // routed / shared expert width
  int64_t num_hidden_layers = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  int64_t num_attention_heads = 0;
  int64_t n_routed_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_shared_experts = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  TopkMethod topk_method = TopkMethod::kGreedy;
  ScoringFunc scoring_func = ScoringFunc::kSoftmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t q_lora_rank = 0;  // 0: no query compression (q_proj)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t num_nextn_predict_layers = 0;  // MTP depth
  // DeepSeek Sparse Attention (deepseek_v32): a lightning indexer per layer scores the cached
  // tokens of each query and MLA attends to the index_topk best (golden/README.md, V3.2).
  int64_t index_n_heads = 0;   // 0: no indexer (V2 / V3)
  int64_t index_head_dim = 0;  // 128 in the release (one FP8 block, a Hadamard size)
  int64_t index_topk = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  YarnConfig rope_scaling;
  int64_t max_position_embeddings = 4096;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 1;
  bool fp8_block_quantized = false;  // quantization_config: fp8 e4m3, [128, 128] blocks
  int64_t fp8_block_size = 128;
  // quantization_config.scale_fmt "ue8m0": the FP8 block scales are powers of two (V3.2).
  // Dequantisation is unchanged; the model's own FP8 steps (indexer, KV latent) round their
  // scales up to powers of two.
  bool fp8_scale_ue8m0 = false;
  // quantization_config with quant_method "dsv3": kQ8 or kQ4 matrices stored as U8 tensors
  // (`dsv3 quantize`); kF32 when the checkpoint has none.
  WeightFormat group_quant_format = WeightFormat::kF32;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // V3.2: every layer (MTP included) has a lightning indexer, and the KV latent goes through
  // the FP8 round trip of the official code (act_quant in 128-blocks, then back to float).
  bool has_indexer() const { return index_n_heads > 0; }
  // The FP8 block of the indexer's q/k and of the KV latent round trip (kernel.act_quant).
  static constexpr int64_t kActQuantBlock = 128;
  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace &&
           layer % moe_layer_freq == 0;
  }
  // Latent KV cache values per token per layer: c_kv plus the shared RoPE key.
  int64_t kv_cache_width() const { return kv_lora_rank + qk_rope_head_dim; }
  // softmax scale of MLA: (nope+rope)^-0.5, times m^2 under YaRN (m from mscale_all_dim).
  double softmax_scale() const;

  bool operator==(const ModelConfig&) const = default;
};

// The config.json names of the enums' values.
template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};
template <typename E>
std::span<const EnumName<E>> enum_names();
template <>
std::span<const EnumName<TopkMethod>> enum_names<TopkMethod>();
template <>
std::span<const EnumName<ScoringFunc>> enum_names<ScoringFunc>();
std::string_view topk_method_name(TopkMethod m);
std::string_view scoring_func_name(ScoringFunc f);

// One config.json key and the ModelConfig field it fills: the one list of fields that parsing,
// range checking, config.json writing (model_config_json) and describe_fields() all walk.
// config_fields.cc holds the table. The sections that are not one value per key
// (rope_scaling's type, quantization_config) are read and written next to it in config.cc.
struct ConfigField {
  template <typename T>
  using Access = T& (*)(ModelConfig&);
  // The field's type is its kind: integer, number, boolean, string or one of the enums.
  using Ref = std::variant<Access<int64_t>, Access<double>, Access<bool>, Access<std::string>,
                           Access<TopkMethod>, Access<ScoringFunc>>;
  using Predicate = bool (*)(const ModelConfig&);

  // What a value must be; the error reads "key 'K' = V: expected <range><note>".
  struct Range {
    enum class Kind { kNone, kInteger, kReal, kCustom } kind = Kind::kNone;
    double lo = 0, hi = 0;     // kInteger: [lo, hi]; kReal: finite, above lo, <= hi
    bool lo_inclusive = true;  // kReal
    int64_t (*hi_of)(const ModelConfig&) = nullptr;  // kInteger: hi from other fields instead
    // kCustom: the expectation when the value is bad, "" when it is good.
    std::string (*expect)(const ModelConfig&) = nullptr;
    std::string_view note;        // appended to the expectation, e.g. " (at most n_group)"
    Predicate applies = nullptr;  // checked only where this holds (nullptr: always)
  };

  std::string_view key;  // "rope_scaling.factor": key "factor" of the rope_scaling object
  Ref ref;
  bool required = false;  // missing or null is an error; otherwise ModelConfig{}'s value stays
  // The key belongs only to configs where this holds (nullptr: all): elsewhere it is refused
  // as unknown, never written and not described.
  Predicate present = nullptr;
  Range range;
  bool null_is_zero = false;  // JSON null reads as 0, and 0 is written as null
  std::string_view doc;

  bool is_present(const ModelConfig& c) const { return !present || present(c); }
};

// Every field, in the order they are read and described.
std::span<const ConfigField> config_fields();

// The field's value as config.json writes it (null_is_zero applied).
nlohmann::json field_json(const ConfigField& f, const ModelConfig& c);

// Parses and validates; the error lists every problem found, one per line.
Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& origin);
Result<ModelConfig> load_model_config(const std::string& model_dir);

// A summary by topic for `dsv3 info`.
std::string describe(const ModelConfig& c);
// Every field present in `c`, one line each: key, value as config.json writes it, meaning
// (`dsv3 info --fields`).
std::string describe_fields(const ModelConfig& c);

// config.json text for a config: every present field under its Hugging Face key, sorted as
// Hugging Face writes them, q_lora_rank 0 as null, rope_scaling null without YaRN,
// quantization_config for FP8 block or dsv3 group-quantized weights, plus the keys
// transformers expects that change nothing here (architectures, hidden_act, ...).
std::string model_config_json(const ModelConfig& c);

}  // namespace dsv3
