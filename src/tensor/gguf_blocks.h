// The tensor types of GGML / GGUF files and their scalar reference decoders (to
// float32). Block layouts are those of ggml (ggml-common.h); the numbering is
// the file's. Each decoder is tested bit-exactly against gguf-py's numpy
// dequantisers (tests/data/gguf/).
//
// A row of n elements of a block type is n / block_elements blocks of
// block_bytes each.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace dsv3 {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct GgmlTypeInfo {
  std::string_view name;  // "Q4_K", as llama.cpp prints it
  int64_t block_elements; // 1 for plain types, 32 or 256 for block types
  int64_t block_bytes;
  bool decodable; // whether decode_ggml_row handles it
};

// The type with that file number, or nullopt for numbers ggml never used (4, 5,
// ...) or removed.
std::optional<GgmlType> ggml_type_from_id(uint32_t id);
const GgmlTypeInfo &ggml_type_info(GgmlType t);
inline std::string_view ggml_type_name(GgmlType t) {
  return ggml_type_info(t).name;
}
std::optional<GgmlType> ggml_type_from_name(std::string_view name);

// Bytes of a row of n elements (n a multiple of the block size).
inline int64_t ggml_row_bytes(GgmlType t, int64_t n) {
  const GgmlTypeInfo &i = ggml_type_info(t);
  return n / i.block_elements * i.block_bytes;
}

// out[n] = the n elements at src, for every type with `decodable` set; n must
// be a multiple of the block size (checked by the caller: the reader refuses
// tensors whose rows are not).
void decode_ggml_row(GgmlType t, const uint8_t *src, int64_t n, float *out);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block, packed
// in its 12 scale bytes `q`.
void scale_min_k4(int j, const uint8_t *q, int &scale, int &min);
// The scale (-32..31) of sub-block i (0..15) of a Q3_K block, packed in 6 bits
// in its 12 scale bytes `sc`.
int q3_k_scale(int i, const uint8_t *sc);
// The 16 non-linear levels a 4-bit IQ4_NL / IQ4_XS code stands for (ggml-common.h's
// kvalues_iq4nl).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};
// The scale (-32..31) of sub-block j (0..7) of the IQ4_XS block at b (f16 d | u16
// scales_h | scales_l[4] | qs[128]): 6 bits, the low 4 the nibble j % 2 of
// scales_l[j / 2], the high 2 bits 2j of scales_h, minus 32.
int iq4_xs_scale(int j, const uint8_t *b);

// Writers for the types the converter emits (`dsv3 convert --to gguf`). Q8_0
// follows ggml's reference quantiser: d = max|x| / 127 stored as f16, q =
// round(x / d).
void encode_q8_0_row(const float *x, int64_t n, uint8_t *out);
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS, IQ2_XXS or IQ1_S (for tests and benchmarks; plain
// min/max rounding, nearest level or grid entry, not ggml's search for the best
// scales): n a multiple of 256.
void encode_kquant_row(GgmlType t, const float *x, int64_t n, uint8_t *out);

} // namespace dsv3
