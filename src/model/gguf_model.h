// DeepSeek models in GGUF files as llama.cpp writes them (architecture
// "deepseek2", the converter's DeepseekV2Model for V2, V2.5, V3, R1, V3.1): the
// metadata becomes a ModelConfig (through the same validation as config.json)
// and the tensors become a Checkpoint with the Hugging Face names
// load_weights() binds, so the forward pass is the same code.
//
// What llama.cpp's converter changes, undone here:
//   - routed experts are stacked: ffn_{gate,up,down}_exps [E, rows, cols] ->
//   one view per expert;
//   - kv_b_proj is split into attn_k_b (per head, transposed: [H, kv_lora,
//   nope]) and attn_v_b
//     ([H, v, kv_lora]); older files keep attn_kv_b as it was. Both are
//     accepted.
//   - the MTP layer (when kept) is blk.{L}.nextn.* with block_count counting
//   it.
// Nothing is permuted for RoPE: deepseek2 uses interleaved pairs, as the HF
// weights do.
//
// F32, F16 and BF16 tensors are pointed into (the file is mapped). Q8_0,
// Q2_K .. Q6_K, IQ4_XS, IQ2_XXS and IQ1_S matrices are repacked, exactly, into
// tiles the int8 kernels read (gguf_residency below). Every other type dsv3 can
// decode (Q4_0/1, Q5_0/1, IQ4_NL, IQ2_XS/S, IQ3_XXS/S, IQ1_M) is decoded to
// float32 at load: exact, but four bytes per weight in memory. Types without a decoder are
// refused by name.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/gguf.h"
#include "model/config.h"
#include "tensor/matrix.h"

namespace dsv3 {

// How a GGUF tensor is held in memory once loaded: F32/F16/BF16 mapped as they
// are, Q8_0 matrices repacked into dsv3's q8, Q2_K .. Q6_K, IQ4_XS, IQ2_XXS and
// IQ1_S matrices repacked (losslessly) into q2_k .. q6_k / iq4_xs / iq2_xxs /
// iq1_s tiles (tensor/kquant.h) and run by their own int8 kernels, everything
// else (and llama.cpp's split attn_k_b / attn_v_b) decoded to float32.
enum class GgufHolding { kMapped, kRepackedQ8, kKeptQuantized, kDecodedF32 };
std::string_view gguf_holding_name(GgufHolding h);
struct GgufResidency {
  GgufHolding how;
  WeightFormat format; // the format it is held in (kF32 for mapped tensors)
  int64_t bytes;       // resident bytes (mapped: the file's bytes)
};
GgufResidency gguf_residency(const GgufTensor &t);

// Whether `path` names a GGUF model (a file ending in .gguf).
bool is_gguf_path(const std::string &path);

// config.json-equivalent text built from the deepseek2.* keys (for dsv3 info
// and tests).
Result<std::string> gguf_config_json(const GgufModelFiles &files);
Result<ModelConfig> gguf_model_config(const GgufModelFiles &files);

class GgufWriter;
// The deepseek2.* keys that hold one config field each, as they are (one list
// in gguf_config.cc, which the reader above fills the fields from): written for
// `c` (dsv3 convert). Keys derived from several fields are the converter's.
void write_gguf_config_keys(GgufWriter &w, const ModelConfig &c);
// The config_fields() keys of that list, in its order (for tests).
std::vector<std::string> gguf_config_key_fields();

struct GgufModel {
  ModelConfig config;
  Checkpoint checkpoint; // HF tensor names; keeps the files mapped
  std::string summary;   // "Q8_0 (180), F32 (45)": tensor types as stored
};
Result<GgufModel> open_gguf_model(const std::string &path);

// The name llama.cpp gives a HF tensor
// (model.layers.3.self_attn.q_a_proj.weight -> blk.3.attn_q_a.weight), or
// nullopt for the tensors it stores differently (experts, kv_b) or drops (FP8
// scales). MTP layers' own tensors (eh_proj, enorm, ...) become blk.L.nextn.*.
std::optional<std::string> gguf_name_of(const std::string &hf_name);

} // namespace dsv3
