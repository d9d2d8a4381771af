// `dsv3 convert --to gguf`: a Hugging Face checkpoint (FP8, BF16 or F32) as a
// GGUF file in llama.cpp's deepseek2 layout (what its convert_hf_to_gguf.py
// writes): deepseek2.* metadata, blk.N.* tensor names, stacked routed experts,
// kv_b split into attn_k_b (per head, transposed) and attn_v_b, norms and the
// router in F32, the MTP layer as blk.L.nextn.*. With the model's
// tokenizer.json / tokenizer_config.json present, the tokenizer.ggml.* keys and
// tokenizer.chat_template are written too. The file is assembled in memory (the
// GGUF writer is not streaming): for small and medium models.
#pragma once

#include <string>

#include "tensor/gguf_blocks.h"
#include "util/result.h"

namespace dsv3 {

struct GgufConvertOptions {
  std::string in_dir;
  std::string out_path;
  GgmlType type = GgmlType::kBF16; // of the matrices: F32, F16, BF16 or Q8_0
  bool split_kv_b = true; // false: one attn_kv_b as older llama.cpp files have
  bool with_mtp = true;   // write the MTP layer(s) (llama.cpp drops them)
};

struct GgufConvertSummary {
  int64_t tensors = 0;
  uint64_t bytes = 0;
  bool tokenizer = false; // whether tokenizer metadata was written
};

Result<GgufConvertSummary> convert_to_gguf(const GgufConvertOptions &options);

} // namespace dsv3
