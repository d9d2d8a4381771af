#include "tensor/dtype.h"

#include <array>
#include <cmath>

namespace dsv3 {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeInfo, 8> kDTypes{{
    {DType::kF32, "F32", 4},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kF8E4M3, "F8_E4M3", 1},
    {DType::kI32, "I32", 4},
    {DType::kI64, "I64", 8},
    {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},
}};
}  // namespace

size_t dtype_size(DType t) { return kDTypes[size_t(t)].size; }
std::string_view dtype_name(DType t) { return kDTypes[size_t(t)].name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& info : kDTypes) {
    if (info.name == name) return info.type;
  }
  return std::nullopt;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(float(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
  return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  const uint32_t b = bits_from_f32(f);
  const uint16_t sign = uint16_t((b >> 16) & 0x8000u);
  const float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00u;
  if (a >= 65520.0f) return sign | 0x7c00u;  // rounds to infinity
  if (a < 6.103515625e-05f) {                 // subnormal half: multiples of 2^-24
    return sign | uint16_t(std::nearbyint(a * 16777216.0f));
  }
  uint32_t ab = b & 0x7fffffffu;
  ab += 0xfffu + ((ab >> 13) & 1u);  // round mantissa to 10 bits, nearest even
  return sign | uint16_t(((ab >> 23) - 112) << 10 | ((ab >> 13) & 0x3ffu));
}

float fp8_e4m3_to_f32(uint8_t v) {
  const bool neg = v & 0x80u;
  const uint32_t exp = (v >> 3) & 0xfu;
  const uint32_t mant = v & 0x7u;
  float mag;
  if (exp == 0xf && mant == 0x7) {
    mag = std::nanf("");
  } else if (exp == 0) {
    mag = std::ldexp(float(mant), -9);  // subnormal: mant/8 * 2^-6
  } else {
    mag = std::ldexp(float(8 + mant), int(exp) - 10);  // (1 + mant/8) * 2^(exp-7)
  }
  return neg ? -mag : mag;
}

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fmin(std::fabs(f), 448.0f);
  // Find the nearest code by magnitude; 127 codes, a binary search over the monotone table.
  int lo = 0, hi = 126;  // code 127 is NaN
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (fp8_e4m3_to_f32(uint8_t(mid)) <= a) lo = mid; else hi = mid - 1;
  }
  if (lo < 126) {
    const float below = fp8_e4m3_to_f32(uint8_t(lo));
    const float above = fp8_e4m3_to_f32(uint8_t(lo + 1));
    if (a - below > above - a || (a - below == above - a && (lo & 1))) ++lo;
  }
  return sign | uint8_t(lo);
}

}  // namespace dsv3
