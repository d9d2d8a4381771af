// dsv3 quantize: rewrites a checkpoint's weights in another stored format.
// Supported now: --to bf16 (F32 / F16 / FP8-with-block-scales -> BF16, e.g. to halve a trained
// float32 checkpoint, or to dequantize an FP8 one). The q8 / q4 kernels exist (tensor/quant.h);
// writing them into checkpoints is not wired yet.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "kernels/kernels.h"

namespace dsv3::cli {

namespace {

namespace fs = std::filesystem;

struct QuantizeFlags {
  std::string model_dir, to = "bf16", out_dir;
  int64_t shard_mb = 4096;
};

// BF16 bytes of a floating tensor; FP8 weights are dequantized with their block scales.
std::vector<uint8_t> to_bf16(const Checkpoint& ck, const TensorView& t, int64_t block) {
  const int64_t n = t.numel();
  std::vector<float> f(static_cast<size_t>(n));
  if (t.dtype == DType::kF8E4M3) {
    const TensorView s = unwrap(ck.get(t.name.substr(0, t.name.size() - 7) + ".weight_scale_inv"));
    const int64_t rows = t.shape[0], cols = t.shape[1];
    const Matrix m{.format = WeightFormat::kFP8Block, .rows = rows, .cols = cols, .data = t.data,
                   .block_scales = reinterpret_cast<const float*>(s.data), .block = block,
                   .scale_cols = (cols + block - 1) / block};
    for (int64_t r = 0; r < rows; ++r) kernels::dequantize_row(m, r, f.data() + r * cols);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = t.data + i * int64_t(dtype_size(t.dtype));
      uint32_t bits = 0;
      std::memcpy(&bits, p, dtype_size(t.dtype));
      f[i] = t.dtype == DType::kF32 ? f32_from_bits(bits)
             : t.dtype == DType::kF16 ? f16_to_f32(uint16_t(bits))
                                      : bf16_to_f32(uint16_t(bits));
    }
  }
  std::vector<uint8_t> out(size_t(n) * 2);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = f32_to_bf16(f[i]);
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

void run(const QuantizeFlags& f) {
  if (f.to != "bf16") {
    throw CommandError("--to " + f.to + " is not supported yet (supported: bf16)");
  }
  if (fs::exists(f.out_dir) && !fs::is_empty(f.out_dir)) {
    throw CommandError("output directory " + f.out_dir + " is not empty");
  }
  const Checkpoint ck = unwrap(Checkpoint::open(f.model_dir));
  std::ifstream cf(f.model_dir + "/config.json");
  auto config = nlohmann::ordered_json::parse(cf, nullptr, false);
  if (config.is_discarded()) throw CommandError(f.model_dir + "/config.json: not valid JSON");
  int64_t block = 128;
  if (config.contains("quantization_config")) {
    block = config["quantization_config"].value("weight_block_size", std::vector<int64_t>{128})[0];
    config.erase("quantization_config");  // weights are plain BF16 now
  }
  std::vector<std::vector<uint8_t>> store;
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, t] : ck.tensors()) {
    if (name.ends_with(".weight_scale_inv")) continue;  // folded into the BF16 values
    const bool floating = t.dtype == DType::kF32 || t.dtype == DType::kF16 ||
                          t.dtype == DType::kBF16 || t.dtype == DType::kF8E4M3;
    // Router biases stay F32: they only steer selection and are tiny.
    if (!floating || name.ends_with("e_score_correction_bias")) {
      tensors.push_back({name, t.dtype, t.shape, {t.data, t.nbytes}});
      continue;
    }
    store.push_back(to_bf16(ck, t, block));
    tensors.push_back({name, DType::kBF16, t.shape, store.back()});
  }
  unwrap(write_checkpoint(f.out_dir, config.dump(2) + "\n", tensors, size_t(f.shard_mb) << 20));
  for (const char* extra : {"tokenizer.json", "tokenizer_config.json"}) {
    const fs::path src = fs::path(f.model_dir) / extra;
    if (fs::exists(src)) fs::copy_file(src, fs::path(f.out_dir) / extra);
  }
  std::printf("wrote %s: %zu tensors as bf16\n", f.out_dir.c_str(), tensors.size());
}

}  // namespace

void add_quantize_command(CLI::App& root) {
  auto f = std::make_shared<QuantizeFlags>();
  CLI::App* cmd = root.add_subcommand("quantize", "rewrite a checkpoint's weights in another format");
  cmd->add_option("--model,-m", f->model_dir, "source checkpoint directory")->required();
  cmd->add_option("--to", f->to, "target format: bf16")->capture_default_str();
  cmd->add_option("--out,-o", f->out_dir, "new checkpoint directory (must be empty or absent)")
      ->required();
  cmd->add_option("--shard-mb", f->shard_mb, "shard size in MiB")->check(CLI::Range(1, 1 << 20));
  cmd->callback([f] { run(*f); });
}

}  // namespace dsv3::cli
