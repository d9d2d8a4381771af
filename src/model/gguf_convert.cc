#include "model/gguf_convert.h"

#include <cstring>

#include "io/checkpoint.h"
#include "io/gguf_writer.h"
#include "model/config.h"
#include "model/gguf_model.h"
#include "model/gguf_tokenizer.h"
#include "model/tensor_table.h"
#include "model/weights.h"
#include "tensor/quant.h"

namespace dsv3 {

namespace {

constexpr int64_t kGatingSoftmax = 1,
                  kGatingSigmoid = 2; // gguf-py ExpertGatingFuncType
// llama_ftype of general.file_type.
int64_t file_type_of(GgmlType t) {
  switch (t) {
  case GgmlType::kF32:
    return 0;
  case GgmlType::kF16:
    return 1;
  case GgmlType::kQ8_0:
    return 7;
  default:
    return 32; // BF16
  }
}

// What llama.cpp cannot express: refused rather than written wrong.
Status check_expressible(const ModelConfig &c, const std::string &dir) {
  if (c.moe_layer_freq != 1)
    return Err(dir, ": moe_layer_freq != 1 has no GGUF key");
  const bool sigmoid = c.scoring_func == ScoringFunc::kSigmoid;
  if (c.n_routed_experts > 0 &&
      sigmoid != (c.topk_method == TopkMethod::kNoauxTc)) {
    return Err(
        dir,
        ": deepseek2 GGUF files pair sigmoid scoring with noaux_tc routing");
  }
  if (c.n_routed_experts > 0 && !sigmoid && c.n_group > 1 &&
      c.topk_method != TopkMethod::kGroupLimitedGreedy) {
    return Err(dir, ": softmax routing over several groups must be "
                    "group_limited_greedy in GGUF");
  }
  if (c.rope_scaling.enabled &&
      c.rope_scaling.mscale != c.rope_scaling.mscale_all_dim) {
    return Err(
        dir,
        ": rope_scaling mscale != mscale_all_dim cannot be written to GGUF");
  }
  return OkStatus();
}

void write_metadata(GgufWriter &w, const ModelConfig &c, bool with_mtp,
                    GgmlType type) {
  const std::string a = "deepseek2.";
  const int64_t nextn = with_mtp ? c.num_nextn_predict_layers : 0;
  w.add_string("general.architecture", "deepseek2");
  w.add_string("general.name", "dsv3 convert");
  w.add_uint32("general.file_type", uint32_t(file_type_of(type)));
  w.add_uint32(a + "block_count", uint32_t(c.num_hidden_layers + nextn));
  if (nextn > 0)
    w.add_uint32(a + "nextn_predict_layers", uint32_t(nextn));
  write_gguf_config_keys(w, c);
  w.add_uint32(a + "attention.head_count_kv", 1);
  w.add_uint32(a + "vocab_size", uint32_t(c.vocab_size));
  if (c.q_lora_rank > 0)
    w.add_uint32(a + "attention.q_lora_rank", uint32_t(c.q_lora_rank));
  w.add_uint32(a + "attention.key_length",
               uint32_t(c.kv_lora_rank + c.qk_rope_head_dim));
  w.add_uint32(a + "attention.value_length", uint32_t(c.kv_lora_rank));
  w.add_uint32(a + "attention.key_length_mla", uint32_t(c.qk_head_dim()));
  w.add_uint32(a + "attention.value_length_mla", uint32_t(c.v_head_dim));
  if (c.n_routed_experts > 0) {
    w.add_uint32(a + "expert_count", uint32_t(c.n_routed_experts));
    if (c.norm_topk_prob)
      w.add_bool(a + "expert_weights_norm", true);
    w.add_uint32(a + "expert_gating_func",
                 c.scoring_func == ScoringFunc::kSigmoid ? kGatingSigmoid
                                                         : kGatingSoftmax);
  }
  if (c.rope_scaling.enabled) {
    const YarnConfig &y = c.rope_scaling;
    w.add_string(a + "rope.scaling.type", "yarn");
    w.add_float32(a + "rope.scaling.yarn_log_multiplier",
                  float(0.1 * y.mscale_all_dim));
  }
}

// A checkpoint tensor as float32, whatever it is stored as (FP8 with its block
// scales too).
Result<std::vector<float>> tensor_floats(const Checkpoint &ck,
                                         const ModelConfig &c,
                                         const std::string &name) {
  DSV3_ASSIGN_OR_RETURN(TensorView t, ck.get(name));
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  switch (t.dtype) {
  case DType::kF32:
    std::memcpy(out.data(), t.data, size_t(n) * 4);
    return out;
  case DType::kBF16:
  case DType::kF16: {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[size_t(i)] = t.dtype == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
    return out;
  }
  case DType::kF8E4M3: {
    DSV3_ASSIGN_OR_RETURN(TensorView s, ck.get(fp8_scales_name(name)));
    if (t.shape.size() != 2 || s.dtype != DType::kF32 || s.shape.size() != 2) {
      return Err(t.file, ": tensor '", name,
                 "': FP8 needs a 2-D weight and F32 scales");
    }
    Matrix m = matrix_view(WeightFormat::kF32, t.shape[0], t.shape[1], t.data);
    m.format = WeightFormat::kFP8Block;
    m.block_scales = reinterpret_cast<const float *>(s.data);
    m.block = c.fp8_block_size;
    m.scale_cols = s.shape[1];
    for (int64_t r = 0; r < m.rows; ++r)
      decode_row(m, r, out.data() + r * m.cols);
    return out;
  }
  default:
    return Err(
        t.file, ": tensor '", name, "' is ", std::string(dtype_name(t.dtype)),
        ", which convert does not read (expected F32, BF16, F16 or F8_E4M3)");
  }
}

// Encodes rows of `cols` floats in `type` (norms and other vectors stay F32; a
// type whose blocks do not divide the rows falls back to F32).
std::pair<GgmlType, std::vector<uint8_t>> encode(const std::vector<float> &x,
                                                 int64_t cols, GgmlType type) {
  if (type == GgmlType::kQ8_0 && cols % 32 != 0)
    type = GgmlType::kF32;
  std::vector<uint8_t> out(
      size_t(ggml_row_bytes(type, cols) * (int64_t(x.size()) / cols)));
  if (type == GgmlType::kF32) {
    std::memcpy(out.data(), x.data(), out.size());
  } else if (type == GgmlType::kQ8_0) {
    encode_q8_0_row(x.data(), int64_t(x.size()), out.data());
  } else {
    for (size_t i = 0; i < x.size(); ++i) {
      const uint16_t h =
          type == GgmlType::kBF16 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return {type, std::move(out)};
}

class TensorWriter {
public:
  TensorWriter(GgufWriter &w, const Checkpoint &ck, const ModelConfig &c,
               GgmlType type)
      : w_(w), ck_(ck), c_(c), type_(type) {}

  // A matrix (or vector, always F32) under its GGUF name.
  Status copy(const std::string &hf, const std::string &gguf,
              bool keep_f32 = false) {
    DSV3_ASSIGN_OR_RETURN(TensorView t, ck_.get(hf));
    DSV3_ASSIGN_OR_RETURN(std::vector<float> x, tensor_floats(ck_, c_, hf));
    const std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    put(gguf, x, ne, t.shape.size() == 1 || keep_f32 ? GgmlType::kF32 : type_);
    return OkStatus();
  }

  // The layer's routed experts of one role stacked: ne [cols, rows, E].
  Status experts(TensorRole role, int64_t layer) {
    std::vector<float> all;
    std::vector<int64_t> ne;
    for (int64_t e = 0; e < c_.n_routed_experts; ++e) {
      const std::string hf = tensor_name(role, layer, e);
      DSV3_ASSIGN_OR_RETURN(TensorView t, ck_.get(hf));
      DSV3_ASSIGN_OR_RETURN(std::vector<float> x, tensor_floats(ck_, c_, hf));
      ne = {t.shape[1], t.shape[0], c_.n_routed_experts};
      all.insert(all.end(), x.begin(), x.end());
    }
    put(*gguf_tensor_name(role, layer), all, ne, type_);
    return OkStatus();
  }

  // kv_b_proj [H*(nope+v), kv_lora] -> attn_k_b (k_nope^T per head) and
  // attn_v_b, as llama.cpp's DeepseekV2Model.modify_tensors splits it.
  Status split_kv_b(int64_t layer) {
    DSV3_ASSIGN_OR_RETURN(
        std::vector<float> kv,
        tensor_floats(ck_, c_, tensor_name(TensorRole::kKvB, layer)));
    const int64_t h = c_.num_attention_heads, nope = c_.qk_nope_head_dim,
                  v = c_.v_head_dim;
    const int64_t lora = c_.kv_lora_rank;
    std::vector<float> k_b(size_t(h * lora * nope)), v_b(size_t(h * v * lora));
    for (int64_t head = 0; head < h; ++head) {
      const float *rows = kv.data() + head * (nope + v) * lora;
      for (int64_t i = 0; i < nope; ++i) {
        for (int64_t col = 0; col < lora; ++col)
          k_b[size_t((head * lora + col) * nope + i)] = rows[i * lora + col];
      }
      std::copy_n(rows + nope * lora, v * lora, v_b.data() + head * v * lora);
    }
    put(gguf_kv_b_half_name(layer, KvBHalf::kK), k_b, {nope, lora, h}, type_);
    put(gguf_kv_b_half_name(layer, KvBHalf::kV), v_b, {lora, v, h}, type_);
    return OkStatus();
  }

private:
  void put(const std::string &name, const std::vector<float> &x,
           const std::vector<int64_t> &ne, GgmlType type) {
    auto [t, bytes] = encode(x, ne[0], type);
    w_.add_tensor(name, t, ne, std::move(bytes));
  }

  GgufWriter &w_;
  const Checkpoint &ck_;
  const ModelConfig &c_;
  GgmlType type_;
};

// Every tensor of the table under its GGUF name: routed experts stacked per
// layer and role, kv_b split or not.
Status write_tensors(TensorWriter &tw, const Checkpoint &ck,
                     const ModelConfig &c, const GgufConvertOptions &o) {
  for (const TensorEntry &e : tensor_table(c)) {
    if (e.mtp && !o.with_mtp)
      continue;
    if (is_routed_expert(e.role)) {
      if (e.expert == 0)
        DSV3_TRY(tw.experts(e.role, e.layer));
      continue;
    }
    if (e.role == TensorRole::kKvB && o.split_kv_b) {
      DSV3_TRY(tw.split_kv_b(e.layer));
      continue;
    }
    const auto gguf = gguf_tensor_name(e.role, e.layer);
    if (!gguf)
      return Err(ck.dir(), ": tensor '", e.name, "' has no deepseek2 GGUF name");
    // The router stays F32: rounding it flips discrete expert choices.
    DSV3_TRY(tw.copy(e.name, *gguf, e.role == TensorRole::kRouter));
  }
  // A checkpoint with tied embeddings that has its own head anyway runs with it
  // (load_weights); so does the GGUF file, untied by the head's presence.
  const std::string head = tensor_name(TensorRole::kHead);
  if (c.tie_word_embeddings && ck.has(head))
    DSV3_TRY(tw.copy(head, *gguf_tensor_name(TensorRole::kHead)));
  return OkStatus();
}

} // namespace

Result<GgufConvertSummary> convert_to_gguf(const GgufConvertOptions &o) {
  if (o.type != GgmlType::kF32 && o.type != GgmlType::kF16 &&
      o.type != GgmlType::kBF16 && o.type != GgmlType::kQ8_0) {
    return Err("GGUF type ", std::string(ggml_type_name(o.type)),
               " is not written by convert (expected F32, F16, BF16 or Q8_0)");
  }
  DSV3_ASSIGN_OR_RETURN(ModelConfig c, load_model_config(o.in_dir));
  DSV3_TRY(check_expressible(c, o.in_dir));
  DSV3_ASSIGN_OR_RETURN(Checkpoint ck, Checkpoint::open(o.in_dir));
  GgufWriter w;
  write_metadata(w, c, o.with_mtp, o.type);
  GgufConvertSummary s;
  DSV3_ASSIGN_OR_RETURN(s.tokenizer, write_tokenizer_metadata(o.in_dir, w));
  TensorWriter tw(w, ck, c, o.type);
  DSV3_TRY(write_tensors(tw, ck, c, o));
  DSV3_ASSIGN_OR_RETURN(s.bytes, w.write(o.out_path));
  s.tensors = int64_t(w.num_tensors());
  return s;
}

} // namespace dsv3
