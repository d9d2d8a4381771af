// The lightning indexer's kernels (FP8 act_quant, Hadamard rotation, rotate-half RoPE, index
// scores) against their scalar references; index scores on every compiled target, on sizes
// below, at and above the vector widths and the FP8 block.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

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

// An index key cache: codes [n, dim] as an FP8 matrix with unit block scales.
struct IndexKeys {
  std::vector<uint8_t> codes;
  std::vector<float> unit;
  Matrix m;
  IndexKeys(std::vector<uint8_t> c, int64_t n, int64_t dim)
      : codes(std::move(c)), unit(size_t((n + 127) / 128), 1.0f) {
    m = matrix_view(WeightFormat::kFP8Block, n, dim, codes.data());
    m.block_scales = unit.data();
    m.block = 128;
    m.scale_cols = 1;
  }
};

std::string case_name(int64_t n, int64_t heads, int64_t queries, int64_t visible) {
  return "n " + std::to_string(n) + " heads " + std::to_string(heads) + " queries " +
         std::to_string(queries) + " visible " + std::to_string(visible);
}

// Random e4m3 keys and queries (their values as the model gives them), random signed head
// weights and power-of-two key scales; all keys, or causal rows (visible > 0) whose scores
// past their last key must be -inf. Sizes cross the vector widths, the 16-head vectors, the
// groups of 4 keys and the threads' chunks of 256 keys.
TEST_P(IndexScoresTest, MatchTheExactReference) {
  const int64_t dim = 128;
  struct Case {
    int64_t n, heads, queries, visible;
  };
  std::vector<Case> cases;
  for (int64_t n : {1, 15, 16, 17, 128, 129, 300}) {
    for (int64_t heads : {1, 3, 8}) {
      for (int64_t queries : {1, 2, 5}) cases.push_back({n, heads, queries, 0});
    }
  }
  for (int64_t heads : {16, 17, 64, 80}) cases.push_back({700, heads, 2, 0});
  cases.push_back({1030, 64, 7, 1024});
  cases.push_back({300, 8, 40, 261});
  cases.push_back({5, 8, 3, 1});
  for (const Case& c : cases) {
    const int64_t n = c.n, heads = c.heads, queries = c.queries;
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
    const IndexKeys keys(key_codes, n, dim);
    std::vector<float> got = nan_filled(queries * n), want(queries * n);
    kernels::IndexScoreArgs args{.q = q.data(), .weights = weights.data(), .queries = queries,
                                 .heads = heads, .keys = &keys.m, .key_scales = key_scales.data(),
                                 .scores = got.data(), .visible = c.visible};
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
    // -inf past each causal row's keys, on both sides (expect_close compares them as equal).
    for (int64_t t = 0; t < queries && c.visible > 0; ++t) {
      for (int64_t s = std::min(n, c.visible + t); s < n; ++s) {
        ASSERT_EQ(got[t * n + s], -std::numeric_limits<float>::infinity())
            << case_name(n, heads, queries, c.visible) << " t " << t << " s " << s;
        got[t * n + s] = want[t * n + s] = 0.0f;
      }
    }
    expect_close(got, want, scale, kScoreSumTol, 0.0f, case_name(n, heads, queries, c.visible));
  }
}

// Where every sum is exact in float32 (small integer e4m3 values, power-of-two weights and
// scales) the scores equal the reference's bit for bit, whatever the order of the sums, and so
// do the tokens selected from them: ties included (many scores repeat).
TEST_P(IndexScoresTest, ExactScoresSelectTheSameTokens) {
  const int64_t dim = 128, heads = 64, queries = 3, n = 3000;
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> small(-3, 3);
  std::vector<uint8_t> key_codes(n * dim);
  for (auto& c : key_codes) c = kernels::fp8_e4m3_code(float(small(rng)));
  std::vector<float> q(queries * heads * dim), weights(queries * heads), key_scales(n);
  for (auto& v : q) v = float(small(rng));
  for (auto& w : weights) w = std::ldexp(float(small(rng)), -4);
  for (int64_t s = 0; s < n; ++s) key_scales[s] = std::ldexp(1.0f, int(s % 3) - 1);
  const IndexKeys keys(key_codes, n, dim);
  std::vector<float> got = nan_filled(queries * n), want(queries * n);
  kernels::IndexScoreArgs args{.q = q.data(), .weights = weights.data(), .queries = queries,
                               .heads = heads, .keys = &keys.m, .key_scales = key_scales.data(),
                               .scores = got.data(), .visible = n - queries + 1};
  kernels::index_scores(args);
  args.scores = want.data();
  kernels::ref::index_scores(args);
  ASSERT_EQ(got, want);
  for (int64_t t = 0; t < queries; ++t) {
    const int64_t visible = n - queries + 1 + t;
    for (int64_t k : {int64_t(1), int64_t(2048), visible - 1}) {
      std::vector<int32_t> fast(k), exact(k);
      kernels::select_top_positions(got.data() + t * n, visible, k, fast.data());
      kernels::ref::select_top_positions(want.data() + t * n, visible, k, exact.data());
      ASSERT_EQ(fast, exact) << "query " << t << " k " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, IndexScoresTest,
                         ::testing::ValuesIn(kernels::available_targets()),
                         testing::target_test_name);


// The radix selection against nth_element: scores with many ties (-0 tying +0), infinities,
// one distinct value, every k from 1 to n on small n and the release's 2048 on large ones.
TEST(SelectTopPositions, MatchTheReferenceTiesIncluded) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> level(-20, 20);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto check = [](const std::vector<float>& scores, int64_t k, const std::string& what) {
    const int64_t n = int64_t(scores.size());
    std::vector<int32_t> fast(k, -1), exact(k);
    kernels::select_top_positions(scores.data(), n, k, fast.data());
    kernels::ref::select_top_positions(scores.data(), n, k, exact.data());
    ASSERT_EQ(fast, exact) << what << " n " << n << " k " << k;
  };
  for (int64_t n : {1, 2, 7, 64, 300}) {
    std::vector<float> tied(n), spread(n), same(n, 0.25f);
    for (auto& v : tied) v = level(rng) == 0 ? -0.0f : float(level(rng) % 3) * 0.5f;
    for (auto& v : spread) v = normal(rng);
    spread[0] = std::numeric_limits<float>::infinity();
    spread[n - 1] = -std::numeric_limits<float>::infinity();
    for (int64_t k = 1; k <= n; ++k) {
      check(tied, k, "tied");
      check(spread, k, "spread");
      check(same, k, "same");
    }
  }
  for (int64_t n : {2049, 40000}) {
    std::vector<float> tied(n), spread(n), close(n);
    for (auto& v : tied) v = float(level(rng));
    for (auto& v : spread) v = 1e3f * normal(rng);
    // Values a few ulps apart: one histogram bin holds them all.
    for (auto& v : close) v = std::nextafter(1.0f, 2.0f) + float(level(rng)) * 0x1p-23f;
    for (int64_t k : {int64_t(1), int64_t(2048), n - 1}) {
      check(tied, k, "tied");
      check(spread, k, "spread");
      check(close, k, "close");
    }
  }
}

}  // namespace
}  // namespace dsv3
