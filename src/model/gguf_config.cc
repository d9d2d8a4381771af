// deepseek2.* GGUF metadata -> the config.json keys parse_model_config()
// validates. The keys are those llama.cpp's converter writes
// (DeepseekV2Model.set_gguf_parameters and TextModel.set_gguf_parameters in
// convert_hf_to_gguf / conversion/*.py).
#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "model/gguf_model.h"
#include "io/gguf_writer.h"
#include "model/tensor_table.h"

namespace dsv3 {

namespace {

using nlohmann::ordered_json;

constexpr int64_t kGatingSoftmax = 1; // gguf-py ExpertGatingFuncType
constexpr int64_t kGatingSigmoid = 2;

// The deepseek2.* keys that hold one config.json field each, as they are: the
// reader fills the field from the key, convert writes the key from the field
// (write_gguf_config_keys). The rest, derived from several keys or tensors, is
// spelled out below.
enum class Section { kAlways, kMoe, kYarn };

struct GgufKey {
  std::string_view field; // the config_fields() key
  std::string_view gguf;  // after "deepseek2."
  Section section;        // kMoe: with routed experts only; kYarn: with YaRN
  bool required;          // a file without it is refused (else the default)
};

constexpr GgufKey kGgufKeys[] = {
    {"hidden_size", "embedding_length", Section::kAlways, true},
    {"intermediate_size", "feed_forward_length", Section::kAlways, true},
    {"num_attention_heads", "attention.head_count", Section::kAlways, true},
    {"kv_lora_rank", "attention.kv_lora_rank", Section::kAlways, true},
    {"qk_rope_head_dim", "rope.dimension_count", Section::kAlways, true},
    {"first_k_dense_replace", "leading_dense_block_count", Section::kAlways,
     false},
    {"max_position_embeddings", "context_length", Section::kAlways, false},
    {"rope_theta", "rope.freq_base", Section::kAlways, false},
    {"rms_norm_eps", "attention.layer_norm_rms_epsilon", Section::kAlways,
     false},
    {"moe_intermediate_size", "expert_feed_forward_length", Section::kMoe,
     true},
    {"num_experts_per_tok", "expert_used_count", Section::kMoe, true},
    {"n_shared_experts", "expert_shared_count", Section::kMoe, false},
    {"n_group", "expert_group_count", Section::kMoe, false},
    {"topk_group", "expert_group_used_count", Section::kMoe, false},
    {"routed_scaling_factor", "expert_weights_scale", Section::kMoe, false},
    {"rope_scaling.factor", "rope.scaling.factor", Section::kYarn, false},
    {"rope_scaling.original_max_position_embeddings",
     "rope.scaling.original_context_length", Section::kYarn, true},
    {"rope_scaling.beta_fast", "rope.scaling.yarn_beta_fast", Section::kYarn,
     false},
    {"rope_scaling.beta_slow", "rope.scaling.yarn_beta_slow", Section::kYarn,
     false},
};

const ConfigField &field_of(const GgufKey &k) {
  for (const ConfigField &f : config_fields()) {
    if (f.key == k.field)
      return f;
  }
  std::abort(); // kGgufKeys names only fields of the table (tested)
}

ordered_json::json_pointer pointer_of(std::string_view key) {
  std::string p = "/" + std::string(key);
  std::replace(p.begin(), p.end(), '.', '/');
  return ordered_json::json_pointer(p);
}

std::string arch_key(std::string_view key) {
  return "deepseek2." + std::string(key);
}

// Reads "deepseek2.<key>" values into a JSON object, stopping at the first
// problem.
class MetadataReader {
public:
  explicit MetadataReader(const GgufMetadata &md) : md_(md) {}

  Result<int64_t> int_key(const std::string &key) const {
    return md_.get_int(arch(key));
  }
  Result<int64_t> int_key_or(const std::string &key, int64_t fallback) const {
    return md_.get_int_or(arch(key), fallback);
  }
  Result<double> float_key_or(const std::string &key, double fallback) const {
    return md_.get_float_or(arch(key), fallback);
  }
  bool has(const std::string &key) const { return md_.has(arch(key)); }
  const GgufMetadata &metadata() const { return md_; }

private:
  static std::string arch(const std::string &key) { return "deepseek2." + key; }
  const GgufMetadata &md_;
};

// The section's keys of kGgufKeys into `j`; a missing optional one gives the
// field ModelConfig's default.
Status read_keys(const GgufMetadata &md, Section section, ordered_json &j) {
  static const ModelConfig kDefaults;
  for (const GgufKey &k : kGgufKeys) {
    if (k.section != section)
      continue;
    const ConfigField &f = field_of(k);
    const std::string key = arch_key(k.gguf);
    ordered_json &out = j[pointer_of(k.field)];
    if (!k.required && !md.has(key)) {
      out = field_json(f, kDefaults);
    } else if (std::holds_alternative<ConfigField::Access<double>>(f.ref)) {
      DSV3_ASSIGN_OR_RETURN(out, md.get_float(key));
    } else {
      DSV3_ASSIGN_OR_RETURN(out, md.get_int(key));
    }
  }
  return OkStatus();
}

Status read_vocab_size(const GgufModelFiles &f, const MetadataReader &r,
                       ordered_json &j) {
  if (r.has("vocab_size")) {
    DSV3_ASSIGN_OR_RETURN(j["vocab_size"], r.int_key("vocab_size"));
    return OkStatus();
  }
  // Older files: the embedding's row count.
  const std::string embedding = *gguf_tensor_name(TensorRole::kEmbedding);
  DSV3_ASSIGN_OR_RETURN(GgufTensor embd, f.get(embedding));
  if (embd.ne.size() != 2)
    return Err(f.path(), ": ", embedding, " is not a matrix");
  j["vocab_size"] = embd.ne[1];
  return OkStatus();
}

Status read_attention(const MetadataReader &r, ordered_json &j) {
  j["num_key_value_heads"] = j["num_attention_heads"];
  DSV3_ASSIGN_OR_RETURN(int64_t q_lora,
                        r.int_key_or("attention.q_lora_rank", 0));
  j["q_lora_rank"] = q_lora > 0 ? ordered_json(q_lora) : ordered_json(nullptr);
  const int64_t rope = j["qk_rope_head_dim"];
  // Since llama.cpp's MLA change, key_length / value_length describe the latent
  // (MQA) form and the *_mla keys the per-head sizes; older files have only the
  // per-head sizes.
  const bool mla_keys = r.has("attention.key_length_mla");
  const char *key_length =
      mla_keys ? "attention.key_length_mla" : "attention.key_length";
  DSV3_ASSIGN_OR_RETURN(int64_t key_len, r.int_key(key_length));
  // The key is the no-RoPE part and the RoPE part: checked before subtracting
  // (values from the file can be anything an int64 holds).
  if (rope < 0 || key_len < rope) {
    return Err("deepseek2.", key_length, " = ", key_len,
               " cannot hold deepseek2.rope.dimension_count = ", rope,
               " (expected 0 <= rope.dimension_count <= key length)");
  }
  DSV3_ASSIGN_OR_RETURN(j["v_head_dim"],
                        r.int_key(mla_keys ? "attention.value_length_mla"
                                           : "attention.value_length"));
  j["qk_nope_head_dim"] = key_len - rope;
  return OkStatus();
}

Status read_moe(const MetadataReader &r, ordered_json &j,
                bool has_router_bias) {
  DSV3_ASSIGN_OR_RETURN(int64_t experts, r.int_key_or("expert_count", 0));
  j["n_routed_experts"] = experts;
  if (experts == 0)
    return OkStatus();
  DSV3_TRY(read_keys(r.metadata(), Section::kMoe, j));
  const int64_t groups = j["n_group"];
  bool norm = false;
  if (r.has("expert_weights_norm")) {
    DSV3_ASSIGN_OR_RETURN(
        norm, r.metadata().get_bool("deepseek2.expert_weights_norm"));
  }
  j["norm_topk_prob"] = norm;
  // Files from before the key existed are V2 models: softmax.
  DSV3_ASSIGN_OR_RETURN(int64_t gating,
                        r.int_key_or("expert_gating_func", kGatingSoftmax));
  if (gating != kGatingSoftmax && gating != kGatingSigmoid) {
    return Err("deepseek2.expert_gating_func = ", gating,
               " is not supported (expected 1 softmax or 2 sigmoid)");
  }
  const bool sigmoid = gating == kGatingSigmoid;
  j["scoring_func"] = sigmoid ? "sigmoid" : "softmax";
  // GGUF has no key for the selection rule: V3's sigmoid router uses the bias
  // (noaux_tc), V2's softmax router limits groups when there are several.
  if (sigmoid && !has_router_bias) {
    return Err("deepseek2.expert_gating_func is sigmoid but no "
               "exp_probs_b.bias tensor exists"
               " (V3-style routing needs the router bias)");
  }
  j["topk_method"] = sigmoid      ? "noaux_tc"
                     : groups > 1 ? "group_limited_greedy"
                                  : "greedy";
  j["model_type"] = sigmoid ? "deepseek_v3" : "deepseek_v2";
  return OkStatus();
}

Status read_rope(const MetadataReader &r, ordered_json &j) {
  const GgufMetadata &md = r.metadata();
  std::string type = "none";
  if (md.has("deepseek2.rope.scaling.type")) {
    DSV3_ASSIGN_OR_RETURN(type, md.get_string("deepseek2.rope.scaling.type"));
  }
  if (type == "none") {
    j["rope_scaling"] = nullptr;
    return OkStatus();
  }
  if (type != "yarn") {
    return Err("deepseek2.rope.scaling.type = '", type,
               "' is not supported (expected yarn or none)");
  }
  DSV3_TRY(read_keys(md, Section::kYarn, j));
  ordered_json &y = j["rope_scaling"];
  y["type"] = "yarn";
  // llama.cpp stores 0.1 * mscale_all_dim as yarn_log_multiplier and not mscale
  // itself; the DeepSeek configs have mscale == mscale_all_dim (the RoPE
  // magnitude correction cancels).
  DSV3_ASSIGN_OR_RETURN(
      double log_mul, r.float_key_or("rope.scaling.yarn_log_multiplier", 0.0));
  y["mscale_all_dim"] = log_mul / 0.1;
  y["mscale"] = log_mul / 0.1;
  return OkStatus();
}

} // namespace

Result<std::string> gguf_config_json(const GgufModelFiles &f) {
  const GgufMetadata &md = f.metadata();
  DSV3_ASSIGN_OR_RETURN(std::string arch,
                        md.get_string("general.architecture"));
  if (arch != "deepseek2") {
    return Err(f.path(), ": general.architecture is '", arch,
               "', expected 'deepseek2'");
  }
  const MetadataReader r(md);
  ordered_json j;
  j["model_type"] = "deepseek_v2";
  auto fill = [&]() -> Status {
    DSV3_TRY(read_vocab_size(f, r, j));
    DSV3_TRY(read_keys(md, Section::kAlways, j));
    DSV3_ASSIGN_OR_RETURN(int64_t blocks, r.int_key("block_count"));
    // block_count counts the MTP layers too (they are blk.{L}.nextn.* after the
    // main ones).
    DSV3_ASSIGN_OR_RETURN(int64_t nextn,
                          r.int_key_or("nextn_predict_layers", 0));
    if (nextn < 0 || nextn > blocks) {
      return Err("deepseek2.nextn_predict_layers = ", nextn,
                 " is outside 0..deepseek2.block_count (", blocks, ")");
    }
    j["num_hidden_layers"] = blocks - nextn;
    j["num_nextn_predict_layers"] = nextn;
    DSV3_TRY(read_attention(r, j));
    bool router_bias = false;
    for (const auto &[name, t] : f.tensors()) {
      const auto part = parse_gguf_tensor_name(name);
      router_bias |= part && part->role == TensorRole::kRouterBias;
    }
    DSV3_TRY(read_moe(r, j, router_bias));
    DSV3_TRY(read_rope(r, j));
    j["tie_word_embeddings"] = !f.has(*gguf_tensor_name(TensorRole::kHead));
    DSV3_ASSIGN_OR_RETURN(j["bos_token_id"],
                          md.get_int_or("tokenizer.ggml.bos_token_id", 0));
    DSV3_ASSIGN_OR_RETURN(j["eos_token_id"],
                          md.get_int_or("tokenizer.ggml.eos_token_id", 1));
    return OkStatus();
  };
  auto status = fill();
  if (!status.ok()) {
    const std::string &m = status.error().message;
    return m.rfind(f.path(), 0) == 0 ? status.error() : Err(f.path(), ": ", m);
  }
  return j.dump(2);
}

void write_gguf_config_keys(GgufWriter &w, const ModelConfig &c) {
  for (const GgufKey &k : kGgufKeys) {
    if ((k.section == Section::kMoe && c.n_routed_experts == 0) ||
        (k.section == Section::kYarn && !c.rope_scaling.enabled))
      continue;
    const ordered_json v = field_json(field_of(k), c);
    if (v.is_number_float())
      w.add_float32(arch_key(k.gguf), v.get<float>());
    else
      w.add_uint32(arch_key(k.gguf), v.get<uint32_t>());
  }
}

std::vector<std::string> gguf_config_key_fields() {
  std::vector<std::string> out;
  for (const GgufKey &k : kGgufKeys)
    out.push_back(std::string(k.field));
  return out;
}

Result<ModelConfig> gguf_model_config(const GgufModelFiles &f) {
  DSV3_ASSIGN_OR_RETURN(std::string text, gguf_config_json(f));
  return parse_model_config(text, f.path() + " (deepseek2 metadata)");
}

} // namespace dsv3
