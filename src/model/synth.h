// Random-weight checkpoints in the real Hugging Face layout (`dsv3 synth`), so that anyone can
// benchmark a DeepSeek-V3-shaped model without downloading one.
//
// Every tensor of the tensor table (model/tensor_table.h) is written under its checkpoint
// name. Values are N(0, stddev) (norms 1.0, the noaux_tc router bias N(0, stddev / 2) in F32),
// drawn by a counter-based generator keyed by (seed, tensor name, element index): the same
// seed gives byte-identical files whatever the thread count, and an FP8 checkpoint holds the
// same underlying values as a BF16 one of the same seed. FP8 follows the V3 release: attention,
// dense FFN and expert projections are F8_E4M3 with an F32 `weight_scale_inv` per 128x128
// block (amax / 448); embeddings, norms, the router gate, eh_proj and the heads stay BF16.
// Tensors are generated and written piece by piece: memory stays bounded by one chunk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors_writer.h"
#include "model/config.h"
#include "util/result.h"

namespace dsv3 {

enum class SynthDType { kBF16, kFP8 };

// "bf16" or "fp8"; anything else is an error listing both.
Result<SynthDType> parse_synth_dtype(std::string_view name);

struct SynthOptions {
  std::string out_dir;
  std::optional<SynthDType> dtype;  // unset: fp8 if the config has a quantization_config
  uint64_t seed = 0;
  int64_t layers = 0;                            // > 0: overrides num_hidden_layers
  uint64_t max_shard_bytes = uint64_t(1) << 30;  // shards of about this size
  int threads = 0;                               // 0: every core
  float stddev = 0.02f;
};

// What a checkpoint tensor is filled with.
enum class SynthFill {
  kNormal,    // N(0, stddev), BF16
  kNormalFP8, // N(0, stddev) quantized to F8_E4M3 per block; its scales follow it
  kScaleInv,  // F32 block scales of the FP8 tensor just before it
  kOnes,      // RMSNorm weights, BF16
  kBias,      // e_score_correction_bias, F32
};

struct SynthTensor {
  TensorSpec spec;
  SynthFill fill = SynthFill::kNormal;
  // Draws the values of this tensor instead (the MTP layer's embed_tokens and shared_head.head
  // hold the main embedding and lm_head, as in the release). Empty: its own name.
  std::string same_values_as;
};

// The checkpoint's tensors in file order: the tensor table's, each FP8 matrix followed by its
// scales. `c.fp8_block_quantized` selects FP8 projections.
std::vector<SynthTensor> synth_tensors(const ModelConfig& c);

// The config.json text to write: `config_json` with options.layers and the dtype's
// quantization_config applied, validated by parse_model_config (errors name `origin`).
Result<std::string> synth_config_json(const std::string& config_json, const std::string& origin,
                                      const SynthOptions& options);

struct SynthSummary {
  std::string config_json;  // as written
  ModelConfig config;
  int64_t tensors = 0;
  int64_t parameters = 0;  // elements of all tensors except the FP8 scales
  uint64_t bytes = 0;      // tensor data, all shards
  int64_t shards = 0;
};

// f32_to_fp8_e4m3 of tensor/dtype.h (round to nearest even, saturating at +-448) by bit
// manipulation instead of a table search: the same codes, ~20x faster. Tested against it.
uint8_t fast_f32_to_fp8_e4m3(float f);

// Writes config.json, the shards and model.safetensors.index.json into options.out_dir.
Result<SynthSummary> synthesize_checkpoint(const std::string& config_json,
                                           const std::string& origin,
                                           const SynthOptions& options);

}  // namespace dsv3
