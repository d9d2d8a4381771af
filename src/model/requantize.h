// Rewriting a checkpoint's weights in another stored format (`dsv3 quantize`).
//
// bf16: every floating matrix becomes BF16 (FP8 is dequantized with its block scales first).
// q8 / q4: every weight matrix becomes a U8 tensor [tiles, groups, block bytes] in the layout of
// tensor/matrix.h, and config.json gets quantization_config {"quant_method": "dsv3", "fmt": ...}
// which the loader reads back. Kept as they are: norms, the router bias, and the router gate
// (`mlp.gate.weight`), whose small rounding errors would flip discrete expert choices; kv_b is
// kept (as BF16) when its per-head row slices do not start on 16-row tiles.
// experts_only (q8 / q4): only the routed experts' matrices are quantized, the bulk of a MoE
// model's weights (V3: 654 of 671 B parameters). Everything else is copied as stored, FP8 with
// its block scales, so the attention, the dense and shared MLPs and the head, whose errors
// reach every token and move the router's discrete choices, stay exact.
// Tensors are converted one at a time and streamed to the output shards, so memory stays
// bounded by the largest tensor whatever the checkpoint's size.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/matrix.h"
#include "util/result.h"

namespace dsv3 {

struct RequantizeOptions {
  std::string in_dir;
  std::string out_dir;  // must be empty or absent
  WeightFormat to = WeightFormat::kBF16;  // kBF16, kQ8 or kQ4
  bool experts_only = false;              // q8 / q4: quantize the routed experts alone
  uint64_t max_shard_bytes = uint64_t(4) << 30;
};

struct RequantizeSummary {
  int64_t tensors = 0;      // written
  int64_t converted = 0;    // matrices now in the target format
  int64_t kept = 0;         // written as they were (or as BF16 where they were FP8)
  int64_t shards = 0;
  uint64_t bytes = 0;       // tensor bytes written
};

// Also copies tokenizer.json / tokenizer_config.json when the source has them.
Result<RequantizeSummary> requantize_checkpoint(const RequantizeOptions& options);

}  // namespace dsv3
