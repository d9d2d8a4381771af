// Latent attention (one token's heads over a cache of rows) on every compiled target and cache
// format against the scalar reference: head counts around the vector widths, position counts
// around the block and task sizes, one and two threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/ref.h"
#include "test_util.h"

namespace dsv3 {
namespace {

using testing::expect_close;
using testing::make_matrix;
using testing::nan_filled;
using testing::random_floats;

// Outputs are averages of rows with entries of about 1: float32 sums in another order, an
// online softmax instead of a two-pass one, and Highway's Exp (4e-6 relative).
constexpr float kAttentionTol = 2e-5f;

struct Shape {
  int64_t width, value_cols;
};
// MLA's 576-wide rows with 512 value columns, and narrow ones with a value part that is not a
// whole number of output chunks.
const Shape kShapes[] = {{576, 512}, {40, 21}, {3, 3}};
const int64_t kHeads[] = {1, 5, 16, 17, 40};
const int64_t kPositions[] = {1, 7, 16, 17, 63, 64, 65, 129, 300};

std::string describe(WeightFormat f, Shape s, int64_t heads, int64_t positions, int threads) {
  return std::string(format_name(f)) + " width=" + std::to_string(s.width) +
         " values=" + std::to_string(s.value_cols) + " heads=" + std::to_string(heads) +
         " positions=" + std::to_string(positions) + " threads=" + std::to_string(threads);
}

class LatentAttentionTest : public testing::PerTarget {};

TEST_P(LatentAttentionTest, MatchesReferenceForEveryCacheFormat) {
  const WeightFormat formats[] = {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16,
                                  WeightFormat::kFP8Block};
  for (WeightFormat f : formats) {
    for (Shape s : kShapes) {
      for (int64_t positions : kPositions) {
        auto keys = make_matrix(f, positions, s.width, uint32_t(positions + s.width));
        // FP8 test matrices are random codes: a scale of 1/224 keeps them within +-2, as
        // normalised cache rows are (random block scales would give scores in the hundreds).
        std::fill(keys.scales.begin(), keys.scales.end(), 1.0f / 224.0f);
        for (int64_t heads : kHeads) {
          // Scores spread over several units, so the softmax is neither flat nor one-hot.
          const float scale = 2.0f / std::sqrt(float(s.width));
          const auto q = random_floats(heads * s.width, uint32_t(heads));
          std::vector<float> want(heads * s.value_cols);
          kernels::ref::latent_attention(keys.m, q.data(), 1, heads, scale, s.value_cols,
                                         positions, want.data());
          for (int threads : {1, 2}) {
            kernels::set_num_threads(threads);
            std::vector<float> got = nan_filled(heads * s.value_cols);
            kernels::latent_attention(keys.m, q.data(), 1, heads, scale, s.value_cols, positions,
                                      got.data());
            expect_close(got, want, {}, kAttentionTol, kAttentionTol,
                         describe(f, s, heads, positions, threads));
          }
        }
      }
    }
  }
}

// Consecutive tokens of a prompt: token t sees one row more than token t - 1, pairs share the
// rows they read, and the result matches each token attended alone (as the reference does).
TEST_P(LatentAttentionTest, ConsecutiveTokensSeeTheirOwnPrefix) {
  const int64_t width = 576, values = 512, heads = 16;
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kBF16}) {
    for (int64_t visible : {1, 2, 15, 16, 17, 70}) {
      for (int64_t tokens : {1, 2, 3, 5}) {
        const int64_t rows = visible + tokens - 1;
        auto keys = make_matrix(f, rows, width, uint32_t(rows));
        const auto q = random_floats(tokens * heads * width, uint32_t(tokens), 1.0f);
        const float scale = 2.0f / std::sqrt(float(width));
        std::vector<float> want(tokens * heads * values);
        kernels::ref::latent_attention(keys.m, q.data(), tokens, heads, scale, values, visible,
                                       want.data());
        for (int threads : {1, 2}) {
          kernels::set_num_threads(threads);
          std::vector<float> got = nan_filled(tokens * heads * values);
          kernels::latent_attention(keys.m, q.data(), tokens, heads, scale, values, visible,
                                    got.data());
          expect_close(got, want, {}, kAttentionTol, kAttentionTol,
                       describe(f, {width, values}, heads, visible, threads) +
                           " tokens=" + std::to_string(tokens));
        }
      }
    }
  }
}

// One position: every head's output is that row, whatever the scores.
TEST_P(LatentAttentionTest, OnePositionReturnsItsRow) {
  const auto keys = make_matrix(WeightFormat::kF32, 1, 576, 7);
  const auto q = random_floats(16 * 576, 8, 100.0f);
  std::vector<float> got = nan_filled(16 * 512);
  kernels::latent_attention(keys.m, q.data(), 1, 16, 1.0f, 512, 1, got.data());
  const float* row = reinterpret_cast<const float*>(keys.m.data);
  for (int64_t h = 0; h < 16; ++h) {
    for (int64_t c = 0; c < 512; ++c) ASSERT_FLOAT_EQ(got[h * 512 + c], row[c]) << h << " " << c;
  }
}

// Scores hundreds of units apart: the largest must win without overflow or NaN.
TEST_P(LatentAttentionTest, ExtremeScoresStayFinite) {
  const int64_t positions = 200, width = 64;
  auto keys = make_matrix(WeightFormat::kF32, positions, width, 9);
  std::vector<float> q(2 * width, 0.0f);
  q[0] = 1.0f;           // head 0 scores column 0
  q[width + 1] = -1.0f;  // head 1 scores minus column 1
  float* k = reinterpret_cast<float*>(keys.bytes.data());
  k[150 * width + 0] = 1000.0f;
  k[20 * width + 1] = -1000.0f;
  for (int threads : {1, 2}) {
    kernels::set_num_threads(threads);
    std::vector<float> got = nan_filled(2 * width);
    kernels::latent_attention(keys.m, q.data(), 1, 2, 1.0f, width, positions, got.data());
    for (int64_t c = 2; c < width; ++c) {
      ASSERT_FLOAT_EQ(got[c], k[150 * width + c]) << "head 0 column " << c;
      ASSERT_FLOAT_EQ(got[width + c], k[20 * width + c]) << "head 1 column " << c;
    }
  }
}

// Selected rows (V3.2's sparse attention): a scattered, unordered subset of a longer cache,
// counts around the task size, against the reference, for every cache format (FP8's block
// scales differ per block of stored rows, so its rows cannot move as bytes).
TEST_P(LatentAttentionTest, SelectedRowsMatchReferenceForEveryCacheFormat) {
  const int64_t cache_rows = 700, heads = 16;
  const Shape s{576, 512};
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16,
                         WeightFormat::kFP8Block}) {
    auto keys = make_matrix(f, cache_rows, s.width, 11);
    for (size_t b = 0; b < keys.scales.size(); ++b) keys.scales[b] = float(b % 3 + 1) / 448.0f;
    const auto q = random_floats(heads * s.width, 12);
    const float scale = 2.0f / std::sqrt(float(s.width));
    for (int64_t n : {1, 2, 63, 64, 129, 300, 700}) {
      std::vector<int32_t> ids;
      for (int64_t i = 0; i < n; ++i) ids.push_back(int32_t((i * 389 + 17) % cache_rows));
      std::vector<float> want(heads * s.value_cols);
      kernels::ref::latent_attention_rows(keys.m, ids, q.data(), heads, scale, s.value_cols,
                                          want.data());
      for (int threads : {1, 2}) {
        kernels::set_num_threads(threads);
        std::vector<float> got = nan_filled(heads * s.value_cols);
        kernels::latent_attention_rows(keys.m, ids, q.data(), heads, scale, s.value_cols,
                                       got.data());
        expect_close(got, want, {}, kAttentionTol, kAttentionTol,
                     describe(f, s, heads, n, threads) + " selected");
      }
    }
  }
}

// The selection is a set of positions, whatever their order: reversed ids give the same result.
TEST_P(LatentAttentionTest, SelectedRowsInAnyOrderGiveOneResult) {
  const auto keys = make_matrix(WeightFormat::kF32, 300, 64, 13);
  const auto q = random_floats(4 * 64, 14);
  std::vector<int32_t> ids(200);
  for (int32_t i = 0; i < 200; ++i) ids[size_t(i)] = i + 50;
  std::vector<float> forward(4 * 64), backward(4 * 64);
  kernels::latent_attention_rows(keys.m, ids, q.data(), 4, 0.5f, 64, forward.data());
  std::reverse(ids.begin(), ids.end());
  kernels::latent_attention_rows(keys.m, ids, q.data(), 4, 0.5f, 64, backward.data());
  expect_close(backward, forward, {}, kAttentionTol, kAttentionTol, "reversed ids");
}

INSTANTIATE_TEST_SUITE_P(Targets, LatentAttentionTest,
                         ::testing::ValuesIn(kernels::available_targets()),
                         testing::target_test_name);

}  // namespace
}  // namespace dsv3
