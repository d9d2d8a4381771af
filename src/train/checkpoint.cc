#include "train/checkpoint.h"

#include <cstring>
#include <filesystem>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "model/presets.h"
#include "model/tensor_table.h"

namespace dsv3::train {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxShardBytes = size_t(2) << 30;

// Bytes of n floats in `dtype`, appended to `store` (kept alive until the write).
std::span<const uint8_t> encode(const float* v, int64_t n, DType dtype,
                                std::vector<std::vector<uint8_t>>& store) {
  std::vector<uint8_t>& out = store.emplace_back(size_t(n) * dtype_size(dtype));
  if (dtype == DType::kF32) {
    std::memcpy(out.data(), v, out.size());
  } else {
    auto* h = reinterpret_cast<uint16_t*>(out.data());
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(v[i]);
  }
  return out;
}

Status decode(const TensorView& t, const std::vector<int64_t>& shape, float* out) {
  if (t.shape != shape) {
    return Err(t.file, ": tensor '", t.name, "' has shape ", t.shape_string(), ", expected ",
               shape_string(shape));
  }
  const int64_t n = t.numel();
  switch (t.dtype) {
    case DType::kF32: std::memcpy(out, t.data, size_t(n) * 4); return OkStatus();
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i]);
      return OkStatus();
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i]);
      return OkStatus();
    default:
      return Err(t.file, ": tensor '", t.name, "' has dtype ", dtype_name(t.dtype),
                 ", expected F32, BF16 or F16");
  }
}

}  // namespace

Status save_model(const std::string& dir, const ModelFiles& m, const float* params, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kBF16) {
    return Err("checkpoints are written as F32 or BF16, not ", dtype_name(dtype));
  }
  const ModelConfig& c = *m.config;
  std::vector<std::vector<uint8_t>> store;
  store.reserve(m.layout->params.size() + 4 * (m.bias->size() + 1));
  std::vector<TensorToWrite> tensors;
  for (const ParamInfo& p : m.layout->params) {
    tensors.push_back({p.name, dtype, p.shape, encode(params + p.offset, p.numel, dtype, store)});
  }
  const ParamInfo* embed = m.layout->find(tensor_name(TensorRole::kEmbedding));
  const ParamInfo* head = m.layout->find(tensor_name(TensorRole::kHead));
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t layer = c.num_hidden_layers + k;
    tensors.push_back({tensor_name(TensorRole::kMtpEmbedding, layer), dtype, embed->shape,
                       encode(params + embed->offset, embed->numel, dtype, store)});
    tensors.push_back({tensor_name(TensorRole::kMtpHead, layer), dtype, head->shape,
                       encode(params + head->offset, head->numel, dtype, store)});
  }
  // The bias steers selection by small differences: always float32.
  for (int64_t l = 0; l < int64_t(m.bias->size()); ++l) {
    const std::vector<float>& b = (*m.bias)[l];
    if (b.empty()) continue;
    tensors.push_back({tensor_name(TensorRole::kRouterBias, l),
                       DType::kF32,
                       {int64_t(b.size())},
                       encode(b.data(), int64_t(b.size()), DType::kF32, store)});
  }
  return write_checkpoint(dir, model_config_json(c), tensors, kMaxShardBytes);
}

Status load_model(const std::string& dir, const ModelFiles& m, float* params, RouterBiases& bias) {
  DSV3_ASSIGN_OR_RETURN(Checkpoint ck, Checkpoint::open(dir));
  for (const ParamInfo& p : m.layout->params) {
    DSV3_ASSIGN_OR_RETURN(TensorView t, ck.get(p.name));
    DSV3_TRY(decode(t, p.shape, params + p.offset));
  }
  bias = make_router_biases(*m.config);
  for (int64_t l = 0; l < int64_t(bias.size()); ++l) {
    if (bias[l].empty()) continue;
    DSV3_ASSIGN_OR_RETURN(TensorView t, ck.get(tensor_name(TensorRole::kRouterBias, l)));
    DSV3_TRY(decode(t, {int64_t(bias[l].size())}, bias[l].data()));
  }
  return OkStatus();
}

uint64_t params_fingerprint(const float* params, int64_t count) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* bytes = reinterpret_cast<const uint8_t*>(params);
  for (int64_t i = 0; i < count * 4; ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
  return h;
}

Status save_optimizer(const std::string& dir, const OptimizerFile& f) {
  const int64_t n = int64_t(f.exp_avg.size());
  const auto bytes = [n](const std::vector<float>& v) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), size_t(n) * 4);
  };
  const std::vector<TensorToWrite> tensors = {{"exp_avg", DType::kF32, {n}, bytes(f.exp_avg)},
                                              {"exp_avg_sq", DType::kF32, {n}, bytes(f.exp_avg_sq)}};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Err("cannot create directory ", dir, ": ", ec.message());
  return write_safetensors((fs::path(dir) / kOptimizerFileName).string(), tensors, f.metadata);
}

Result<OptimizerFile> load_optimizer(const std::string& dir, int64_t expected_total) {
  const std::string path = (fs::path(dir) / kOptimizerFileName).string();
  DSV3_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
  OptimizerFile f;
  f.metadata = file.metadata();
  for (auto [name, out] : {std::pair{"exp_avg", &f.exp_avg}, {"exp_avg_sq", &f.exp_avg_sq}}) {
    auto it = file.tensors().find(name);
    if (it == file.tensors().end()) return Err(path, ": tensor '", name, "' is missing");
    const TensorView& t = it->second;
    if (t.dtype != DType::kF32 || t.shape != std::vector<int64_t>{expected_total}) {
      return Err(path, ": tensor '", name, "' is ", dtype_name(t.dtype), " ", t.shape_string(),
                 ", expected F32 [", expected_total, "] for this model's parameter layout");
    }
    out->resize(expected_total);
    std::memcpy(out->data(), t.data, size_t(expected_total) * 4);
  }
  return f;
}

}  // namespace dsv3::train
