// Element types of checkpoint tensors and their scalar conversions to float.
// These scalar codecs are the reference every SIMD kernel is tested against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace dsv3 {

enum class DType : uint8_t { kF32, kF16, kBF16, kF8E4M3, kI32, kI64, kI8, kU8 };

// Size of one element in bytes.
size_t dtype_size(DType t);
// Safetensors spelling: "F32", "BF16", "F8_E4M3", ...
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

inline float f32_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint32_t bits_from_f32(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

// bfloat16 is the top half of an IEEE float32.
inline float bf16_to_f32(uint16_t h) { return f32_from_bits(uint32_t(h) << 16); }
// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t b = bits_from_f32(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t((b >> 16) | 0x40);
  b += 0x7fffu + ((b >> 16) & 1u);
  return uint16_t(b >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// FP8 e4m3fn (OCP "fn" variant): bias 7, no infinities, S.1111.111 is NaN, max 448.
float fp8_e4m3_to_f32(uint8_t v);
// Round to nearest even with saturation to +-448 (what torch's .to(float8_e4m3fn) does
// after a clamp); used to write FP8 checkpoints.
uint8_t f32_to_fp8_e4m3(float f);

}  // namespace dsv3
