// The lightning indexer's kernels (FP8 act_quant, Hadamard rotation, rotate-half RoPE, index
// scores) against their scalar references; index scores on every compiled target, on sizes
// below, at and above the vector widths and the FP8 block.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "kernels/ref.h"
#include "test_util.h"

namespace dsv3 {
namespace {

using testing::expect_close;
using testing::nan_filled;
using testing::random_floats;

// Float32 sums of exact FP8 products against exact sums: relative to sum |w| |q . k|.
constexpr float kScoreSumTol = 1e-5f;

TEST(Fp8Code, BitArithmeticEqualsTheTableSearchEverywhere) {
  // Every e4m3 value, the midpoints between neighbours (ties to even), just off them, and
  // random magnitudes from the subnormals to past the saturation point.
  std::vector<float> values = {0.0f, -0.0f, 448.0f, 449.0f, 464.0f, 1e6f, -1e6f, 0x1p-10f,
                               0x1p-9f, 0x1.8p-9f, 0x1p-6f, 0x1.fp-7f, 1e-30f};
  for (int code = 0; code < 127; ++code) {
    const float v = fp8_e4m3_to_f32(uint8_t(code)), next = fp8_e4m3_to_f32(uint8_t(code + 1));
    const float mid = code < 126 ? 0.5f * (v + next) : v;
    for (float x : {v, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      values.push_back(x);
      values.push_back(-x);
    }
  }
  for (float x : random_floats(20000, 7, 30.0f)) values.push_back(x);
  for (float x : random_floats(20000, 8, 0.01f)) values.push_back(x);
  for (float x : values) {
    ASSERT_EQ(kernels::fp8_e4m3_code(x), kernels::ref::fp8_e4m3_code(x)) << "x = " << x;
  }
}

TEST(Fp8Block, PowerOfTwoScalesAndRoundTrip) {
  for (int64_t n : {1, 7, 128}) {
    for (float spread : {1e-6f, 1e-3f, 1.0f, 1e4f}) {
      const auto x = random_floats(n, uint32_t(n), spread);
      std::vector<uint8_t> codes(n);
      for (bool pow2 : {false, true}) {
        const float s = kernels::quantize_fp8_block(x.data(), n, pow2, codes.data());
        float amax = 1e-4f;
        for (float v : x) amax = std::max(amax, std::fabs(v));
        const float plain = amax * (1.0f / 448.0f);
        if (pow2) {
          EXPECT_EQ(std::bit_cast<uint32_t>(s) & 0x7fffffu, 0u) << "scale " << s;
          EXPECT_GE(s, plain);
          EXPECT_LT(s, 2 * plain);
        } else {
          EXPECT_EQ(s, plain);
        }
        std::vector<float> back = nan_filled(n);
        kernels::dequantize_fp8_block(codes.data(), n, s, back.data());
        for (int64_t i = 0; i < n; ++i) {
          EXPECT_EQ(codes[i], kernels::fp8_e4m3_code(x[i] / s));
          // e4m3 keeps 3 mantissa bits; subnormal codes are steps of 2^-9 of the scale.
          EXPECT_LE(std::fabs(back[i] - x[i]), std::fabs(x[i]) / 16 + s * 0x1p-10f) << i;
        }
      }
    }
  }
}

TEST(Hadamard, ButterflyEqualsTheMatrixProductAndIsItsOwnInverse) {
  for (int64_t n : {1, 2, 4, 8, 32, 128, 256}) {
    const auto x = random_floats(n, uint32_t(n) + 3);
    std::vector<float> got = x, want = x;
    kernels::hadamard_rotate(got.data(), n);
    kernels::ref::hadamard_rotate(want.data(), n);
    expect_close(got, want, std::vector<float>(n, 1.0f), 0.0f, 1e-5f, "n " + std::to_string(n));
    kernels::hadamard_rotate(got.data(), n);  // H H / n = I
    expect_close(got, x, std::vector<float>(n, 1.0f), 0.0f, 1e-5f, "twice, n " + std::to_string(n));
  }
}

TEST(RopeHalves, RotatesPairsHalfADimensionApart) {
  for (int64_t dim : {2, 8, 64}) {
    const auto x = random_floats(dim, 11), cs = random_floats(dim, 12);
    // The same rotation as rope_interleaved on the pairs (x[i], x[i + dim/2]) interleaved.
    std::vector<float> inter(dim), got = x;
    for (int64_t i = 0; i < dim / 2; ++i) {
      inter[2 * i] = x[i];
      inter[2 * i + 1] = x[i + dim / 2];
    }
    kernels::ref::rope_interleaved(inter.data(), cs.data(), dim);
    kernels::rope_halves(got.data(), cs.data(), dim);
    for (int64_t i = 0; i < dim / 2; ++i) {
      EXPECT_EQ(got[i], inter[2 * i]);
      EXPECT_EQ(got[i + dim / 2], inter[2 * i + 1]);
    }
  }
}

class IndexScoresTest : public testing::PerTarget {};

// Random e4m3 keys and queries (their values as the model gives them), random signed head
// weights and power-of-two key scales.
TEST_P(IndexScoresTest, MatchTheExactReference) {
  const int64_t dim = 128;
  for (int64_t n : {1, 15, 16, 17, 128, 129, 300}) {
    for (int64_t heads : {1, 3, 8}) {
      for (int64_t queries : {1, 2, 5}) {
        std::vector<uint8_t> key_codes(n * dim);
        std::vector<float> q(queries * heads * dim), key_scales(n);
        const auto kv = random_floats(n * dim, uint32_t(n + heads), 40.0f);
        const auto qv = random_floats(queries * heads * dim, uint32_t(7 * n + queries), 40.0f);
        for (int64_t i = 0; i < n * dim; ++i) key_codes[i] = kernels::fp8_e4m3_code(kv[i]);
        for (int64_t i = 0; i < queries * heads * dim; ++i) {
          q[i] = fp8_e4m3_to_f32(kernels::fp8_e4m3_code(qv[i]));
        }
        for (int64_t s = 0; s < n; ++s) key_scales[s] = std::ldexp(1.0f, int(s % 9) - 12);
        const auto weights = random_floats(queries * heads, 5, 0.01f);
        const std::vector<float> unit(size_t((n + 127) / 128), 1.0f);
        Matrix keys = matrix_view(WeightFormat::kFP8Block, n, dim, key_codes.data());
        keys.block_scales = unit.data();
        keys.block = 128;
        keys.scale_cols = 1;
        std::vector<float> dots(queries * heads * n), got = nan_filled(queries * n), want(queries * n);
        kernels::IndexScoreArgs args{.q = q.data(), .weights = weights.data(), .queries = queries,
                                     .heads = heads, .keys = &keys, .key_scales = key_scales.data(),
                                     .dots = dots.data(), .scores = got.data()};
        kernels::index_scores(args);
        args.scores = want.data();
        kernels::ref::index_scores(args);
        // The error bound: each score's sum of |w| |q . k| terms, times the key scale.
        std::vector<float> scale(queries * n);
        for (int64_t t = 0; t < queries; ++t) {
          for (int64_t s = 0; s < n; ++s) {
            double m = 0;
            for (int64_t h = 0; h < heads; ++h) {
              double d = 0;
              for (int64_t i = 0; i < dim; ++i) {
                d += std::fabs(q[(t * heads + h) * dim + i] * fp8_e4m3_to_f32(key_codes[s * dim + i]));
              }
              m += std::fabs(weights[t * heads + h]) * d;
            }
            scale[t * n + s] = float(m) * key_scales[s];
          }
        }
        expect_close(got, want, scale, kScoreSumTol, 0.0f,
                     "n " + std::to_string(n) + " heads " + std::to_string(heads) + " queries " +
                         std::to_string(queries));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, IndexScoresTest,
                         ::testing::ValuesIn(kernels::available_targets()),
                         testing::target_test_name);

}  // namespace
}  // namespace dsv3
