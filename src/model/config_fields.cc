// The table of config.json fields (config.h, ConfigField): key, field, whether required,
// where it belongs, the range a value must lie in, and what it means.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "model/config.h"

namespace dsv3 {

namespace {

using Range = ConfigField::Range;
using RangeKind = ConfigField::Range::Kind;

// Far above any real model (DeepSeek-V3: hidden 7168, 61 layers, 256 experts, vocab 129280,
// 163840 positions) and low enough that products of two of them fit int64 and the
// allocations they size fail cleanly.
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxHeadDim = 1 << 14;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxExperts = 1 << 16;
constexpr int64_t kMaxVocab = int64_t(1) << 24;  // token ids are int32
constexpr int64_t kMaxPositions = int64_t(1) << 24;

constexpr Range integer(int64_t lo, int64_t hi, std::string_view note = {}) {
  return {.kind = RangeKind::kInteger, .lo = double(lo), .hi = double(hi), .note = note};
}
// A finite number > lo (>= lo when `inclusive`) and <= hi.
constexpr Range real(double lo, bool inclusive, double hi = HUGE_VAL) {
  return {.kind = RangeKind::kReal, .lo = lo, .hi = hi, .lo_inclusive = inclusive};
}
constexpr Range only_if(Range r, ConfigField::Predicate applies) {
  r.applies = applies;
  return r;
}

bool is_v32(const ModelConfig& c) { return c.model_type == "deepseek_v32"; }
bool has_yarn(const ModelConfig& c) { return c.rope_scaling.enabled; }
// Checks of the expert fields need a usable expert count.
bool is_moe(const ModelConfig& c) {
  return c.n_routed_experts > 0 && c.n_routed_experts <= kMaxExperts;
}
bool has_dense_ffn(const ModelConfig& c) {
  return c.first_k_dense_replace > 0 || c.n_routed_experts == 0;
}
bool groups_divide_experts(const ModelConfig& c) {
  return c.n_group > 0 && c.n_routed_experts % c.n_group == 0;
}
bool groups_usable(const ModelConfig& c) { return is_moe(c) && groups_divide_experts(c); }
bool has_vocab(const ModelConfig& c) { return c.vocab_size > 0; }

std::string expect_n_group(const ModelConfig& c) {
  if (groups_divide_experts(c)) return "";
  return "a positive divisor of n_routed_experts = " + std::to_string(c.n_routed_experts);
}
std::string expect_rope_dim(const ModelConfig& c) {
  const int64_t d = c.qk_rope_head_dim;
  if (d > 0 && d % 2 == 0 && d <= kMaxHeadDim) return "";
  return "a positive even number <= " + std::to_string(kMaxHeadDim) + " (RoPE works on pairs)";
}
constexpr Range custom(std::string (*expect)(const ModelConfig&),
                       ConfigField::Predicate applies = nullptr) {
  return {.kind = RangeKind::kCustom, .expect = expect, .applies = applies};
}

// clang-format off
#define DSV3_FIELD(path) +[](ModelConfig& c) -> auto& { return c.path; }
// clang-format on

const ConfigField kFields[] = {
    {.key = "model_type",
     .ref = DSV3_FIELD(model_type),
     .required = true,
     .doc = "deepseek_v3, deepseek_v32 (V3 with sparse attention) or deepseek_v2; V3 and V3.2 "
            "default to sigmoid scores and noaux_tc routing, V2 to softmax and greedy"},
    {.key = "vocab_size",
     .ref = DSV3_FIELD(vocab_size),
     .required = true,
     .range = integer(1, kMaxVocab),
     .doc = "tokens: rows of the embedding and the head"},
    {.key = "hidden_size",
     .ref = DSV3_FIELD(hidden_size),
     .required = true,
     .range = integer(1, kMaxDim),
     .doc = "width of the residual stream"},
    {.key = "intermediate_size",
     .ref = DSV3_FIELD(intermediate_size),
     .required = true,
     .range = only_if(integer(1, kMaxDim), has_dense_ffn),
     .doc = "dense FFN width"},
    {.key = "moe_intermediate_size",
     .ref = DSV3_FIELD(moe_intermediate_size),
     .range = only_if(integer(1, kMaxDim), is_moe),
     .doc = "width of each routed and shared expert"},
    {.key = "num_hidden_layers",
     .ref = DSV3_FIELD(num_hidden_layers),
     .required = true,
     .range = integer(1, kMaxLayers),
     .doc = "decoder layers of the main model (MTP layers follow)"},
    {.key = "first_k_dense_replace",
     .ref = DSV3_FIELD(first_k_dense_replace),
     .range = {.kind = RangeKind::kInteger,
               .lo = 0,
               .hi_of =
                   [](const ModelConfig& c) { return std::max<int64_t>(c.num_hidden_layers, 0); },
               .note = " (at most num_hidden_layers)"},
     .doc = "the first layers keep a dense FFN"},
    {.key = "moe_layer_freq",
     .ref = DSV3_FIELD(moe_layer_freq),
     .range = integer(1, kMaxLayers),
     .doc = "after the dense ones, every layer whose index it divides is MoE"},
    {.key = "num_attention_heads",
     .ref = DSV3_FIELD(num_attention_heads),
     .required = true,
     .range = integer(1, kMaxHeadDim),
     .doc = "MLA heads"},
    {.key = "n_routed_experts",
     .ref = DSV3_FIELD(n_routed_experts),
     .range = integer(0, kMaxExperts, " (0: a dense model)"),
     .doc = "routed experts per MoE layer"},
    {.key = "num_experts_per_tok",
     .ref = DSV3_FIELD(num_experts_per_tok),
     .range = {.kind = RangeKind::kInteger,
               .lo = 1,
               .hi_of = [](const ModelConfig& c) { return c.n_routed_experts; },
               .note = " (at most n_routed_experts)",
               .applies = is_moe},
     .doc = "routed experts each token reaches (top-k)"},
    {.key = "n_shared_experts",
     .ref = DSV3_FIELD(n_shared_experts),
     .range = integer(0, kMaxExperts),
     .doc = "experts every token goes through"},
    {.key = "n_group",
     .ref = DSV3_FIELD(n_group),
     .range = custom(expect_n_group, is_moe),
     .doc = "expert groups the router first picks among"},
    {.key = "topk_group",
     .ref = DSV3_FIELD(topk_group),
     .range = {.kind = RangeKind::kInteger,
               .lo = 1,
               .hi_of = [](const ModelConfig& c) { return c.n_group; },
               .note = " (at most n_group)",
               .applies = groups_usable},
     .doc = "groups each token's experts come from"},
    {.key = "topk_method",
     .ref = DSV3_FIELD(topk_method),
     .doc = "expert selection: noaux_tc (V3: biased scores, group score = top-2 sum), "
            "group_limited_greedy (V2: group score = max) or greedy (no group limit)"},
    {.key = "scoring_func",
     .ref = DSV3_FIELD(scoring_func),
     .doc = "router scores: sigmoid (V3) or softmax (V2)"},
    {.key = "norm_topk_prob",
     .ref = DSV3_FIELD(norm_topk_prob),
     .doc = "normalise the chosen experts' weights to sum 1"},
    {.key = "routed_scaling_factor",
     .ref = DSV3_FIELD(routed_scaling_factor),
     .range = only_if(real(0, false), is_moe),
     .doc = "multiplies the routed experts' weights"},
    {.key = "q_lora_rank",
     .ref = DSV3_FIELD(q_lora_rank),
     .range = integer(0, kMaxDim, " (or null: no query compression)"),
     .null_is_zero = true,
     .doc = "query latent width; null: q_proj without compression"},
    {.key = "kv_lora_rank",
     .ref = DSV3_FIELD(kv_lora_rank),
     .required = true,
     .range = integer(1, kMaxDim),
     .doc = "KV latent width, the cached c_kv"},
    {.key = "qk_nope_head_dim",
     .ref = DSV3_FIELD(qk_nope_head_dim),
     .required = true,
     .range = integer(1, kMaxHeadDim),
     .doc = "per-head query/key width without RoPE"},
    {.key = "qk_rope_head_dim",
     .ref = DSV3_FIELD(qk_rope_head_dim),
     .required = true,
     .range = custom(expect_rope_dim),
     .doc = "per-head query/key width with RoPE (key shared)"},
    {.key = "v_head_dim",
     .ref = DSV3_FIELD(v_head_dim),
     .required = true,
     .range = integer(1, kMaxHeadDim),
     .doc = "per-head value width"},
    {.key = "num_nextn_predict_layers",
     .ref = DSV3_FIELD(num_nextn_predict_layers),
     .range = integer(0, 64),
     .doc = "MTP layers after the main ones"},
    // Checked together with the other fields the indexer needs (config.cc).
    {.key = "index_n_heads",
     .ref = DSV3_FIELD(index_n_heads),
     .required = true,
     .present = is_v32,
     .doc = "lightning indexer heads"},
    {.key = "index_head_dim",
     .ref = DSV3_FIELD(index_head_dim),
     .required = true,
     .present = is_v32,
     .doc = "lightning indexer head width (128: one FP8 block)"},
    {.key = "index_topk",
     .ref = DSV3_FIELD(index_topk),
     .required = true,
     .present = is_v32,
     .doc = "cached tokens each query attends to"},
    {.key = "rms_norm_eps",
     .ref = DSV3_FIELD(rms_norm_eps),
     .range = real(0, false, 1),
     .doc = "RMSNorm epsilon"},
    {.key = "rope_theta",
     .ref = DSV3_FIELD(rope_theta),
     .range = real(1, false),
     .doc = "RoPE base (YaRN's correction range divides by its log)"},
    {.key = "rope_scaling.factor",
     .ref = DSV3_FIELD(rope_scaling.factor),
     .required = true,
     .present = has_yarn,
     .range = real(1, true, 1e6),
     .doc = "YaRN context extension factor"},
    {.key = "rope_scaling.original_max_position_embeddings",
     .ref = DSV3_FIELD(rope_scaling.original_max_position_embeddings),
     .required = true,
     .present = has_yarn,
     .range = integer(1, kMaxPositions),
     .doc = "YaRN: the pre-training context"},
    {.key = "rope_scaling.beta_fast",
     .ref = DSV3_FIELD(rope_scaling.beta_fast),
     .present = has_yarn,
     .range = real(0, false),
     .doc = "YaRN: rotations per wavelength where interpolation ends"},
    {.key = "rope_scaling.beta_slow",
     .ref = DSV3_FIELD(rope_scaling.beta_slow),
     .present = has_yarn,
     .range = real(0, false),
     .doc = "YaRN: rotations per wavelength where it begins"},
    {.key = "rope_scaling.mscale",
     .ref = DSV3_FIELD(rope_scaling.mscale),
     .present = has_yarn,
     .range = real(0, true),
     .doc = "YaRN magnitude scale of the rotated values"},
    {.key = "rope_scaling.mscale_all_dim",
     .ref = DSV3_FIELD(rope_scaling.mscale_all_dim),
     .present = has_yarn,
     .range = real(0, true),
     .doc = "YaRN magnitude scale of the softmax (squared)"},
    {.key = "max_position_embeddings",
     .ref = DSV3_FIELD(max_position_embeddings),
     .range = integer(1, kMaxPositions),
     .doc = "context length"},
    {.key = "tie_word_embeddings",
     .ref = DSV3_FIELD(tie_word_embeddings),
     .doc = "the head is the embedding (no lm_head tensor)"},
    {.key = "bos_token_id",
     .ref = DSV3_FIELD(bos_token_id),
     .range = {.kind = RangeKind::kInteger,
               .lo = 0,
               .hi_of = [](const ModelConfig& c) { return c.vocab_size - 1; },
               .note = " (a token id below vocab_size)",
               .applies = has_vocab},
     .doc = "beginning-of-sequence token"},
    {.key = "eos_token_id",
     .ref = DSV3_FIELD(eos_token_id),
     .range = {.kind = RangeKind::kInteger,
               .lo = 0,
               .hi_of = [](const ModelConfig& c) { return c.vocab_size - 1; },
               .note = " (a token id below vocab_size)",
               .applies = has_vocab},
     .doc = "end-of-sequence token"},
};

#undef DSV3_FIELD

constexpr EnumName<TopkMethod> kTopkMethods[] = {
    {"noaux_tc", TopkMethod::kNoauxTc},
    {"group_limited_greedy", TopkMethod::kGroupLimitedGreedy},
    {"greedy", TopkMethod::kGreedy}};
constexpr EnumName<ScoringFunc> kScoringFuncs[] = {{"sigmoid", ScoringFunc::kSigmoid},
                                                   {"softmax", ScoringFunc::kSoftmax}};

}  // namespace

template <>
std::span<const EnumName<TopkMethod>> enum_names<TopkMethod>() {
  return kTopkMethods;
}
template <>
std::span<const EnumName<ScoringFunc>> enum_names<ScoringFunc>() {
  return kScoringFuncs;
}

std::span<const ConfigField> config_fields() { return kFields; }

std::string_view topk_method_name(TopkMethod m) {
  for (const auto& [name, value] : enum_names<TopkMethod>()) {
    if (value == m) return name;
  }
  return "greedy";
}

std::string_view scoring_func_name(ScoringFunc f) {
  for (const auto& [name, value] : enum_names<ScoringFunc>()) {
    if (value == f) return name;
  }
  return "softmax";
}

nlohmann::json field_json(const ConfigField& f, const ModelConfig& c) {
  // The accessors hand out references to fill; here they are only read.
  ModelConfig& fields = const_cast<ModelConfig&>(c);
  return std::visit(
      [&](auto access) -> nlohmann::json {
        const auto& v = access(fields);
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_enum_v<T>) {
          for (const auto& [name, value] : enum_names<T>()) {
            if (value == v) return std::string(name);
          }
          return nullptr;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          if (f.null_is_zero && v == 0) return nullptr;
          return v;
        } else {
          return v;
        }
      },
      f.ref);
}

}  // namespace dsv3
