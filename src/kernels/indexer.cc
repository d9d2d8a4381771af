// The FP8 and Hadamard steps of DeepSeek-V3.2's lightning indexer, and its scores. The scalar
// references are in kernels/ref.cc; these are the versions the model calls.
#include <algorithm>
#include <bit>
#include <cmath>

#include "kernels/kernels.h"
#include "tensor/dtype.h"
#include "util/check.h"

namespace dsv3::kernels {

namespace {

constexpr float kFp8Max = 448.0f;
// Scores of at least this many keys split over the threads.
constexpr int64_t kScoreGrain = 1024;

// 2^ceil(log2 s) for a positive normal float, exactly from its bits (the official
// fast_round_scale: the exponent, plus one when any mantissa bit is set).
float round_scale_up_to_pow2(float s) {
  const uint32_t bits = std::bit_cast<uint32_t>(s);
  const int32_t exponent = int32_t((bits >> 23) & 0xffu) - 127 + ((bits & 0x7fffffu) != 0);
  return std::bit_cast<float>(uint32_t(exponent + 127) << 23);
}

}  // namespace

uint8_t fp8_e4m3_code(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fmin(std::fabs(f), kFp8Max);
  // Below 2^-6 the codes are subnormal steps of 2^-9; code 8 is 2^-6, the first normal one.
  if (a < 0x1p-6f) return sign | uint8_t(std::nearbyint(a * 512.0f));
  uint32_t bits = std::bit_cast<uint32_t>(a);
  bits += 0x7ffffu + ((bits >> 20) & 1u);  // round the mantissa to 3 bits, nearest even
  const uint32_t exponent = (bits >> 23) - 127 + 7;
  return sign | uint8_t(exponent << 3 | ((bits >> 20) & 7u));
}

float quantize_fp8_block(const float* x, int64_t n, bool pow2_scale, uint8_t* codes) {
  float amax = 1e-4f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  float s = amax * (1.0f / kFp8Max);
  if (pow2_scale) s = round_scale_up_to_pow2(s);
  for (int64_t i = 0; i < n; ++i) codes[i] = fp8_e4m3_code(std::clamp(x[i] / s, -kFp8Max, kFp8Max));
  return s;
}

void dequantize_fp8_block(const uint8_t* codes, int64_t n, float scale, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp8_e4m3_to_f32(codes[i]) * scale;
}

void hadamard_rotate(float* x, int64_t n) {
  DSV3_CHECK(n > 0 && (n & (n - 1)) == 0, "Hadamard size %ld is not a power of two", long(n));
  for (int64_t half = 1; half < n; half *= 2) {
    for (int64_t i = 0; i < n; i += 2 * half) {
      for (int64_t j = i; j < i + half; ++j) {
        const float a = x[j], b = x[j + half];
        x[j] = a + b;
        x[j + half] = a - b;
      }
    }
  }
  const float scale = float(1.0 / std::sqrt(double(n)));
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

void rope_halves(float* x, const float* cos_sin, int64_t dim) {
  const int64_t half = dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const float a = x[i], b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = a * s + b * c;
  }
}

void index_scores(const IndexScoreArgs& a) {
  const Matrix& keys = *a.keys;
  const int64_t n = keys.rows;
  DSV3_CHECK(keys.format == WeightFormat::kFP8Block, "index keys must be FP8");
  // Every head of every query against every key in one product that streams the FP8 keys.
  matmul(keys, a.q, a.queries * a.heads, a.dots);
  thread_pool().parallel_for(n, kScoreGrain, [&](int64_t s0, int64_t s1) {
    for (int64_t t = 0; t < a.queries; ++t) {
      float* out = a.scores + t * n;
      std::fill(out + s0, out + s1, 0.0f);
      for (int64_t h = 0; h < a.heads; ++h) {
        const float w = a.weights[t * a.heads + h];
        const float* d = a.dots + (t * a.heads + h) * n;
        for (int64_t s = s0; s < s1; ++s) out[s] += w * std::max(d[s], 0.0f);
      }
      for (int64_t s = s0; s < s1; ++s) out[s] *= a.key_scales[s];
    }
  });
}

}  // namespace dsv3::kernels
