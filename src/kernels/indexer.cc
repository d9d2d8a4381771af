// The FP8 and Hadamard steps of DeepSeek-V3.2's lightning indexer, its scores (dispatched to
// kernels/x86/indexer_avx512.cc where the CPU has it) and its top-k selection. The scalar
// references are in kernels/ref.cc; these are the versions the model calls.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "tensor/dtype.h"
#include "util/check.h"

namespace dsv3::kernels {

namespace {

constexpr float kFp8Max = 448.0f;
// Scores of at least this many keys split over the threads.
constexpr int64_t kScoreGrain = 1024;
// Without a dedicated kernel: the dots [queries * heads, keys] of a group of queries stay below
// this many floats.
constexpr int64_t kMaxDots = int64_t(1) << 22;
// select_top_positions histograms the top 12 bits of the keys.
constexpr int kSelectShift = 20;
constexpr int64_t kSelectBins = int64_t(1) << (32 - kSelectShift);

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
  DSV3_CHECK(keys.format == WeightFormat::kFP8Block, "index keys must be FP8");
  const auto& table = detail::active_table();
  if (table.index_scores && keys.cols % 64 == 0) {
    table.index_scores(a);
    return;
  }
  // Groups of queries whose dots [queries * heads, keys] stay below kMaxDots floats: all heads
  // of a group against the keys its last query sees, in one product that streams the keys.
  const int64_t n = keys.rows;
  const auto visible = [&](int64_t t) { return a.visible > 0 ? std::min(n, a.visible + t) : n; };
  const int64_t group = std::max<int64_t>(1, kMaxDots / (a.heads * n));
  thread_local std::vector<float> dots;  // grown once and kept
  for (int64_t t0 = 0; t0 < a.queries; t0 += group) {
    const int64_t count = std::min(group, a.queries - t0);
    const int64_t seen = visible(t0 + count - 1);
    dots.resize(size_t(count * a.heads * seen));
    float* group_dots = dots.data();  // the workers' own `dots` would be other buffers
    const Matrix seen_keys = keys.row_slice(0, seen);
    matmul(seen_keys, a.q + t0 * a.heads * keys.cols, count * a.heads, group_dots);
    thread_pool().parallel_for(seen, kScoreGrain, [&](int64_t s0, int64_t s1) {
      for (int64_t t = t0; t < t0 + count; ++t) {
        float* out = a.scores + t * n;
        const int64_t end = std::clamp(visible(t), s0, s1);
        std::fill(out + s0, out + end, 0.0f);
        for (int64_t h = 0; h < a.heads; ++h) {
          const float w = a.weights[t * a.heads + h];
          const float* d = group_dots + ((t - t0) * a.heads + h) * seen;
          for (int64_t s = s0; s < end; ++s) out[s] += w * std::max(d[s], 0.0f);
        }
        for (int64_t s = s0; s < end; ++s) out[s] *= a.key_scales[s];
      }
    });
    for (int64_t t = t0; t < t0 + count; ++t) {
      std::fill(a.scores + t * n + visible(t), a.scores + (t + 1) * n,
                -std::numeric_limits<float>::infinity());
    }
  }
}

void select_top_positions(const float* scores, int64_t n, int64_t k, int32_t* ids) {
  DSV3_CHECK(k >= 1 && k <= n, "top %ld of %ld positions", long(k), long(n));
  // Scores as unsigned keys in the same order (+0 for -0, so that they tie as floats do).
  thread_local std::vector<uint32_t> keys;  // grown once and kept
  keys.resize(size_t(n));
  std::array<uint32_t, kSelectBins> histogram{};
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(scores[i] + 0.0f);
    const uint32_t key = bits & 0x80000000u ? ~bits : bits | 0x80000000u;
    keys[size_t(i)] = key;
    ++histogram[key >> kSelectShift];
  }
  // The bin holding the k-th largest key, and how many keys lie in the bins above it.
  int64_t above = 0, bin = kSelectBins - 1;
  while (above + histogram[size_t(bin)] < k) above += histogram[size_t(bin--)];
  // The k-th largest key itself, among the keys of its bin.
  thread_local std::vector<uint32_t> candidates;
  candidates.clear();
  for (int64_t i = 0; i < n; ++i) {
    if (keys[size_t(i)] >> kSelectShift == uint32_t(bin)) candidates.push_back(keys[size_t(i)]);
  }
  const int64_t rank = k - above - 1;
  std::nth_element(candidates.begin(), candidates.begin() + rank, candidates.end(),
                   std::greater<uint32_t>());
  const uint32_t kth = candidates[size_t(rank)];
  int64_t greater = above;
  for (uint32_t c : candidates) greater += c > kth;
  // Everything above the k-th key, then its ties from the lowest position up.
  int64_t ties = k - greater, out = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t key = keys[size_t(i)];
    if (key > kth || (key == kth && ties-- > 0)) ids[out++] = int32_t(i);
  }
}

}  // namespace dsv3::kernels
