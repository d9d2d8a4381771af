#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

namespace dsv3 {

using nlohmann::json;

namespace {

// Keys that real DeepSeek-family config.json files carry but that change nothing here.
const std::set<std::string> kIgnoredKeys = {
    "architectures", "attention_bias", "attention_dropout", "auto_map", "aux_loss_alpha",
    "ep_size", "hidden_act", "initializer_range", "num_key_value_heads", "pretraining_tp",
    "seq_aux", "torch_dtype", "dtype", "transformers_version", "use_cache", "pad_token_id",
    "_name_or_path", "rope_interleave", "head_dim", "id2label", "label2id", "model_name",
    "output_router_logits", "router_aux_loss_coef", "use_sliding_window", "sliding_window",
    "max_window_layers", "tokenizer_class", "return_dict", "output_hidden_states",
    "output_attentions", "torchscript", "is_encoder_decoder", "use_return_dict", "name"};

// Collects every problem so the user sees them all at once.
class Reader {
 public:
  Reader(const json& j, std::string origin) : j_(j), origin_(std::move(origin)) {}

  template <typename T>
  void get(const char* key, T& out, bool required = true) {
    seen_.insert(key);
    if (!j_.contains(key) || j_[key].is_null()) {
      if (required) problem(std::string("missing key '") + key + "'");
      return;
    }
    const json& v = j_[key];
    bool ok = false;
    if constexpr (std::is_same_v<T, bool>) ok = v.is_boolean();
    else if constexpr (std::is_integral_v<T>) ok = v.is_number_integer();
    else if constexpr (std::is_floating_point_v<T>) ok = v.is_number();
    else ok = v.is_string();
    if (!ok) {
      problem(std::string("key '") + key + "' = " + v.dump() + " has the wrong type");
      return;
    }
    out = v.get<T>();
  }
  void mark_seen(const char* key) { seen_.insert(key); }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  const json& at(const char* key) const { return j_[key]; }
  void problem(const std::string& p) { problems_.push_back(p); }
  void check_unknown_keys() {
    for (const auto& [k, v] : j_.items()) {
      if (!seen_.count(k) && !kIgnoredKeys.count(k)) {
        problem("unknown key '" + k + "' = " + v.dump() + " (not a DeepSeek-V2/V3 config key)");
      }
    }
  }
  Status status() const {
    if (problems_.empty()) return OkStatus();
    std::string msg = origin_ + ": invalid model config:";
    for (const auto& p : problems_) msg += "\n  - " + p;
    return Error{msg};
  }

 private:
  const json& j_;
  std::string origin_;
  std::set<std::string> seen_;
  std::vector<std::string> problems_;
};

void read_rope_scaling(Reader& r, ModelConfig& c) {
  r.mark_seen("rope_scaling");
  if (!r.has("rope_scaling")) return;
  const json& rs = r.at("rope_scaling");
  if (!rs.is_object()) {
    r.problem("rope_scaling = " + rs.dump() + " is not an object");
    return;
  }
  Reader sub(rs, "rope_scaling");
  std::string type;
  if (rs.contains("type")) sub.get("type", type);
  if (rs.contains("rope_type")) sub.get("rope_type", type);
  if (type != "yarn") {
    r.problem("rope_scaling type '" + type + "' is not supported (expected 'yarn')");
    return;
  }
  YarnConfig& y = c.rope_scaling;
  y.enabled = true;
  sub.get("factor", y.factor);
  sub.get("original_max_position_embeddings", y.original_max_position_embeddings);
  sub.get("beta_fast", y.beta_fast, false);
  sub.get("beta_slow", y.beta_slow, false);
  sub.get("mscale", y.mscale, false);
  sub.get("mscale_all_dim", y.mscale_all_dim, false);
  sub.check_unknown_keys();
  if (!sub.status().ok()) r.problem(sub.status().error().message);
}

// The FP8 block size of quantization_config.weight_block_size (default 128 x 128).
void read_fp8_block(Reader& r, const json& q, ModelConfig& c) {
  const json block = q.value("weight_block_size", json::array({128, 128}));
  if (!block.is_array() || block.size() != 2 || block[0] != block[1] ||
      !block[0].is_number_integer() || block[0].get<int64_t>() <= 0) {
    r.problem("quantization_config.weight_block_size " + block.dump() +
              " is not supported (expected a square block such as [128, 128])");
    return;
  }
  c.fp8_block_size = block[0];
}

// dsv3's own group-quantized formats (`dsv3 quantize --to q8|q4`): the matrices are U8 tensors
// in the tile layout of tensor/matrix.h, whose constants the config restates so a checkpoint
// from a build with other constants is refused rather than misread.
void read_group_quantization(Reader& r, const json& q, ModelConfig& c) {
  const std::string fmt = q.value("fmt", "");
  const std::optional<WeightFormat> f = format_from_name(fmt);
  if (!f || !is_quantized(*f)) {
    r.problem("quantization_config.fmt '" + fmt + "' is not supported (expected 'q8' or 'q4')");
    return;
  }
  if (q.value("group_size", int64_t{0}) != kQuantGroup ||
      q.value("tile_rows", int64_t{0}) != kQuantTileRows) {
    r.problem("quantization_config " + q.dump() + ": expected group_size " +
              std::to_string(kQuantGroup) + " and tile_rows " + std::to_string(kQuantTileRows));
    return;
  }
  c.group_quant_format = *f;
  // `dsv3 quantize --experts-only` keeps FP8 matrices as stored: their block size.
  if (q.contains("weight_block_size")) read_fp8_block(r, q, c);
}

void read_quantization(Reader& r, ModelConfig& c) {
  r.mark_seen("quantization_config");
  if (!r.has("quantization_config")) return;
  const json& q = r.at("quantization_config");
  if (!q.is_object()) {
    r.problem("quantization_config must be an object, got " + q.dump());
    return;
  }
  const std::string method = q.value("quant_method", "");
  if (method == "dsv3") return read_group_quantization(r, q, c);
  const std::string fmt = q.value("fmt", "e4m3");
  const std::string scale_fmt = q.value("scale_fmt", "");
  if (!scale_fmt.empty() && scale_fmt != "ue8m0") {
    r.problem("quantization_config.scale_fmt '" + scale_fmt +
              "' is not supported (expected 'ue8m0' or none)");
  }
  c.fp8_scale_ue8m0 = scale_fmt == "ue8m0";
  if (method != "fp8" || fmt != "e4m3") {
    r.problem("quantization_config " + q.dump() +
              " is not supported (expected quant_method 'fp8' with fmt 'e4m3', or 'dsv3' with"
              " fmt 'q8' or 'q4')");
    return;
  }
  read_fp8_block(r, q, c);
  c.fp8_block_quantized = true;
}

template <typename E>
void read_enum(Reader& r, const char* key, E& out, const std::vector<std::pair<std::string, E>>& values,
               bool required) {
  std::string s;
  r.get(key, s, required);
  if (s.empty()) return;
  std::string expected;
  for (const auto& [name, v] : values) {
    if (s == name) {
      out = v;
      return;
    }
    expected += (expected.empty() ? "'" : ", '") + name + "'";
  }
  r.problem(std::string("key '") + key + "' = '" + s + "' is not supported (expected " +
            expected + ")");
}

// Range checks of the numbers: every bad value is named with what was expected, so a broken
// or hostile config.json fails here instead of as NaN logits much later.
class RangeChecker {
 public:
  explicit RangeChecker(Reader& r) : r_(r) {}

  // An integer in [lo, hi].
  void in(const std::string& key, int64_t v, int64_t lo, int64_t hi, const std::string& why = "") {
    if (v >= lo && v <= hi) return;
    std::string expected = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    bad(key, std::to_string(v), expected + why);
  }
  // A finite number > lo (or >= lo when `inclusive`), and <= hi.
  void real(const std::string& key, double v, double lo, bool inclusive, double hi = HUGE_VAL) {
    const bool above = inclusive ? v >= lo : v > lo;
    if (std::isfinite(v) && above && v <= hi) return;
    std::string expected =
        std::string("a finite number ") + (inclusive ? ">= " : "> ") + number(lo);
    if (std::isfinite(hi)) expected += " and <= " + number(hi);
    bad(key, number(v), expected);
  }
  void bad(const std::string& key, const std::string& value, const std::string& expected) {
    r_.problem("key '" + key + "' = " + value + ": expected " + expected);
  }
  static std::string number(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  }

 private:
  Reader& r_;
};

// Far above any real model (DeepSeek-V3: hidden 7168, 61 layers, 256 experts, vocab 129280,
// 163840 positions) and low enough that products of two of them fit int64 and the
// allocations they size fail cleanly.
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxHeadDim = 1 << 14;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxExperts = 1 << 16;
constexpr int64_t kMaxVocab = int64_t(1) << 24;  // token ids are int32
constexpr int64_t kMaxPositions = int64_t(1) << 24;

void check_attention_values(RangeChecker& k, const ModelConfig& c) {
  k.in("num_attention_heads", c.num_attention_heads, 1, kMaxHeadDim);
  k.in("q_lora_rank", c.q_lora_rank, 0, kMaxDim, " (or null: no query compression)");
  k.in("kv_lora_rank", c.kv_lora_rank, 1, kMaxDim);
  k.in("qk_nope_head_dim", c.qk_nope_head_dim, 1, kMaxHeadDim);
  k.in("v_head_dim", c.v_head_dim, 1, kMaxHeadDim);
  if (c.qk_rope_head_dim <= 0 || c.qk_rope_head_dim % 2 || c.qk_rope_head_dim > kMaxHeadDim) {
    k.bad("qk_rope_head_dim", std::to_string(c.qk_rope_head_dim),
          "a positive even number <= " + std::to_string(kMaxHeadDim) + " (RoPE works on pairs)");
  }
}

void check_moe_values(Reader& r, RangeChecker& k, const ModelConfig& c) {
  k.in("n_routed_experts", c.n_routed_experts, 0, kMaxExperts, " (0: a dense model)");
  k.in("n_shared_experts", c.n_shared_experts, 0, kMaxExperts);
  if (c.n_routed_experts <= 0 || c.n_routed_experts > kMaxExperts) return;
  k.in("moe_intermediate_size", c.moe_intermediate_size, 1, kMaxDim);
  k.in("num_experts_per_tok", c.num_experts_per_tok, 1, c.n_routed_experts,
       " (at most n_routed_experts)");
  if (c.n_group <= 0 || c.n_routed_experts % c.n_group) {
    k.bad("n_group", std::to_string(c.n_group),
          "a positive divisor of n_routed_experts = " + std::to_string(c.n_routed_experts));
  } else if (c.topk_group <= 0 || c.topk_group > c.n_group) {
    k.in("topk_group", c.topk_group, 1, c.n_group, " (at most n_group)");
  } else if (c.topk_group * (c.n_routed_experts / c.n_group) < c.num_experts_per_tok) {
    r.problem("topk_group = " + std::to_string(c.topk_group) + " groups hold fewer experts than " +
              "num_experts_per_tok = " + std::to_string(c.num_experts_per_tok));
  }
  if (c.n_group > 0 && c.topk_method == TopkMethod::kNoauxTc &&
      c.n_routed_experts / c.n_group < 2) {
    r.problem("noaux_tc needs at least 2 experts per group (group score = top-2 sum)");
  }
  k.real("routed_scaling_factor", c.routed_scaling_factor, 0, false);
}

void check_rope_values(Reader& r, RangeChecker& k, const ModelConfig& c) {
  // YaRN's correction range divides by log(rope_theta).
  k.real("rope_theta", c.rope_theta, 1, false);
  k.in("max_position_embeddings", c.max_position_embeddings, 1, kMaxPositions);
  const YarnConfig& y = c.rope_scaling;
  if (!y.enabled) return;
  k.real("rope_scaling.factor", y.factor, 1, true, 1e6);
  k.in("rope_scaling.original_max_position_embeddings", y.original_max_position_embeddings, 1,
       kMaxPositions);
  k.real("rope_scaling.beta_fast", y.beta_fast, 0, false);
  k.real("rope_scaling.beta_slow", y.beta_slow, 0, false);
  if (std::isfinite(y.beta_fast) && std::isfinite(y.beta_slow) && y.beta_slow > 0 &&
      y.beta_fast <= y.beta_slow) {
    r.problem("key 'rope_scaling.beta_fast' = " + RangeChecker::number(y.beta_fast) +
              ": expected more than rope_scaling.beta_slow = " + RangeChecker::number(y.beta_slow) +
              " (rotations per wavelength: the fast bound is the larger)");
  }
  k.real("rope_scaling.mscale", y.mscale, 0, true);
  k.real("rope_scaling.mscale_all_dim", y.mscale_all_dim, 0, true);
}

// DeepSeek Sparse Attention: what the indexer and the FP8 steps of the official code need.
void check_indexer(Reader& r, const ModelConfig& c) {
  const int64_t block = ModelConfig::kActQuantBlock;
  if (c.index_n_heads <= 0) {
    r.problem("index_n_heads = " + std::to_string(c.index_n_heads) + " must be > 0");
  }
  if (c.index_topk <= 0) r.problem("index_topk = " + std::to_string(c.index_topk) + " must be > 0");
  if (c.index_head_dim != block) {
    r.problem("index_head_dim = " + std::to_string(c.index_head_dim) + " is not supported" +
              " (expected " + std::to_string(block) + ": one FP8 block, a Hadamard size)");
  } else if (c.qk_rope_head_dim > c.index_head_dim) {
    r.problem("qk_rope_head_dim = " + std::to_string(c.qk_rope_head_dim) +
              " exceeds index_head_dim = " + std::to_string(c.index_head_dim));
  }
  if (c.q_lora_rank <= 0) {
    r.problem("deepseek_v32 needs q_lora_rank > 0 (the indexer reads MLA's q latent)");
  }
  if (c.kv_lora_rank % block) {
    r.problem("kv_lora_rank = " + std::to_string(c.kv_lora_rank) + " must be a multiple of " +
              std::to_string(block) + " (the FP8 round trip of the KV latent)");
  }
}

void check_values(Reader& r, const ModelConfig& c) {
  RangeChecker k(r);
  k.in("vocab_size", c.vocab_size, 1, kMaxVocab);
  k.in("hidden_size", c.hidden_size, 1, kMaxDim);
  k.in("num_hidden_layers", c.num_hidden_layers, 1, kMaxLayers);
  k.in("first_k_dense_replace", c.first_k_dense_replace, 0,
       std::max<int64_t>(c.num_hidden_layers, 0), " (at most num_hidden_layers)");
  k.in("moe_layer_freq", c.moe_layer_freq, 1, kMaxLayers);
  check_attention_values(k, c);
  check_moe_values(r, k, c);
  if (c.first_k_dense_replace > 0 || c.n_routed_experts == 0) {
    k.in("intermediate_size", c.intermediate_size, 1, kMaxDim);
  }
  k.in("num_nextn_predict_layers", c.num_nextn_predict_layers, 0, 64);
  if (c.num_nextn_predict_layers > 0 && c.n_routed_experts == 0) {
    r.problem("MTP layers (num_nextn_predict_layers) need a MoE model");
  }
  k.real("rms_norm_eps", c.rms_norm_eps, 0, false, 1);
  check_rope_values(r, k, c);
  if (c.vocab_size > 0) {
    k.in("bos_token_id", c.bos_token_id, 0, c.vocab_size - 1, " (a token id below vocab_size)");
    k.in("eos_token_id", c.eos_token_id, 0, c.vocab_size - 1, " (a token id below vocab_size)");
  }
  if (c.fp8_block_quantized || c.fp8_block_size != 128) {
    k.in("quantization_config.weight_block_size", c.fp8_block_size, 1, 1 << 16);
  }
  if (c.model_type == "deepseek_v32") check_indexer(r, c);
}

}  // namespace

double ModelConfig::softmax_scale() const {
  double scale = 1.0 / std::sqrt(double(qk_head_dim()));
  if (rope_scaling.enabled && rope_scaling.factor > 1.0) {
    const double m = 0.1 * rope_scaling.mscale_all_dim * std::log(rope_scaling.factor) + 1.0;
    scale *= m * m;
  }
  return scale;
}

Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& origin) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Err(origin, ": not a valid JSON object");
  Reader r(j, origin);
  ModelConfig c;
  r.get("model_type", c.model_type);
  if (!c.model_type.empty() && c.model_type != "deepseek_v3" && c.model_type != "deepseek_v32" &&
      c.model_type != "deepseek_v2") {
    r.problem("model_type '" + c.model_type + "' is not supported (expected 'deepseek_v3', " +
              "'deepseek_v32' or 'deepseek_v2')");
  }
  const bool v32 = c.model_type == "deepseek_v32";
  const bool v3 = c.model_type == "deepseek_v3" || v32;
  c.scoring_func = v3 ? ScoringFunc::kSigmoid : ScoringFunc::kSoftmax;
  c.topk_method = v3 ? TopkMethod::kNoauxTc : TopkMethod::kGreedy;
  r.get("vocab_size", c.vocab_size);
  r.get("hidden_size", c.hidden_size);
  r.get("intermediate_size", c.intermediate_size);
  r.get("moe_intermediate_size", c.moe_intermediate_size, false);
  r.get("num_hidden_layers", c.num_hidden_layers);
  r.get("first_k_dense_replace", c.first_k_dense_replace, false);
  r.get("moe_layer_freq", c.moe_layer_freq, false);
  r.get("num_attention_heads", c.num_attention_heads);
  r.get("n_routed_experts", c.n_routed_experts, false);
  r.get("num_experts_per_tok", c.num_experts_per_tok, false);
  r.get("n_shared_experts", c.n_shared_experts, false);
  r.get("n_group", c.n_group, false);
  r.get("topk_group", c.topk_group, false);
  read_enum(r, "topk_method", c.topk_method,
            {{"noaux_tc", TopkMethod::kNoauxTc},
             {"group_limited_greedy", TopkMethod::kGroupLimitedGreedy},
             {"greedy", TopkMethod::kGreedy}},
            false);
  read_enum(r, "scoring_func", c.scoring_func,
            {{"sigmoid", ScoringFunc::kSigmoid}, {"softmax", ScoringFunc::kSoftmax}}, false);
  r.get("norm_topk_prob", c.norm_topk_prob, false);
  r.get("routed_scaling_factor", c.routed_scaling_factor, false);
  r.get("q_lora_rank", c.q_lora_rank, false);
  r.get("kv_lora_rank", c.kv_lora_rank);
  r.get("qk_nope_head_dim", c.qk_nope_head_dim);
  r.get("qk_rope_head_dim", c.qk_rope_head_dim);
  r.get("v_head_dim", c.v_head_dim);
  r.get("num_nextn_predict_layers", c.num_nextn_predict_layers, false);
  if (v32) {
    r.get("index_n_heads", c.index_n_heads);
    r.get("index_head_dim", c.index_head_dim);
    r.get("index_topk", c.index_topk);
  }
  r.get("rms_norm_eps", c.rms_norm_eps, false);
  r.get("rope_theta", c.rope_theta, false);
  r.get("max_position_embeddings", c.max_position_embeddings, false);
  r.get("tie_word_embeddings", c.tie_word_embeddings, false);
  r.get("bos_token_id", c.bos_token_id, false);
  r.get("eos_token_id", c.eos_token_id, false);
  read_rope_scaling(r, c);
  read_quantization(r, c);
  // V3.2 was trained with power-of-two FP8 scales: its own FP8 steps keep them when the
  // checkpoint is BF16 (no FP8 quantization_config to say so).
  if (v32 && !c.fp8_block_quantized) c.fp8_scale_ue8m0 = true;
  r.check_unknown_keys();
  if (r.status().ok()) check_values(r, c);
  DSV3_TRY(r.status());
  return c;
}

Result<ModelConfig> load_model_config(const std::string& model_dir) {
  if (!std::filesystem::is_directory(model_dir)) {
    return Err("model directory ", model_dir, " does not exist");
  }
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  std::ifstream in(path);
  if (!in) return Err("cannot read ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_model_config(ss.str(), path);
}

std::string describe(const ModelConfig& c) {
  std::ostringstream o;
  const char* scoring = c.scoring_func == ScoringFunc::kSigmoid ? "sigmoid" : "softmax";
  const char* method = c.topk_method == TopkMethod::kNoauxTc              ? "noaux_tc"
                       : c.topk_method == TopkMethod::kGroupLimitedGreedy ? "group_limited_greedy"
                                                                          : "greedy";
  o << "model_type            " << c.model_type << "\n"
    << "vocab / hidden        " << c.vocab_size << " / " << c.hidden_size << "\n"
    << "layers                " << c.num_hidden_layers << " (" << c.first_k_dense_replace
    << " dense, FFN " << c.intermediate_size << ")\n"
    << "attention (MLA)       " << c.num_attention_heads << " heads, q_lora "
    << (c.q_lora_rank ? std::to_string(c.q_lora_rank) : std::string("none (q_proj)"))
    << ", kv_lora " << c.kv_lora_rank << ", nope/rope/v " << c.qk_nope_head_dim << "/"
    << c.qk_rope_head_dim << "/" << c.v_head_dim << "\n"
    << "experts               " << c.n_routed_experts << " routed (width "
    << c.moe_intermediate_size << "), top-" << c.num_experts_per_tok << ", "
    << c.n_shared_experts << " shared; " << scoring << ", " << method << ", groups "
    << c.n_group << "/" << c.topk_group << ", norm_topk_prob "
    << (c.norm_topk_prob ? "true" : "false") << ", scale " << c.routed_scaling_factor << "\n"
    << "MTP layers            " << c.num_nextn_predict_layers << "\n";
  if (c.has_indexer()) {
    o << "sparse attention      lightning indexer, " << c.index_n_heads << " heads of "
      << c.index_head_dim << ", top-" << c.index_topk << " tokens per query (FP8 keys)\n";
  }
  o
    << "RoPE                  theta " << c.rope_theta;
  if (c.rope_scaling.enabled) {
    o << ", YaRN factor " << c.rope_scaling.factor << " (original "
      << c.rope_scaling.original_max_position_embeddings << ", mscale " << c.rope_scaling.mscale
      << "/" << c.rope_scaling.mscale_all_dim << ")";
  }
  o << "\ncontext               " << c.max_position_embeddings << " positions\n"
    << "weights               "
    << (c.fp8_block_quantized ? std::string("FP8 e4m3, block scales")
        : is_quantized(c.group_quant_format)
            ? std::string(format_name(c.group_quant_format)) + " (dsv3 group-quantized)"
            : std::string("as stored"))
    << "\n";
  return o.str();
}

}  // namespace dsv3
