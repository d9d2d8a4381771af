#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <type_traits>
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

  // The value of `key` ("rope_scaling.factor": inside the rope_scaling object), or nullptr
  // when it is missing or null.
  const json* find(std::string_view key) {
    seen_.insert(std::string(key));
    const json* object = &j_;
    if (const size_t dot = key.find('.'); dot != std::string_view::npos) {
      object = value_of(j_, key.substr(0, dot));
      if (!object || !object->is_object()) return nullptr;
      key = key.substr(dot + 1);
    }
    return value_of(*object, key);
  }
  void mark_seen(const std::string& key) { seen_.insert(key); }
  void problem(const std::string& p) { problems_.push_back(p); }
  // Keys of the top level, and of `object_key`'s object, that no field or section read.
  void check_unknown_keys(const std::string& object_key) {
    report_unknown(j_, "");
    if (const json* o = value_of(j_, object_key); o && o->is_object()) {
      report_unknown(*o, object_key + ".");
    }
  }
  Status status() const {
    if (problems_.empty()) return OkStatus();
    std::string msg = origin_ + ": invalid model config:";
    for (const auto& p : problems_) msg += "\n  - " + p;
    return Error{msg};
  }

 private:
  static const json* value_of(const json& object, std::string_view key) {
    const auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }
  void report_unknown(const json& object, const std::string& prefix) {
    for (const auto& [k, v] : object.items()) {
      const std::string key = prefix + k;
      if (!seen_.count(key) && (!prefix.empty() || !kIgnoredKeys.count(k))) {
        problem("unknown key '" + key + "' = " + v.dump() + " (not a DeepSeek-V2/V3 config key)");
      }
    }
  }

  const json& j_;
  std::string origin_;
  std::set<std::string> seen_;
  std::vector<std::string> problems_;
};

template <typename E>
void read_enum(Reader& r, std::string_view key, const json& v, E& out) {
  std::string expected;
  for (const auto& [name, value] : enum_names<E>()) {
    if (v == name) {
      out = value;
      return;
    }
    expected += (expected.empty() ? "'" : ", '") + std::string(name) + "'";
  }
  r.problem("key '" + std::string(key) +
            "' = " + (v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump()) +
            " is not supported (expected " + expected + ")");
}

// One field of the table: missing keys, wrong types and unknown enum names are problems.
void read_field(Reader& r, const ConfigField& f, ModelConfig& c) {
  const json* v = r.find(f.key);
  if (!v) {
    if (f.required) r.problem("missing key '" + std::string(f.key) + "'");
    return;
  }
  std::visit(
      [&](auto access) {
        auto& out = access(c);
        using T = std::decay_t<decltype(out)>;
        bool ok = false;
        if constexpr (std::is_enum_v<T>) ok = v->is_string();
        else if constexpr (std::is_same_v<T, bool>) ok = v->is_boolean();
        else if constexpr (std::is_integral_v<T>) ok = v->is_number_integer();
        else if constexpr (std::is_floating_point_v<T>) ok = v->is_number();
        else ok = v->is_string();
        if (!ok) {
          r.problem("key '" + std::string(f.key) + "' = " + v->dump() + " has the wrong type");
        } else if constexpr (std::is_enum_v<T>) {
          read_enum(r, f.key, *v, out);
        } else {
          out = v->get<T>();
        }
      },
      f.ref);
}

// rope_scaling: null (no scaling) or a YaRN object, whose values are fields of the table.
void read_rope_scaling_type(Reader& r, const json& j, ModelConfig& c) {
  r.mark_seen("rope_scaling");
  const auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return;
  if (!it->is_object()) {
    r.problem("rope_scaling = " + it->dump() + " is not an object");
    return;
  }
  std::string type;
  for (const char* key : {"type", "rope_type"}) {
    r.mark_seen(std::string("rope_scaling.") + key);
    if (!it->contains(key)) continue;
    if ((*it)[key].is_string()) type = (*it)[key];
    else
      r.problem(std::string("key 'rope_scaling.") + key + "' = " + (*it)[key].dump() +
                " has the wrong type");
  }
  if (type != "yarn") {
    r.problem("rope_scaling type '" + type + "' is not supported (expected 'yarn')");
    return;
  }
  c.rope_scaling.enabled = true;
}

// quantization_config.`key` when it is a string (or an integer, for int64_t), `fallback` when
// it is missing; a value of another type is a problem named by its key (json's value() would
// throw, ending the process on a config file).
template <typename T>
T quantization_field(Reader& r, const json& q, const char* key, T fallback) {
  const auto it = q.find(key);
  if (it == q.end()) return fallback;
  constexpr bool kString = std::is_same_v<T, std::string>;
  if (kString ? it->is_string() : it->is_number_integer()) return it->template get<T>();
  r.problem(std::string("quantization_config.") + key + " = " + it->dump() + ": expected " +
            (kString ? "a string" : "an integer"));
  return fallback;
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
  const std::string fmt = quantization_field<std::string>(r, q, "fmt", "");
  const std::optional<WeightFormat> f = format_from_name(fmt);
  if (!f || !is_quantized(*f)) {
    r.problem("quantization_config.fmt '" + fmt + "' is not supported (expected 'q8' or 'q4')");
    return;
  }
  if (quantization_field<int64_t>(r, q, "group_size", 0) != kQuantGroup ||
      quantization_field<int64_t>(r, q, "tile_rows", 0) != kQuantTileRows) {
    r.problem("quantization_config " + q.dump() + ": expected group_size " +
              std::to_string(kQuantGroup) + " and tile_rows " + std::to_string(kQuantTileRows));
    return;
  }
  c.group_quant_format = *f;
  // `dsv3 quantize --experts-only` keeps FP8 matrices as stored: their block size.
  if (q.contains("weight_block_size")) read_fp8_block(r, q, c);
}

void read_quantization(Reader& r, ModelConfig& c) {
  const json* found = r.find("quantization_config");
  if (!found) return;
  const json& q = *found;
  if (!q.is_object()) {
    r.problem("quantization_config must be an object, got " + q.dump());
    return;
  }
  const std::string method = quantization_field<std::string>(r, q, "quant_method", "");
  if (method == "dsv3") return read_group_quantization(r, q, c);
  const std::string fmt = quantization_field<std::string>(r, q, "fmt", "e4m3");
  const std::string scale_fmt = quantization_field<std::string>(r, q, "scale_fmt", "");
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

std::string number(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

void bad_value(Reader& r, std::string_view key, const std::string& value,
               const std::string& expected) {
  r.problem("key '" + std::string(key) + "' = " + value + ": expected " + expected);
}

// The field's range from the table: every bad value is named with what was expected, so a
// broken or hostile config.json fails here instead of as NaN logits much later.
void check_field(Reader& r, const ConfigField& f, const ModelConfig& c) {
  using Kind = ConfigField::Range::Kind;
  const ConfigField::Range& g = f.range;
  if (g.kind == Kind::kNone || !f.is_present(c) || (g.applies && !g.applies(c))) return;
  ModelConfig& fields = const_cast<ModelConfig&>(c);  // read only
  if (g.kind == Kind::kCustom) {
    const std::string expected = g.expect(c);
    if (!expected.empty()) bad_value(r, f.key, field_json(f, c).dump(), expected);
    return;
  }
  if (g.kind == Kind::kInteger) {
    const int64_t v = std::get<ConfigField::Access<int64_t>>(f.ref)(fields);
    const int64_t lo = int64_t(g.lo), hi = g.hi_of ? g.hi_of(c) : int64_t(g.hi);
    if (v >= lo && v <= hi) return;
    bad_value(r, f.key, std::to_string(v),
              "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]" +
                  std::string(g.note));
    return;
  }
  const double v = std::get<ConfigField::Access<double>>(f.ref)(fields);
  const bool above = g.lo_inclusive ? v >= g.lo : v > g.lo;
  if (std::isfinite(v) && above && v <= g.hi) return;
  std::string expected =
      std::string("a finite number ") + (g.lo_inclusive ? ">= " : "> ") + number(g.lo);
  if (std::isfinite(g.hi)) expected += " and <= " + number(g.hi);
  bad_value(r, f.key, number(v), expected + std::string(g.note));
}

// Relations between fields that no one field's range says.
void check_relations(Reader& r, const ModelConfig& c) {
  const bool moe_groups =
      c.n_routed_experts > 0 && c.n_group > 0 && c.n_routed_experts % c.n_group == 0;
  if (moe_groups && c.topk_group > 0 && c.topk_group <= c.n_group &&
      c.topk_group * (c.n_routed_experts / c.n_group) < c.num_experts_per_tok) {
    r.problem("topk_group = " + std::to_string(c.topk_group) + " groups hold fewer experts than " +
              "num_experts_per_tok = " + std::to_string(c.num_experts_per_tok));
  }
  if (c.n_routed_experts > 0 && c.n_group > 0 && c.topk_method == TopkMethod::kNoauxTc &&
      c.n_routed_experts / c.n_group < 2) {
    r.problem("noaux_tc needs at least 2 experts per group (group score = top-2 sum)");
  }
  if (c.num_nextn_predict_layers > 0 && c.n_routed_experts == 0) {
    r.problem("MTP layers (num_nextn_predict_layers) need a MoE model");
  }
  const YarnConfig& y = c.rope_scaling;
  if (y.enabled && std::isfinite(y.beta_fast) && std::isfinite(y.beta_slow) && y.beta_slow > 0 &&
      y.beta_fast <= y.beta_slow) {
    r.problem("key 'rope_scaling.beta_fast' = " + number(y.beta_fast) +
              ": expected more than rope_scaling.beta_slow = " + number(y.beta_slow) +
              " (rotations per wavelength: the fast bound is the larger)");
  }
  if ((c.fp8_block_quantized || c.fp8_block_size != 128) &&
      (c.fp8_block_size < 1 || c.fp8_block_size > (1 << 16))) {
    bad_value(r, "quantization_config.weight_block_size", std::to_string(c.fp8_block_size),
              "an integer in [1, 65536]");
  }
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
  for (const ConfigField& f : config_fields()) check_field(r, f, c);
  check_relations(r, c);
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
  const std::span<const ConfigField> fields = config_fields();
  // model_type comes first: it sets the family's defaults and which keys belong.
  read_field(r, fields.front(), c);
  if (!c.model_type.empty() && c.model_type != "deepseek_v3" && c.model_type != "deepseek_v32" &&
      c.model_type != "deepseek_v2") {
    r.problem("model_type '" + c.model_type + "' is not supported (expected 'deepseek_v3', " +
              "'deepseek_v32' or 'deepseek_v2')");
  }
  const bool v32 = c.model_type == "deepseek_v32";
  const bool v3 = c.model_type == "deepseek_v3" || v32;
  c.scoring_func = v3 ? ScoringFunc::kSigmoid : ScoringFunc::kSoftmax;
  c.topk_method = v3 ? TopkMethod::kNoauxTc : TopkMethod::kGreedy;
  read_rope_scaling_type(r, j, c);
  for (const ConfigField& f : fields.subspan(1)) {
    if (f.is_present(c)) read_field(r, f, c);
  }
  read_quantization(r, c);
  // V3.2 was trained with power-of-two FP8 scales: its own FP8 steps keep them when the
  // checkpoint is BF16 (no FP8 quantization_config to say so).
  if (v32 && !c.fp8_block_quantized) c.fp8_scale_ue8m0 = true;
  r.check_unknown_keys("rope_scaling");
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
  const std::string_view scoring = scoring_func_name(c.scoring_func);
  const std::string_view method = topk_method_name(c.topk_method);
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

std::string describe_fields(const ModelConfig& c) {
  std::ostringstream o;
  for (const ConfigField& f : config_fields()) {
    if (!f.is_present(c)) continue;
    const json v = field_json(f, c);
    const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    o << std::left << std::setw(46) << f.key << ' ' << std::setw(14) << text << ' ' << f.doc
      << "\n";
  }
  return o.str();
}

namespace {

// "rope_scaling.factor" -> "/rope_scaling/factor".
json::json_pointer pointer_of(std::string_view key) {
  std::string p = "/" + std::string(key);
  std::replace(p.begin(), p.end(), '.', '/');
  return json::json_pointer(p);
}

// quantization_config as the V3 release writes FP8 block weights, or as `dsv3 quantize`
// writes its group-quantized ones; null for weights as stored.
json quantization_json(const ModelConfig& c) {
  if (c.fp8_block_quantized) {
    json q = {{"activation_scheme", "dynamic"},
              {"fmt", "e4m3"},
              {"quant_method", "fp8"},
              {"weight_block_size", {c.fp8_block_size, c.fp8_block_size}}};
    if (c.fp8_scale_ue8m0) q["scale_fmt"] = "ue8m0";
    return q;
  }
  if (!is_quantized(c.group_quant_format)) return nullptr;
  json q = {{"quant_method", "dsv3"},
            {"fmt", std::string(format_name(c.group_quant_format))},
            {"group_size", kQuantGroup},
            {"tile_rows", kQuantTileRows}};
  if (c.fp8_block_size != 128) q["weight_block_size"] = {c.fp8_block_size, c.fp8_block_size};
  return q;
}

}  // namespace

std::string model_config_json(const ModelConfig& c) {
  json j;  // keys sorted, as transformers writes them
  for (const ConfigField& f : config_fields()) {
    if (f.is_present(c)) j[pointer_of(f.key)] = field_json(f, c);
  }
  if (c.rope_scaling.enabled) j["rope_scaling"]["type"] = "yarn";
  else j["rope_scaling"] = nullptr;
  if (json q = quantization_json(c); !q.is_null()) j["quantization_config"] = std::move(q);
  // Keys transformers expects that change nothing here (kIgnoredKeys).
  j["architectures"] = {c.has_indexer()                 ? "DeepseekV32ForCausalLM"
                        : c.model_type == "deepseek_v3" ? "DeepseekV3ForCausalLM"
                                                        : "DeepseekV2ForCausalLM"};
  j["attention_bias"] = false;
  j["hidden_act"] = "silu";
  j["num_key_value_heads"] = c.num_attention_heads;
  j["torch_dtype"] = "bfloat16";
  return j.dump(2) + "\n";
}

}  // namespace dsv3
