#include "model/weights.h"

#include <map>
#include <string>

#include "tensor/kquant.h"
#include "tensor/weight_codec.h"

namespace dsv3 {

namespace {

// Looks tensors up by name and turns them into our fields, checking what the config implies.
class Binder {
 public:
  Binder(const Checkpoint& ck, const ModelConfig& c) : ck_(ck), c_(c) {}

  // `name` is the weight's, "X.weight".
  Status matrix(const std::string& name, int64_t rows, int64_t cols, Matrix& out) {
    DSV3_ASSIGN_OR_RETURN(TensorView t, ck_.get(name));
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
    DSV3_TRY(expect_shape(t, group_quantized_shape(f, rows, cols)));
    out = matrix_view(f, rows, cols, t.data);
    ++format_counts_[std::string(format_name(f))];
    return OkStatus();
  }

  Status bind_fp8_scales(const std::string& name, const TensorView& t, Matrix& out) {
    const int64_t b = c_.fp8_block_size;
    const std::string scales_name = fp8_scales_name(name);
    auto scales = ck_.get(scales_name);
    if (!scales.ok()) {
      return Err(where(t), " is F8_E4M3 but its block scales '", scales_name, "' are missing");
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

// The field of ModelWeights that a table entry binds: a matrix or a float vector.
struct Slot {
  Matrix* matrix = nullptr;
  std::vector<float>* vector = nullptr;
};

Slot slot_of(ModelWeights& w, const ModelConfig& c, const TensorEntry& e) {
  using R = TensorRole;
  MtpWeights* mtp = e.mtp ? &w.mtp[size_t(e.layer - c.num_hidden_layers)] : nullptr;
  BlockWeights* b = mtp ? &mtp->block : e.layer >= 0 ? &w.layers[size_t(e.layer)] : nullptr;
  switch (e.role) {
    case R::kEmbedding: return {.matrix = &w.embed};
    case R::kAttnNorm: return {.vector = &b->attn_norm};
    case R::kFfnNorm: return {.vector = &b->ffn_norm};
    case R::kQ: return {.matrix = &b->attn.wq};
    case R::kQA: return {.matrix = &b->attn.wq_a};
    case R::kQNorm: return {.vector = &b->attn.q_norm};
    case R::kQB: return {.matrix = &b->attn.wq_b};
    case R::kKvA: return {.matrix = &b->attn.wkv_a};
    case R::kKvNorm: return {.vector = &b->attn.kv_norm};
    case R::kKvB: return {.matrix = &b->attn.wkv_b};
    case R::kO: return {.matrix = &b->attn.wo};
    case R::kIndexerQB: return {.matrix = &b->attn.indexer.wq_b};
    case R::kIndexerK: return {.matrix = &b->attn.indexer.wk};
    case R::kIndexerKNormWeight: return {.vector = &b->attn.indexer.k_norm_weight};
    case R::kIndexerKNormBias: return {.vector = &b->attn.indexer.k_norm_bias};
    case R::kIndexerWeightsProj: return {.matrix = &b->attn.indexer.weights_proj};
    case R::kDenseGateProj: return {.matrix = &b->mlp.w1};
    case R::kDenseUpProj: return {.matrix = &b->mlp.w3};
    case R::kDenseDownProj: return {.matrix = &b->mlp.w2};
    case R::kRouter: return {.matrix = &b->moe.gate.weight};
    case R::kRouterBias: return {.vector = &b->moe.gate.bias};
    case R::kExpertGateProj: return {.matrix = &b->moe.experts[size_t(e.expert)].w1};
    case R::kExpertUpProj: return {.matrix = &b->moe.experts[size_t(e.expert)].w3};
    case R::kExpertDownProj: return {.matrix = &b->moe.experts[size_t(e.expert)].w2};
    case R::kSharedGateProj: return {.matrix = &b->moe.shared.w1};
    case R::kSharedUpProj: return {.matrix = &b->moe.shared.w3};
    case R::kSharedDownProj: return {.matrix = &b->moe.shared.w2};
    case R::kNorm: return {.vector = &w.norm};
    case R::kHead: return {.matrix = &w.head};
    case R::kMtpEmbedding: return {.matrix = &mtp->embed};
    case R::kMtpENorm: return {.vector = &mtp->enorm};
    case R::kMtpHNorm: return {.vector = &mtp->hnorm};
    case R::kMtpEhProj: return {.matrix = &mtp->eh_proj};
    case R::kMtpHeadNorm: return {.vector = &mtp->head_norm};
    case R::kMtpHead: return {.matrix = &mtp->head};
  }
  return {};
}

// Sizes the layer's containers and sets what the config says it has; the selection's part
// of the table then binds into them.
void prepare_block(const ModelConfig& c, int64_t layer, bool moe, const WeightSelection& sel,
                   BlockWeights& w) {
  w.is_moe = moe;
  if (sel.dense_part) w.attn.has_indexer = c.has_indexer();
  if (!moe) return;
  w.moe.layer = layer;
  w.moe.experts.resize(size_t(c.n_routed_experts));
  if (sel.dense_part) w.moe.has_shared = c.n_shared_experts > 0;
}

bool selected(const WeightSelection& sel, const TensorEntry& e) {
  return e.expert >= 0 ? sel.wants_expert(e.layer, e.expert) : sel.dense_part;
}

}  // namespace

bool WeightSelection::wants_tensor(const std::string& name) const {
  const auto expert = routed_expert_of(name);
  if (expert) return wants_expert(expert->first, expert->second);
  return dense_part;
}

Result<ModelWeights> load_weights(const Checkpoint& ck, const ModelConfig& c, bool with_mtp,
                                  const WeightSelection& sel) {
  Binder b(ck, c);
  ModelWeights w;
  w.layers.resize(size_t(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    prepare_block(c, l, c.is_moe_layer(l), sel, w.layers[size_t(l)]);
  }
  if (with_mtp) {
    w.mtp.resize(size_t(c.num_nextn_predict_layers));
    for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
      prepare_block(c, c.num_hidden_layers + k, /*moe=*/true, sel, w.mtp[size_t(k)].block);
    }
  }
  for (const TensorEntry& e : tensor_table(c)) {
    if ((e.mtp && !with_mtp) || !selected(sel, e)) continue;
    const Slot slot = slot_of(w, c, e);
    if (slot.matrix) DSV3_TRY(b.matrix(e.name, e.shape[0], e.shape[1], *slot.matrix));
    if (slot.vector) DSV3_TRY(b.vector(e.name, e.shape[0], *slot.vector));
  }
  // Tied embeddings: the head is the embedding, unless the checkpoint has its own anyway.
  if (sel.dense_part && c.tie_word_embeddings) {
    if (const std::string head = tensor_name(TensorRole::kHead); ck.has(head)) {
      DSV3_TRY(b.matrix(head, c.vocab_size, c.hidden_size, w.head));
    } else {
      w.head = w.embed;
    }
  }
  w.format_summary = b.format_summary();
  return w;
}

}  // namespace dsv3
