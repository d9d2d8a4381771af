#include "model/gguf_model.h"

#include <cstring>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/tensor_table.h"
#include "tensor/kquant.h"
#include "tensor/matrix.h"

namespace dsv3 {

namespace {

using nlohmann::ordered_json;

// What the tensors point into: the mapped files and the buffers of decoded
// tensors.
struct GgufStorage {
  GgufModelFiles files;
  std::deque<std::vector<float>> decoded;
  std::deque<std::vector<uint8_t>> repacked;
};

// Q8_0 rows (per 32 weights: f16 d, 32 x int8) in dsv3's kQ8 layout
// (tensor/matrix.h: tiles of 16 rows, per (row, group) the same f16 d, bytes
// 128 + q). kQ8 keeps q in [-127, 127], which ggml's quantiser always produces;
// a -128 (possible in a hand-made file) returns nullopt and the tensor is
// decoded to float32 instead.
std::optional<std::vector<uint8_t>> repack_q8_0(const uint8_t *src,
                                                int64_t rows, int64_t cols) {
  const int64_t groups = cols / kQuantGroup;
  const int64_t block_bytes = quant_block_bytes(WeightFormat::kQ8);
  std::vector<uint8_t> out(
      size_t(format_data_bytes(WeightFormat::kQ8, rows, cols)), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = r % kQuantTileRows;
    for (int64_t g = 0; g < groups; ++g, src += 34) {
      uint8_t *block =
          out.data() + ((r / kQuantTileRows) * groups + g) * block_bytes;
      std::memcpy(block + 2 * i, src, 2);
      for (int c = 0; c < 32; ++c) {
        const int8_t q = int8_t(src[2 + c]);
        if (q == -128)
          return std::nullopt;
        block[32 + (c / 4) * 64 + i * 4 + c % 4] = uint8_t(128 + q);
      }
    }
  }
  return out;
}

// Builds the HF-named views, decoding the types that have no direct dsv3
// equivalent.
class ViewBuilder {
public:
  explicit ViewBuilder(GgufStorage &storage) : storage_(storage) {}

  // Elements [first_row * ne0, + rows * ne0) of `t` as the HF tensor `hf` of
  // `shape`.
  Status add(const std::string &hf, const GgufTensor &t, int64_t first_row,
             int64_t rows, std::vector<int64_t> shape) {
    const int64_t ne0 = t.ne[0];
    const uint8_t *data = t.data + first_row * ggml_row_bytes(t.type, ne0);
    TensorView v;
    v.name = hf;
    v.file = t.file + ": tensor '" + t.name + "'";
    v.shape = std::move(shape);
    const GgufResidency held = gguf_residency(t);
    if (const auto dtype = plain_dtype(t.type)) {
      v.dtype = *dtype;
      v.data = data;
      v.nbytes = size_t(rows * ggml_row_bytes(t.type, ne0));
    } else if (held.how == GgufHolding::kKeptQuantized && v.shape.size() == 2) {
      // Q2_K .. Q6_K, IQ4_XS, IQ2_XXS, IQ1_S: the same blocks in the int8 kernels' tiles (tensor/kquant.h).
      std::vector<uint8_t> packed = repack_kquant(t.type, data, rows, ne0);
      v.dtype = DType::kU8;
      v.packed_format = held.format;
      v.shape = {(rows + kQuantTileRows - 1) / kQuantTileRows, ne0 / kKQuantSuperBlock,
                 kquant_block_bytes(held.format)};
      v.nbytes = packed.size();
      storage_.repacked.push_back(std::move(packed));
      v.data = storage_.repacked.back().data();
    } else if (auto q8 = t.type == GgmlType::kQ8_0 && v.shape.size() == 2
                             ? repack_q8_0(data, rows, ne0)
                             : std::nullopt) {
      // dsv3's q8 holds the same values (f16 scale per 32 weights, int8 + 128):
      // no decoding.
      v.dtype = DType::kU8;
      v.shape = {(rows + kQuantTileRows - 1) / kQuantTileRows,
                 ne0 / kQuantGroup, quant_block_bytes(WeightFormat::kQ8)};
      v.packed_format = WeightFormat::kQ8;
      v.nbytes = q8->size();
      storage_.repacked.push_back(std::move(*q8));
      v.data = storage_.repacked.back().data();
      repacked_q8_ = true;
    } else {
      DSV3_ASSIGN_OR_RETURN(std::vector<float> f, decode(t, first_row, rows));
      v.dtype = DType::kF32;
      v.data = reinterpret_cast<const uint8_t *>(keep(std::move(f)));
      v.nbytes = size_t(rows * ne0) * 4;
    }
    if (!views_.emplace(hf, std::move(v)).second) {
      return Err(t.file, ": tensor '", t.name, "' maps to '", hf,
                 "', which another tensor also gives");
    }
    return OkStatus();
  }

  // Rows [first_row, + rows) of `t` as float32.
  Result<std::vector<float>> decode(const GgufTensor &t, int64_t first_row,
                                    int64_t rows) const {
    if (!ggml_type_info(t.type).decodable) {
      return Err(t.file, ": tensor '", t.name, "' is ",
                 std::string(ggml_type_name(t.type)),
                 ", which dsv3 cannot decode (supported: F32, F16, BF16, Q8_0, "
                 "Q4_0, Q4_1, Q5_0,"
                 " Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, "
                 "IQ2_XXS, IQ2_XS, IQ2_S,"
                 " IQ3_XXS, IQ3_S, IQ1_S, IQ1_M)");
    }
    const int64_t ne0 = t.ne[0];
    const int64_t row_bytes = ggml_row_bytes(t.type, ne0);
    std::vector<float> out(size_t(rows * ne0));
    for (int64_t r = 0; r < rows; ++r) {
      decode_ggml_row(t.type, t.data + (first_row + r) * row_bytes, ne0,
                      out.data() + r * ne0);
    }
    return out;
  }

  const float *keep(std::vector<float> f) {
    storage_.decoded.push_back(std::move(f));
    return storage_.decoded.back().data();
  }
  void count(const GgufTensor &t) {
    ++type_counts_[std::string(ggml_type_name(t.type))];
  }
  std::map<std::string, TensorView> &views() { return views_; }
  bool repacked_q8() const { return repacked_q8_; }
  std::string summary() const {
    std::string s;
    for (const auto &[name, n] : type_counts_) {
      s += (s.empty() ? "" : ", ") + name + " (" + std::to_string(n) + ")";
    }
    return s;
  }

private:
  static std::optional<DType> plain_dtype(GgmlType t) {
    switch (t) {
    case GgmlType::kF32:
      return DType::kF32;
    case GgmlType::kF16:
      return DType::kF16;
    case GgmlType::kBF16:
      return DType::kBF16;
    default:
      return std::nullopt;
    }
  }

  GgufStorage &storage_;
  bool repacked_q8_ = false;
  std::map<std::string, TensorView> views_;
  std::map<std::string, int> type_counts_;
};

// ne padded to 3 dimensions ([ne0, ne1, ne2]).
std::vector<int64_t> ne3(const GgufTensor &t) {
  std::vector<int64_t> ne = t.ne;
  ne.resize(3, 1);
  return ne;
}

// Rebuilds kv_b_proj [H * (nope + v), kv_lora], rows per head [k_nope | v],
// from llama.cpp's attn_k_b (per head k_nope^T: ne [nope, kv_lora, H]) and
// attn_v_b (ne [kv_lora, v, H]).
Status add_kv_b(ViewBuilder &b, const ModelConfig &c, int64_t layer,
                const GgufTensor &k_b, const GgufTensor &v_b) {
  const int64_t h = c.num_attention_heads, nope = c.qk_nope_head_dim,
                v = c.v_head_dim;
  const int64_t lora = c.kv_lora_rank;
  if (ne3(k_b) != std::vector<int64_t>{nope, lora, h}) {
    return Err(k_b.file, ": tensor '", k_b.name, "' has ne ",
               shape_string(k_b.ne), ", expected [", nope, ", ", lora, ", ", h,
               "] (qk_nope_head_dim, kv_lora_rank, heads)");
  }
  if (ne3(v_b) != std::vector<int64_t>{lora, v, h}) {
    return Err(v_b.file, ": tensor '", v_b.name, "' has ne ",
               shape_string(v_b.ne), ", expected [", lora, ", ", v, ", ", h,
               "] (kv_lora_rank, v_head_dim, heads)");
  }
  DSV3_ASSIGN_OR_RETURN(std::vector<float> k, b.decode(k_b, 0, lora * h));
  DSV3_ASSIGN_OR_RETURN(std::vector<float> vv, b.decode(v_b, 0, v * h));
  std::vector<float> kv(size_t(h * (nope + v) * lora));
  for (int64_t head = 0; head < h; ++head) {
    float *rows = kv.data() + head * (nope + v) * lora;
    for (int64_t i = 0; i < nope; ++i) {
      for (int64_t col = 0; col < lora; ++col) {
        rows[i * lora + col] = k[size_t((head * lora + col) * nope + i)];
      }
    }
    std::copy_n(vv.data() + head * v * lora, v * lora, rows + nope * lora);
  }
  TensorView t;
  t.name = tensor_name(TensorRole::kKvB, layer);
  t.file = k_b.file + ": tensors '" + k_b.name + "' and '" + v_b.name + "'";
  t.dtype = DType::kF32;
  t.shape = {h * (nope + v), lora};
  t.nbytes = kv.size() * 4;
  t.data = reinterpret_cast<const uint8_t *>(b.keep(std::move(kv)));
  b.views().emplace(t.name, std::move(t));
  return OkStatus();
}

// A layer's stacked routed experts of one role, ne [cols, rows, E]: one view per expert.
Status add_experts(ViewBuilder &b, const TensorNameParts &part,
                   const GgufTensor &t) {
  const std::vector<int64_t> ne = ne3(t);
  if (t.ne.size() != 3) {
    return Err(t.file, ": tensor '", t.name, "' has ne ", shape_string(t.ne),
               ", expected 3 dimensions [cols, rows, experts]");
  }
  for (int64_t e = 0; e < ne[2]; ++e) {
    DSV3_TRY(b.add(tensor_name(part.role, part.layer, e), t, e * ne[1], ne[1],
                   {ne[1], ne[0]}));
  }
  return OkStatus();
}

Result<std::map<std::string, TensorView>>
map_tensors(ViewBuilder &b, const GgufModelFiles &files, const ModelConfig &c) {
  std::map<int64_t, std::pair<const GgufTensor *, const GgufTensor *>>
      split_kv_b;
  for (const auto &[name, t] : files.tensors()) {
    b.count(t);
    const int64_t rows = t.numel() / t.ne[0];
    const auto part = parse_gguf_tensor_name(name);
    if (!part) {
      return Err(t.file, ": tensor '", name,
                 "' is not part of a deepseek2 model");
    }
    if (part->kv_b_half == KvBHalf::kK) {
      split_kv_b[part->layer].first = &t;
    } else if (part->kv_b_half == KvBHalf::kV) {
      split_kv_b[part->layer].second = &t;
    } else if (is_routed_expert(part->role)) {
      DSV3_TRY(add_experts(b, *part, t));
    } else {
      DSV3_TRY(b.add(tensor_name(part->role, part->layer), t, 0, rows,
                     t.torch_shape()));
    }
  }
  for (const auto &[l, kv] : split_kv_b) {
    if (!kv.first || !kv.second) {
      return Err(files.path(), ": layer ", l,
                 " has only one of attn_k_b and attn_v_b");
    }
    DSV3_TRY(add_kv_b(b, c, l, *kv.first, *kv.second));
  }
  return std::move(b.views());
}

} // namespace

std::string_view gguf_holding_name(GgufHolding h) {
  switch (h) {
  case GgufHolding::kMapped:
    return "mapped";
  case GgufHolding::kRepackedQ8:
    return "repacked into q8";
  case GgufHolding::kKeptQuantized:
    return "kept quantized";
  case GgufHolding::kDecodedF32:
    return "decoded to f32";
  }
  return "?";
}

GgufResidency gguf_residency(const GgufTensor &t) {
  const int64_t ne0 = t.ne[0], rows = t.numel() / ne0;
  const auto part = parse_gguf_tensor_name(t.name);
  const bool split_kv_b = part && part->kv_b_half.has_value();
  if (t.type == GgmlType::kF32 || t.type == GgmlType::kF16 ||
      t.type == GgmlType::kBF16) {
    return {GgufHolding::kMapped, WeightFormat::kF32, int64_t(t.nbytes)};
  }
  // Matrices (2 dimensions) and stacked experts (3); kv_b's halves are rebuilt
  // as one float32 matrix.
  const bool matrix = (t.ne.size() == 2 || t.ne.size() == 3) && !split_kv_b;
  const auto kquant = kquant_format_of(t.type);
  if (matrix && kquant && ne0 % kKQuantSuperBlock == 0) {
    const int64_t per = t.ne.size() == 3 ? t.ne[1] : rows,
                  count = t.ne.size() == 3 ? t.ne[2] : 1;
    return {GgufHolding::kKeptQuantized, *kquant,
            count * format_data_bytes(*kquant, per, ne0)};
  }
  if (matrix && t.type == GgmlType::kQ8_0) {
    const int64_t per = t.ne.size() == 3 ? t.ne[1] : rows,
                  count = t.ne.size() == 3 ? t.ne[2] : 1;
    return {GgufHolding::kRepackedQ8, WeightFormat::kQ8,
            count * format_data_bytes(WeightFormat::kQ8, per, ne0)};
  }
  return {GgufHolding::kDecodedF32, WeightFormat::kF32, t.numel() * 4};
}

bool is_gguf_path(const std::string &path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0 &&
         !std::filesystem::is_directory(path);
}

std::optional<std::string> gguf_name_of(const std::string &hf_name) {
  const auto part = parse_tensor_name(hf_name);
  if (!part || is_routed_expert(part->role))
    return std::nullopt;
  return gguf_tensor_name(part->role, part->layer);
}

Result<GgufModel> open_gguf_model(const std::string &path) {
  DSV3_ASSIGN_OR_RETURN(GgufModelFiles files, GgufModelFiles::open(path));
  auto storage =
      std::make_shared<GgufStorage>(GgufStorage{std::move(files), {}, {}});
  DSV3_ASSIGN_OR_RETURN(ModelConfig config, gguf_model_config(storage->files));
  ViewBuilder builder(*storage);
  DSV3_ASSIGN_OR_RETURN(auto views,
                        map_tensors(builder, storage->files, config));
  if (builder.repacked_q8())
    config.group_quant_format = WeightFormat::kQ8;
  GgufModel m{std::move(config),
              Checkpoint::from_views(path, std::move(views), storage),
              builder.summary()};
  return m;
}

} // namespace dsv3
