#include "model/weights.h"

#include <map>
#include <string>

#include "tensor/kquant.h"

namespace dsv3 {

namespace {

// Looks tensors up by name and turns them into our fields, checking what the config implies.
class Binder {
 public:
  Binder(const Checkpoint& ck, const ModelConfig& c) : ck_(ck), c_(c) {}

  Status matrix(const std::string& name, int64_t rows, int64_t cols, Matrix& out) {
    DSV3_ASSIGN_OR_RETURN(TensorView t, ck_.get(name + ".weight"));
    if (t.dtype == DType::kU8) return bind_group_quantized(t, rows, cols, out);
    DSV3_TRY(expect_shape(t, {rows, cols}));
    out.rows = rows;
    out.cols = cols;
    out.data = t.data;
    switch (t.dtype) {
      case DType::kF32: out.format = WeightFormat::kF32; break;
      case DType::kF16: out.format = WeightFormat::kF16; break;
      case DType::kBF16: out.format = WeightFormat::kBF16; break;
      case DType::kF8E4M3: DSV3_TRY(bind_fp8_scales(name, t, out)); break;
      default:
        return Err(where(t), ": dtype ", dtype_name(t.dtype),
                   " is not a weight format (expected F8_E4M3, BF16, F16, F32 or U8 q8/q4)");
    }
    ++format_counts_[std::string(format_name(out.format))];
    return OkStatus();
  }

  Status vector(const std::string& name, int64_t n, std::vector<float>& out) {
    DSV3_ASSIGN_OR_RETURN(TensorView t, ck_.get(name));
    DSV3_TRY(expect_shape(t, {n}));
    out.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      switch (t.dtype) {
        case DType::kF32: out[i] = reinterpret_cast<const float*>(t.data)[i]; break;
        case DType::kBF16: out[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i]); break;
        case DType::kF16: out[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i]); break;
        default:
          return Err(where(t), ": dtype ", dtype_name(t.dtype), " is not supported for a vector",
                     " (expected F32, BF16 or F16)");
      }
    }
    return OkStatus();
  }

  std::string format_summary() const {
    std::string s;
    for (const auto& [f, n] : format_counts_) {
      s += (s.empty() ? "" : ", ") + f + " (" + std::to_string(n) + ")";
    }
    return s;
  }

 private:
  std::string where(const TensorView& t) const { return t.file + ": tensor '" + t.name + "'"; }

  Status expect_shape(const TensorView& t, const std::vector<int64_t>& shape) {
    if (t.shape != shape) {
      return Err(where(t), ": shape ", t.shape_string(), ", expected ", shape_string(shape),
                 " from config.json");
    }
    return OkStatus();
  }

  // A q8 / q4 matrix written by `dsv3 quantize`: U8 [tiles, groups, block bytes], the layout
  // of tensor/matrix.h, in the format config.json's quantization_config names.
  Status bind_group_quantized(const TensorView& t, int64_t rows, int64_t cols, Matrix& out) {
    const WeightFormat f = t.packed_format.value_or(c_.group_quant_format);
    if (is_kquant(f)) {
      // A GGUF k-quant matrix repacked at load: U8 [tiles, super-blocks, block bytes].
      if (cols % kKQuantSuperBlock != 0) {
        return Err(where(t), ": ", format_name(f), " needs a multiple of 256 columns, not ", cols);
      }
      DSV3_TRY(expect_shape(t, {(rows + kQuantTileRows - 1) / kQuantTileRows,
                                cols / kKQuantSuperBlock, kquant_block_bytes(f)}));
      out = matrix_view(f, rows, cols, t.data);
      ++format_counts_[std::string(format_name(f))];
      return OkStatus();
    }
    if (!is_quantized(f)) {
      return Err(where(t), ": dtype U8 (a dsv3 q8/q4 matrix) but config.json has no",
                 " quantization_config with quant_method 'dsv3'");
    }
    const int64_t tiles = (rows + kQuantTileRows - 1) / kQuantTileRows;
    const int64_t groups = (cols + kQuantGroup - 1) / kQuantGroup;
    DSV3_TRY(expect_shape(t, {tiles, groups, quant_block_bytes(f)}));
    out = matrix_view(f, rows, cols, t.data);
    ++format_counts_[std::string(format_name(f))];
    return OkStatus();
  }

  Status bind_fp8_scales(const std::string& name, const TensorView& t, Matrix& out) {
    const int64_t b = c_.fp8_block_size;
    auto scales = ck_.get(name + ".weight_scale_inv");
    if (!scales.ok()) {
      return Err(where(t), " is F8_E4M3 but its block scales '", name,
                 ".weight_scale_inv' are missing");
    }
    const std::vector<int64_t> shape = {(out.rows + b - 1) / b, (out.cols + b - 1) / b};
    if (scales->dtype != DType::kF32) {
      return Err(where(*scales), ": dtype ", dtype_name(scales->dtype), ", expected F32");
    }
    DSV3_TRY(expect_shape(*scales, shape));
    out.format = WeightFormat::kFP8Block;
    out.block_scales = reinterpret_cast<const float*>(scales->data);
    out.block = b;
    out.scale_cols = shape[1];
    return OkStatus();
  }

  const Checkpoint& ck_;
  const ModelConfig& c_;
  std::map<std::string, int> format_counts_;
};

Status bind_mlp(Binder& b, const std::string& p, int64_t hidden, int64_t inter, MlpWeights& w) {
  DSV3_TRY(b.matrix(p + "gate_proj", inter, hidden, w.w1));
  DSV3_TRY(b.matrix(p + "up_proj", inter, hidden, w.w3));
  return b.matrix(p + "down_proj", hidden, inter, w.w2);
}

Status bind_attention(Binder& b, const ModelConfig& c, const std::string& p, AttentionWeights& w) {
  const int64_t h = c.num_attention_heads;
  if (c.q_lora_rank > 0) {
    DSV3_TRY(b.matrix(p + "q_a_proj", c.q_lora_rank, c.hidden_size, w.wq_a));
    DSV3_TRY(b.vector(p + "q_a_layernorm.weight", c.q_lora_rank, w.q_norm));
    DSV3_TRY(b.matrix(p + "q_b_proj", h * c.qk_head_dim(), c.q_lora_rank, w.wq_b));
  } else {
    DSV3_TRY(b.matrix(p + "q_proj", h * c.qk_head_dim(), c.hidden_size, w.wq));
  }
  DSV3_TRY(b.matrix(p + "kv_a_proj_with_mqa", c.kv_cache_width(), c.hidden_size, w.wkv_a));
  DSV3_TRY(b.vector(p + "kv_a_layernorm.weight", c.kv_lora_rank, w.kv_norm));
  DSV3_TRY(b.matrix(p + "kv_b_proj", h * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank,
                    w.wkv_b));
  DSV3_TRY(b.matrix(p + "o_proj", c.hidden_size, h * c.v_head_dim, w.wo));
  w.has_indexer = c.has_indexer();
  if (!w.has_indexer) return OkStatus();
  IndexerWeights& x = w.indexer;
  const std::string i = p + "indexer.";
  DSV3_TRY(b.matrix(i + "wq_b", c.index_n_heads * c.index_head_dim, c.q_lora_rank, x.wq_b));
  DSV3_TRY(b.matrix(i + "wk", c.index_head_dim, c.hidden_size, x.wk));
  DSV3_TRY(b.vector(i + "k_norm.weight", c.index_head_dim, x.k_norm_weight));
  DSV3_TRY(b.vector(i + "k_norm.bias", c.index_head_dim, x.k_norm_bias));
  return b.matrix(i + "weights_proj", c.index_n_heads, c.hidden_size, x.weights_proj);
}

Status bind_block(Binder& b, const ModelConfig& c, int64_t layer, bool moe,
                  const WeightSelection& sel, BlockWeights& w) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  w.is_moe = moe;
  if (sel.dense_part) {
    DSV3_TRY(b.vector(p + "input_layernorm.weight", c.hidden_size, w.attn_norm));
    DSV3_TRY(b.vector(p + "post_attention_layernorm.weight", c.hidden_size, w.ffn_norm));
    DSV3_TRY(bind_attention(b, c, p + "self_attn.", w.attn));
    if (!moe) return bind_mlp(b, p + "mlp.", c.hidden_size, c.intermediate_size, w.mlp);
  }
  if (!moe) return OkStatus();

  MoeWeights& m = w.moe;
  m.layer = layer;
  m.experts.resize(c.n_routed_experts);
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    if (!sel.wants_expert(layer, e)) continue;
    DSV3_TRY(bind_mlp(b, p + "mlp.experts." + std::to_string(e) + ".", c.hidden_size,
                      c.moe_intermediate_size, m.experts[e]));
  }
  if (!sel.dense_part) return OkStatus();
  DSV3_TRY(b.matrix(p + "mlp.gate", c.n_routed_experts, c.hidden_size, m.gate.weight));
  if (c.topk_method == TopkMethod::kNoauxTc) {
    DSV3_TRY(b.vector(p + "mlp.gate.e_score_correction_bias", c.n_routed_experts, m.gate.bias));
  }
  m.has_shared = c.n_shared_experts > 0;
  if (m.has_shared) {
    DSV3_TRY(bind_mlp(b, p + "mlp.shared_experts.", c.hidden_size,
                      c.n_shared_experts * c.moe_intermediate_size, m.shared));
  }
  return OkStatus();
}

Status bind_mtp(Binder& b, const ModelConfig& c, int64_t layer, const WeightSelection& sel,
                MtpWeights& w) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  if (!sel.dense_part) return bind_block(b, c, layer, /*moe=*/true, sel, w.block);
  DSV3_TRY(b.matrix(p + "embed_tokens", c.vocab_size, c.hidden_size, w.embed));
  DSV3_TRY(b.vector(p + "enorm.weight", c.hidden_size, w.enorm));
  DSV3_TRY(b.vector(p + "hnorm.weight", c.hidden_size, w.hnorm));
  DSV3_TRY(b.matrix(p + "eh_proj", c.hidden_size, 2 * c.hidden_size, w.eh_proj));
  DSV3_TRY(bind_block(b, c, layer, /*moe=*/true, sel, w.block));
  DSV3_TRY(b.vector(p + "shared_head.norm.weight", c.hidden_size, w.head_norm));
  return b.matrix(p + "shared_head.head", c.vocab_size, c.hidden_size, w.head);
}

}  // namespace

std::optional<std::pair<int64_t, int64_t>> routed_expert_of(const std::string& name) {
  static const std::string kLayers = "model.layers.", kExperts = ".mlp.experts.";
  if (name.compare(0, kLayers.size(), kLayers) != 0) return std::nullopt;
  size_t at = kLayers.size();
  auto number = [&](int64_t& out) {
    const size_t start = at;
    out = 0;
    while (at < name.size() && name[at] >= '0' && name[at] <= '9') out = out * 10 + (name[at++] - '0');
    return at > start;
  };
  int64_t layer = 0, expert = 0;
  if (!number(layer) || name.compare(at, kExperts.size(), kExperts) != 0) return std::nullopt;
  at += kExperts.size();
  if (!number(expert) || at >= name.size() || name[at] != '.') return std::nullopt;
  return std::pair(layer, expert);
}

bool WeightSelection::wants_tensor(const std::string& name) const {
  const auto expert = routed_expert_of(name);
  if (expert) return wants_expert(expert->first, expert->second);
  return dense_part;
}

Result<ModelWeights> load_weights(const Checkpoint& ck, const ModelConfig& c, bool with_mtp,
                                  const WeightSelection& sel) {
  Binder b(ck, c);
  ModelWeights w;
  if (sel.dense_part) DSV3_TRY(b.matrix("model.embed_tokens", c.vocab_size, c.hidden_size, w.embed));
  w.layers.resize(c.num_hidden_layers);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    DSV3_TRY(bind_block(b, c, l, c.is_moe_layer(l), sel, w.layers[l]));
  }
  if (sel.dense_part) {
    DSV3_TRY(b.vector("model.norm.weight", c.hidden_size, w.norm));
    if (c.tie_word_embeddings && !ck.has("lm_head.weight")) {
      w.head = w.embed;
    } else {
      DSV3_TRY(b.matrix("lm_head", c.vocab_size, c.hidden_size, w.head));
    }
  }
  if (with_mtp) {
    w.mtp.resize(c.num_nextn_predict_layers);
    for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
      DSV3_TRY(bind_mtp(b, c, c.num_hidden_layers + k, sel, w.mtp[k]));
    }
  }
  w.format_summary = b.format_summary();
  return w;
}

ParameterCounts count_parameters(const ModelConfig& c) {
  const int64_t d = c.hidden_size, h = c.num_attention_heads;
  const int64_t q = c.q_lora_rank > 0
                        ? c.q_lora_rank * d + c.q_lora_rank + h * c.qk_head_dim() * c.q_lora_rank
                        : h * c.qk_head_dim() * d;
  int64_t attn = q + c.kv_cache_width() * d + c.kv_lora_rank +
                       h * (c.qk_nope_head_dim + c.v_head_dim) * c.kv_lora_rank +
                       d * h * c.v_head_dim;
  if (c.has_indexer()) {
    attn += c.index_n_heads * c.index_head_dim * c.q_lora_rank + c.index_head_dim * d +
            2 * c.index_head_dim + c.index_n_heads * d;
  }
  const int64_t norms = 2 * d;
  const int64_t dense = 3 * d * c.intermediate_size;
  const int64_t expert = 3 * d * c.moe_intermediate_size;
  // e_score_correction_bias exists only with noaux_tc routing.
  const int64_t router_bias = c.topk_method == TopkMethod::kNoauxTc ? c.n_routed_experts : 0;
  const int64_t router = c.n_routed_experts * d + router_bias;
  const int64_t shared = c.n_shared_experts * expert;
  const int64_t moe_total = router + c.n_routed_experts * expert + shared;
  const int64_t moe_active = router + c.num_experts_per_tok * expert + shared;

  ParameterCounts p;
  p.embedding = c.vocab_size * d;
  const int64_t head = c.tie_word_embeddings ? 0 : c.vocab_size * d;
  p.total = p.embedding + head + d;
  p.active_per_token = d + c.vocab_size * d;  // one embedding row is negligible; head is read
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const bool moe = c.is_moe_layer(l);
    p.total += attn + norms + (moe ? moe_total : dense);
    p.active_per_token += attn + norms + (moe ? moe_active : dense);
  }
  // MTP layer: its own embedding and head duplicate the main ones in the checkpoint.
  p.mtp = c.num_nextn_predict_layers *
          (attn + norms + moe_total + 3 * d + 2 * d * d + 2 * c.vocab_size * d);
  p.total += p.mtp;
  return p;
}

}  // namespace dsv3
