#include "model/requantize.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "kernels/kernels.h"
#include "model/config.h"
#include "model/tensor_table.h"
#include "tensor/quant.h"
#include "tensor/weight_codec.h"

namespace dsv3 {

namespace {

namespace fs = std::filesystem;

enum class Action { kCopy, kToBF16, kQuantize };

struct PlannedTensor {
  const TensorView* source = nullptr;
  Action action = Action::kCopy;
};

bool is_floating(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kF8E4M3;
}

// What becomes of a checkpoint tensor, by its entry in the tensor table (null for a tensor
// the table does not have, which is kept).
Action choose_action(const TensorView& t, const TensorEntry* e, const RequantizeOptions& o) {
  if (!is_floating(t.dtype) || (e && e->role == TensorRole::kRouterBias)) return Action::kCopy;
  if (o.to == WeightFormat::kBF16) return t.dtype == DType::kBF16 ? Action::kCopy : Action::kToBF16;
  if (o.experts_only && !(e && is_routed_expert(e->role))) return Action::kCopy;
  if (e && e->quantizable && t.shape == e->shape) return Action::kQuantize;
  // FP8 needs the fp8 quantization_config, which the new config no longer has. (V3.2's
  // indexer, not quantizable, becomes BF16 so: exact for the release's power-of-two scales.)
  return t.dtype == DType::kF8E4M3 ? Action::kToBF16 : Action::kCopy;
}

// The source tensor as a matrix [rows, last dimension] in its stored format.
Result<Matrix> source_matrix(const Checkpoint& ck, const TensorView& t, const ModelConfig& c) {
  const int64_t cols = t.shape.empty() ? 1 : t.shape.back();
  const int64_t rows = cols == 0 ? 0 : t.numel() / cols;
  switch (t.dtype) {
    case DType::kF32: return matrix_view(WeightFormat::kF32, rows, cols, t.data);
    case DType::kF16: return matrix_view(WeightFormat::kF16, rows, cols, t.data);
    case DType::kBF16: return matrix_view(WeightFormat::kBF16, rows, cols, t.data);
    case DType::kF8E4M3: break;
    default: return Err(t.file, ": tensor '", t.name, "' is not floating point");
  }
  const std::string scale_name = fp8_scales_name(t.name);
  DSV3_ASSIGN_OR_RETURN(TensorView s, ck.get(scale_name));
  const int64_t b = c.fp8_block_size;
  const std::vector<int64_t> expected = {(rows + b - 1) / b, (cols + b - 1) / b};
  if (t.shape.size() != 2 || s.dtype != DType::kF32 || s.shape != expected) {
    return Err(s.file, ": tensor '", scale_name, "' is ", dtype_name(s.dtype), " ",
               s.shape_string(), ", expected F32 ", shape_string(expected));
  }
  return Matrix{.format = WeightFormat::kFP8Block, .rows = rows, .cols = cols, .data = t.data,
                .block_scales = reinterpret_cast<const float*>(s.data), .block = b,
                .scale_cols = expected[1]};
}

TensorSpec planned_spec(const TensorView& t, Action action, WeightFormat to) {
  switch (action) {
    case Action::kCopy: return {t.name, t.dtype, t.shape};
    case Action::kToBF16: return {t.name, DType::kBF16, t.shape};
    case Action::kQuantize: break;
  }
  return {t.name, DType::kU8, group_quantized_shape(to, t.shape[0], t.shape[1])};
}

// Streams the BF16 rows of m, a bounded chunk at a time.
Status append_bf16(const Matrix& m, SafetensorsStreamWriter& out) {
  std::vector<float> row(size_t(m.cols));
  std::vector<uint16_t> chunk;
  for (int64_t r = 0; r < m.rows; ++r) {
    kernels::dequantize_row(m, r, row.data());
    for (float v : row) chunk.push_back(f32_to_bf16(v));
    if (chunk.size() >= (size_t(1) << 20) || r + 1 == m.rows) {
      DSV3_TRY(out.append(chunk.data(), chunk.size() * 2));
      chunk.clear();
    }
  }
  return OkStatus();
}

Status produce(const Checkpoint& ck, const ModelConfig& c, const PlannedTensor& p,
               WeightFormat to, SafetensorsStreamWriter& out) {
  const TensorView& t = *p.source;
  if (p.action == Action::kCopy) return out.append(t.data, t.nbytes);
  DSV3_ASSIGN_OR_RETURN(Matrix m, source_matrix(ck, t, c));
  if (p.action == Action::kToBF16) return append_bf16(m, out);
  std::vector<uint8_t> q(size_t(quantized_size(to, m.rows, m.cols)));
  quantize_matrix(m, to, q, &kernels::thread_pool());
  return out.append(q.data(), q.size());
}

// fp8_block: the FP8 block size of matrices copied as stored, 0 if none is.
Result<std::string> rewritten_config(const std::string& in_dir, WeightFormat to,
                                     int64_t fp8_block) {
  const std::string path = in_dir + "/config.json";
  std::ifstream in(path);
  auto config = nlohmann::ordered_json::parse(in, nullptr, false);
  if (config.is_discarded() || !config.is_object()) return Err(path, ": not a JSON object");
  config.erase("quantization_config");  // FP8 block scales are folded in
  if (is_quantized(to)) {
    config["quantization_config"] = {{"quant_method", "dsv3"},
                                     {"fmt", std::string(format_name(to))},
                                     {"group_size", kQuantGroup},
                                     {"tile_rows", kQuantTileRows}};
    if (fp8_block > 0) {
      config["quantization_config"]["weight_block_size"] = {fp8_block, fp8_block};
    }
  }
  return config.dump(2) + "\n";
}

Status check_options(const RequantizeOptions& o) {
  if (o.to != WeightFormat::kBF16 && !is_quantized(o.to)) {
    return Err("cannot quantize to ", format_name(o.to), " (expected bf16, q8 or q4)");
  }
  if (o.experts_only && !is_quantized(o.to)) {
    return Err("experts-only applies to q8 and q4, not ", format_name(o.to));
  }
  std::error_code ec;
  if (fs::exists(o.out_dir, ec) && !fs::is_empty(o.out_dir, ec)) {
    return Err("output directory ", o.out_dir, " is not empty");
  }
  if (fs::equivalent(o.in_dir, o.out_dir, ec)) {
    return Err("output directory ", o.out_dir, " is the input directory");
  }
  return OkStatus();
}

}  // namespace

Result<RequantizeSummary> requantize_checkpoint(const RequantizeOptions& o) {
  DSV3_TRY(check_options(o));
  DSV3_ASSIGN_OR_RETURN(ModelConfig config, load_model_config(o.in_dir));
  DSV3_ASSIGN_OR_RETURN(Checkpoint ck, Checkpoint::open(o.in_dir));

  const std::vector<TensorEntry> table = tensor_table(config);
  std::unordered_map<std::string, const TensorEntry*> entry_of;
  for (const TensorEntry& e : table) entry_of[e.name] = &e;
  auto action_of = [&](const TensorView& t) {
    const auto it = entry_of.find(t.name);
    return choose_action(t, it == entry_of.end() ? nullptr : it->second, o);
  };

  RequantizeSummary summary;
  std::vector<PlannedTensor> plan;
  std::vector<TensorSpec> specs;
  bool fp8_copied = false;
  for (const auto& [name, t] : ck.tensors()) {
    if (const auto weight = fp8_scaled_weight_of(name)) {
      // Folded into the new values, or copied with the FP8 matrix they scale.
      auto w = ck.get(*weight);
      if (!w.ok() || action_of(*w) != Action::kCopy) continue;
    }
    const Action action = action_of(t);
    fp8_copied |= action == Action::kCopy && t.dtype == DType::kF8E4M3;
    plan.push_back({&t, action});
    specs.push_back(planned_spec(t, action, o.to));
    summary.bytes += specs.back().bytes();
    ++(action == Action::kCopy || (action == Action::kToBF16 && is_quantized(o.to))
           ? summary.kept
           : summary.converted);
  }
  DSV3_ASSIGN_OR_RETURN(std::string config_json,
                        rewritten_config(o.in_dir, o.to, fp8_copied ? config.fp8_block_size : 0));
  DSV3_ASSIGN_OR_RETURN(size_t shards,
                        write_checkpoint_streaming(
                            o.out_dir, config_json, specs, o.max_shard_bytes,
                            [&](size_t i, SafetensorsStreamWriter& out) {
                              return produce(ck, config, plan[i], o.to, out);
                            }));
  for (const char* extra : {"tokenizer.json", "tokenizer_config.json"}) {
    const fs::path src = fs::path(o.in_dir) / extra;
    std::error_code ec;
    if (fs::exists(src)) fs::copy_file(src, fs::path(o.out_dir) / extra, ec);
    if (ec) return Err("copying ", src.string(), ": ", ec.message());
  }
  summary.tensors = int64_t(plan.size());
  summary.shards = int64_t(shards);
  return summary;
}

}  // namespace dsv3
