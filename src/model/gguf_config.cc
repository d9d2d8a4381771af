// deepseek2.* GGUF metadata -> the config.json keys parse_model_config()
// validates. The keys are those llama.cpp's converter writes
// (DeepseekV2Model.set_gguf_parameters and TextModel.set_gguf_parameters in
// convert_hf_to_gguf / conversion/*.py).
#include <nlohmann/json.hpp>

#include "model/gguf_model.h"

namespace dsv3 {

namespace {

using nlohmann::ordered_json;

constexpr int64_t kGatingSoftmax = 1; // gguf-py ExpertGatingFuncType
constexpr int64_t kGatingSigmoid = 2;

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

Status read_vocab_size(const GgufModelFiles &f, const MetadataReader &r,
                       ordered_json &j) {
  if (r.has("vocab_size")) {
    DSV3_ASSIGN_OR_RETURN(j["vocab_size"], r.int_key("vocab_size"));
    return OkStatus();
  }
  // Older files: the embedding's row count.
  DSV3_ASSIGN_OR_RETURN(GgufTensor embd, f.get("token_embd.weight"));
  if (embd.ne.size() != 2)
    return Err(f.path(), ": token_embd.weight is not a matrix");
  j["vocab_size"] = embd.ne[1];
  return OkStatus();
}

Status read_attention(const MetadataReader &r, ordered_json &j) {
  DSV3_ASSIGN_OR_RETURN(j["num_attention_heads"],
                        r.int_key("attention.head_count"));
  j["num_key_value_heads"] = j["num_attention_heads"];
  DSV3_ASSIGN_OR_RETURN(int64_t q_lora,
                        r.int_key_or("attention.q_lora_rank", 0));
  j["q_lora_rank"] = q_lora > 0 ? ordered_json(q_lora) : ordered_json(nullptr);
  DSV3_ASSIGN_OR_RETURN(j["kv_lora_rank"], r.int_key("attention.kv_lora_rank"));
  DSV3_ASSIGN_OR_RETURN(int64_t rope, r.int_key("rope.dimension_count"));
  j["qk_rope_head_dim"] = rope;
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
  DSV3_ASSIGN_OR_RETURN(j["first_k_dense_replace"],
                        r.int_key_or("leading_dense_block_count", 0));
  DSV3_ASSIGN_OR_RETURN(int64_t experts, r.int_key_or("expert_count", 0));
  j["n_routed_experts"] = experts;
  if (experts == 0)
    return OkStatus();
  DSV3_ASSIGN_OR_RETURN(j["moe_intermediate_size"],
                        r.int_key("expert_feed_forward_length"));
  DSV3_ASSIGN_OR_RETURN(j["num_experts_per_tok"],
                        r.int_key("expert_used_count"));
  DSV3_ASSIGN_OR_RETURN(j["n_shared_experts"],
                        r.int_key_or("expert_shared_count", 0));
  DSV3_ASSIGN_OR_RETURN(int64_t groups, r.int_key_or("expert_group_count", 1));
  j["n_group"] = groups;
  DSV3_ASSIGN_OR_RETURN(j["topk_group"],
                        r.int_key_or("expert_group_used_count", 1));
  DSV3_ASSIGN_OR_RETURN(j["routed_scaling_factor"],
                        r.float_key_or("expert_weights_scale", 1.0));
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
  DSV3_ASSIGN_OR_RETURN(j["rope_theta"],
                        r.float_key_or("rope.freq_base", 10000.0));
  DSV3_ASSIGN_OR_RETURN(j["max_position_embeddings"],
                        r.int_key_or("context_length", 4096));
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
  ordered_json y;
  y["type"] = "yarn";
  DSV3_ASSIGN_OR_RETURN(y["factor"],
                        r.float_key_or("rope.scaling.factor", 1.0));
  DSV3_ASSIGN_OR_RETURN(y["original_max_position_embeddings"],
                        r.int_key("rope.scaling.original_context_length"));
  DSV3_ASSIGN_OR_RETURN(y["beta_fast"],
                        r.float_key_or("rope.scaling.yarn_beta_fast", 32.0));
  DSV3_ASSIGN_OR_RETURN(y["beta_slow"],
                        r.float_key_or("rope.scaling.yarn_beta_slow", 1.0));
  // llama.cpp stores 0.1 * mscale_all_dim as yarn_log_multiplier and not mscale
  // itself; the DeepSeek configs have mscale == mscale_all_dim (the RoPE
  // magnitude correction cancels).
  DSV3_ASSIGN_OR_RETURN(
      double log_mul, r.float_key_or("rope.scaling.yarn_log_multiplier", 0.0));
  y["mscale_all_dim"] = log_mul / 0.1;
  y["mscale"] = log_mul / 0.1;
  j["rope_scaling"] = y;
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
    DSV3_ASSIGN_OR_RETURN(j["hidden_size"], r.int_key("embedding_length"));
    DSV3_ASSIGN_OR_RETURN(j["intermediate_size"],
                          r.int_key("feed_forward_length"));
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
      router_bias |= name.size() > 16 && name.compare(name.size() - 16, 16,
                                                      "exp_probs_b.bias") == 0;
    }
    DSV3_TRY(read_moe(r, j, router_bias));
    DSV3_TRY(read_rope(r, j));
    DSV3_ASSIGN_OR_RETURN(
        j["rms_norm_eps"],
        r.float_key_or("attention.layer_norm_rms_epsilon", 1e-6));
    j["tie_word_embeddings"] = !f.has("output.weight");
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

Result<ModelConfig> gguf_model_config(const GgufModelFiles &f) {
  DSV3_ASSIGN_OR_RETURN(std::string text, gguf_config_json(f));
  return parse_model_config(text, f.path() + " (deepseek2 metadata)");
}

} // namespace dsv3
