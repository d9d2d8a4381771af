// Matrix products of every weight format on every compiled target against the scalar
// reference, on awkward shapes, several token counts and thread counts.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/ref.h"
#include "test_util.h"

namespace dsv3 {
namespace {

using testing::expect_close;
using testing::abs_sums;
using testing::label;
using testing::make_matrix;
using testing::nan_filled;
using testing::random_floats;

// Float32 sums in a different order: error relative to sum |w| |x| (about K * 2^-24 worst case).
constexpr float kMatmulTol = 1e-5f;
constexpr float kMatmulAbsTol = 1e-6f;
// Decoding one weight is one rounding at most (FP8 value times its scale).
constexpr float kDecodeTol = 1e-6f;

struct Shape {
  int64_t rows, cols;
};
// Below, at and above the vector widths (4, 8, 16 lanes), the 16-row tiles, the 32-column
// groups and the 128-column FP8 blocks.
const Shape kShapes[] = {{1, 1}, {7, 31}, {16, 33}, {33, 129}, {130, 257}, {300, 127}, {64, 300}};
const int64_t kTokenCounts[] = {1, 2, 3, 4, 5, 17, 64, 70};

void check_matmul(const Matrix& w, int64_t n, int threads, bool int8) {
  const std::vector<float> x = random_floats(n * w.cols, uint32_t(7 * n + w.cols));
  std::vector<float> y = nan_filled(n * w.rows), want(n * w.rows);
  kernels::matmul(w, x.data(), n, y.data());
  const bool int8_path = int8 && is_quantized(w.format) &&
                         kernels::detail::active_table().matmul_int8[0] != nullptr;
  if (int8_path) {
    kernels::ref::matmul_int8(w, x.data(), n, want.data());
  } else {
    kernels::ref::matmul(w, x.data(), n, want.data());
  }
  expect_close(y, want, abs_sums(w, x, n), kMatmulTol, kMatmulAbsTol,
               label(w, n, threads) + (int8_path ? " int8" : ""));
}

class MatmulTest : public testing::PerTarget {};

TEST_P(MatmulTest, EveryFormatShapeTokenCountAndThreadCount) {
  kernels::set_matmul_options({.int8_activations = false});
  for (int threads : {1, 2, 3}) {
    kernels::set_num_threads(threads);
    for (WeightFormat f : testing::all_formats()) {
      for (const Shape& s : kShapes) {
        const auto w = make_matrix(f, s.rows, s.cols, uint32_t(s.rows * 1000 + s.cols));
        for (int64_t n : kTokenCounts) check_matmul(w.m, n, threads, false);
      }
    }
  }
}

TEST_P(MatmulTest, Int8ActivationsMatchTheirReference) {
  kernels::set_matmul_options({.int8_activations = true});
  for (int threads : {1, 2, 3}) {
    kernels::set_num_threads(threads);
    for (WeightFormat f : {WeightFormat::kQ8, WeightFormat::kQ4}) {
      for (const Shape& s : kShapes) {
        const auto w = make_matrix(f, s.rows, s.cols, uint32_t(s.rows * 1000 + s.cols));
        for (int64_t n : kTokenCounts) check_matmul(w.m, n, threads, true);
      }
    }
  }
}

TEST_P(MatmulTest, TransposedEveryFormat) {
  for (int threads : {1, 2, 3}) {
    kernels::set_num_threads(threads);
    for (WeightFormat f : testing::all_formats()) {
      for (const Shape& s : kShapes) {
        const auto w = make_matrix(f, s.rows, s.cols, uint32_t(s.rows + s.cols));
        for (int64_t n : {1, 2, 3, 4, 5, 70}) {
          const std::vector<float> x = random_floats(n * s.rows, uint32_t(n + 3));
          std::vector<float> y = nan_filled(n * s.cols), want(n * s.cols);
          kernels::matmul_transposed(w.m, x.data(), n, y.data());
          kernels::ref::matmul_transposed(w.m, x.data(), n, want.data());
          // Column sums of |W| |x| bound the error here.
          std::vector<float> scale(n * s.cols, 0.0f), row(s.cols);
          for (int64_t r = 0; r < s.rows; ++r) {
            kernels::ref::dequantize_row(w.m, r, row.data());
            for (int64_t t = 0; t < n; ++t) {
              for (int64_t c = 0; c < s.cols; ++c) {
                scale[t * s.cols + c] += std::fabs(row[c] * x[t * s.rows + r]);
              }
            }
          }
          expect_close(y, want, scale, kMatmulTol, kMatmulAbsTol,
                       "transposed " + label(w.m, n, threads));
        }
      }
    }
  }
}

TEST_P(MatmulTest, DequantizeRowEveryFormat) {
  for (WeightFormat f : testing::all_formats()) {
    for (const Shape& s : kShapes) {
      const auto w = make_matrix(f, s.rows, s.cols, uint32_t(s.rows + 3 * s.cols));
      for (int64_t r = 0; r < s.rows; ++r) {
        std::vector<float> got = nan_filled(s.cols), want(s.cols);
        kernels::dequantize_row(w.m, r, got.data());
        kernels::ref::dequantize_row(w.m, r, want.data());
        expect_close(got, want, {}, kDecodeTol, 0.0f,
                     std::string(format_name(f)) + " row " + std::to_string(r));
      }
    }
  }
}

// Partial edge blocks (300 x 257 with 128-blocks), a block size that is not a multiple of any
// vector width, and a row slice whose first row is not on a block boundary.
TEST_P(MatmulTest, Fp8EdgeBlocksAndRowSlices) {
  for (int64_t block : {128, 48}) {
    const auto w = make_matrix(WeightFormat::kFP8Block, 300, 257, 11, block);
    for (int64_t n : {1, 3, 64}) check_matmul(w.m, n, kernels::num_threads(), false);
    const Matrix slice = w.m.row_slice(100, 150);
    EXPECT_EQ(slice.row0, 100);
    for (int64_t n : {1, 4, 20}) check_matmul(slice, n, kernels::num_threads(), false);
    const Matrix tail = w.m.row_slice(250, 50);
    for (int64_t n : {1, 17}) check_matmul(tail, n, kernels::num_threads(), false);
  }
}

// x^T W of FP8 on row slices (the absorbed attention's per-head W_uk) and block sizes that do
// and do not hold whole vectors, against the reference; and the few-token path, which streams
// the rows through registers, rounds exactly as the panel path of more tokens: each token's
// outputs of a 5-token product are those of its product alone.
TEST_P(MatmulTest, Fp8TransposedRowSlicesAndFewTokens) {
  for (int64_t block : {128, 48}) {
    const auto w = make_matrix(WeightFormat::kFP8Block, 300, 257, 17, block);
    for (const Matrix& m : {w.m, w.m.row_slice(100, 150), w.m.row_slice(256, 44)}) {
      for (int64_t n : {1, 2, 3, 4, 5}) {
        const std::vector<float> x = random_floats(n * m.rows, uint32_t(n + 5));
        std::vector<float> y = nan_filled(n * m.cols), want(n * m.cols);
        kernels::matmul_transposed(m, x.data(), n, y.data());
        kernels::ref::matmul_transposed(m, x.data(), n, want.data());
        std::vector<float> sums(n * m.cols, 0.0f), row(m.cols);
        for (int64_t r = 0; r < m.rows; ++r) {
          kernels::ref::dequantize_row(m, r, row.data());
          for (int64_t t = 0; t < n; ++t) {
            for (int64_t c = 0; c < m.cols; ++c) sums[t * m.cols + c] += std::fabs(row[c] * x[t * m.rows + r]);
          }
        }
        expect_close(y, want, sums, kMatmulTol, kMatmulAbsTol, "fp8 transposed " + label(m, n, 1));
      }
    }
  }
  const auto w = make_matrix(WeightFormat::kFP8Block, 256, 512, 19);
  const Matrix head = w.m.row_slice(128, 128);
  const int64_t n = 5;
  const std::vector<float> x = random_floats(n * head.rows, 23);
  std::vector<float> all(n * head.cols), one(head.cols);
  kernels::matmul_transposed(head, x.data(), n, all.data());
  for (int64_t t = 0; t < n; ++t) {
    kernels::matmul_transposed(head, x.data() + t * head.rows, 1, one.data());
    for (int64_t c = 0; c < head.cols; ++c) {
      ASSERT_EQ(one[c], all[t * head.cols + c]) << "token " << t << " column " << c;
    }
  }
}

TEST_P(MatmulTest, Fp8NanCodesDecodeToNan) {
  auto w = make_matrix(WeightFormat::kFP8Block, 2, 40, 5);
  w.bytes[3] = 0x7f;
  w.bytes[40 + 17] = 0xff;
  std::vector<float> row(40);
  kernels::dequantize_row(w.m, 0, row.data());
  EXPECT_TRUE(std::isnan(row[3]));
  EXPECT_FALSE(std::isnan(row[4]));
  kernels::dequantize_row(w.m, 1, row.data());
  EXPECT_TRUE(std::isnan(row[17]));
  std::vector<float> x(40, 1.0f), y = nan_filled(2);
  y[0] = y[1] = 0;
  kernels::matmul(w.m, x.data(), 1, y.data());
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]));
}

TEST_P(MatmulTest, QuantizedRowSlices) {
  for (WeightFormat f : {WeightFormat::kQ8, WeightFormat::kQ4}) {
    const auto w = make_matrix(f, 100, 96, 3);
    for (bool int8 : {false, true}) {
      kernels::set_matmul_options({.int8_activations = int8});
      for (int64_t n : {1, 9}) {
        check_matmul(w.m.row_slice(16, 33), n, 2, int8);
        check_matmul(w.m.row_slice(96, 4), n, 2, int8);
      }
    }
  }
}

// The table's general entry (used when a target has no prefill entry) on every token count,
// called directly on a row range that starts past the first tile.
TEST_P(MatmulTest, GeneralRowEntryHandlesAnyTokenCount) {
  const auto& table = kernels::detail::active_table();
  for (WeightFormat f : testing::all_formats()) {
    const auto w = make_matrix(f, 70, 100, 21);
    for (int64_t n : {1, 3, 6, 33}) {
      const std::vector<float> x = random_floats(n * 100, uint32_t(n));
      std::vector<float> y = nan_filled(n * 70), want(n * 70);
      kernels::ref::matmul(w.m, x.data(), n, want.data());
      table.formats[int(f)].matmul_rows(w.m, x.data(), n, y.data(), 16, 70);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t r = 0; r < 16; ++r) y[t * 70 + r] = want[t * 70 + r];  // not asked for
      }
      expect_close(y, want, abs_sums(w.m, x, n), kMatmulTol, kMatmulAbsTol,
                   "rows entry " + label(w.m, n, 1));
    }
  }
}

// A batch of products of mixed formats, shapes and token counts (some sharing their input, one
// prefill-sized) gives each job exactly what matmul() gives it alone: both run the same row
// kernels, the batch only splits the rows differently over the threads.
TEST_P(MatmulTest, BatchEqualsEachProductAlone) {
  for (bool int8 : {false, true}) {
    kernels::set_matmul_options({.int8_activations = int8});
    for (int threads : {1, 2, 3}) {
      kernels::set_num_threads(threads);
      std::vector<testing::TestMatrix> ws;
      std::vector<std::vector<float>> xs;
      std::vector<kernels::MatmulJob> jobs;
      std::vector<std::vector<float>> ys, wants;
      const Shape shapes[] = {{130, 257}, {300, 127}, {16, 33}, {64, 300}, {7, 31}};
      const int64_t counts[] = {1, 2, 4, 1, 70};
      const auto formats = testing::all_formats();
      // Every format's job of one shape reads the same x (as an expert's w1 and w3 do).
      for (size_t j = 0; j < std::size(shapes); ++j) {
        xs.push_back(random_floats(counts[j] * shapes[j].cols, uint32_t(17 * j + 1)));
      }
      for (size_t i = 0; i < formats.size(); ++i) {
        for (size_t j = 0; j < std::size(shapes); ++j) {
          ws.push_back(make_matrix(formats[i], shapes[j].rows, shapes[j].cols, uint32_t(31 * i + j)));
        }
      }
      for (size_t i = 0; i < ws.size(); ++i) {
        const size_t j = i % std::size(shapes);
        ys.push_back(nan_filled(counts[j] * ws[i].m.rows));
        wants.push_back(nan_filled(counts[j] * ws[i].m.rows));
        kernels::matmul(ws[i].m, xs[j].data(), counts[j], wants.back().data());
      }
      for (size_t i = 0; i < ws.size(); ++i) {
        const size_t j = i % std::size(shapes);
        jobs.push_back({.w = &ws[i].m, .x = xs[j].data(), .n = counts[j], .y = ys[i].data()});
      }
      kernels::matmul_batch(jobs);
      for (size_t i = 0; i < ws.size(); ++i) {
        ASSERT_EQ(ys[i], wants[i]) << "job " << i << " " << label(ws[i].m, jobs[i].n, threads)
                                   << (int8 ? " int8" : "");
      }
    }
  }
  kernels::set_matmul_options({.int8_activations = true});
}

INSTANTIATE_TEST_SUITE_P(Targets, MatmulTest, ::testing::ValuesIn(kernels::available_targets()),
                         testing::target_test_name);

// The int8 path against float32: the activations' rounding moves each product by at most
// half a step of its group, so |y_int8 - y| <= sum_g (sum_{c in g} |W[r][c]|) amax_g / 254.
TEST(Int8Reference, ErrorWithinActivationRoundingBound) {
  for (WeightFormat f : {WeightFormat::kQ8, WeightFormat::kQ4}) {
    const auto w = make_matrix(f, 48, 200, 9);
    const int64_t n = 3;
    const std::vector<float> x = random_floats(n * 200, 4);
    std::vector<float> y8(n * 48), y(n * 48), bound(n * 48, 0.0f), row(200);
    kernels::ref::matmul_int8(w.m, x.data(), n, y8.data());
    kernels::ref::matmul(w.m, x.data(), n, y.data());
    for (int64_t r = 0; r < 48; ++r) {
      kernels::ref::dequantize_row(w.m, r, row.data());
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t g = 0; g < 200; g += 32) {
          float amax = 0, wsum = 0;
          for (int64_t c = g; c < std::min<int64_t>(200, g + 32); ++c) {
            amax = std::max(amax, std::fabs(x[t * 200 + c]));
            wsum += std::fabs(row[c]);
          }
          bound[t * 48 + r] += wsum * amax / 254.0f;
        }
      }
    }
    expect_close(y8, y, bound, 1.0f, 1e-4f, std::string(format_name(f)) + " int8 vs float");
  }
}

}  // namespace
}  // namespace dsv3
