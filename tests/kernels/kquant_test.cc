// The GGUF k-quant kernels (kQ2K .. kQ6K) and kIQ4XS's on every target against their scalar
// references: the int8-activation product (matrix-vector and matrix-matrix token counts, odd
// row counts, 1-3 threads), the float32 path, x^T W and row decoding; and the int8 reference
// against the decoded weights, so both follow the blocks' arithmetic.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/kquant.h"
#include "kernels/ref.h"
#include "tensor/kquant.h"
#include "test_util.h"

namespace dsv3 {
namespace {

using testing::expect_close;
using testing::abs_sums;
using testing::label;
using testing::make_matrix;
using testing::nan_filled;
using testing::random_floats;

constexpr auto& kFormats = kKQuantFormats;
struct Shape {
  int64_t rows, cols;
};
const Shape kShapes[] = {{1, 256}, {7, 512}, {16, 256}, {33, 768}, {130, 1024}, {300, 256}};
const int64_t kTokenCounts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17, 64, 70};

// Float32 sums in another order: error relative to sum |w| |x|.
constexpr float kTol = 1e-5f, kAbsTol = 1e-6f;

class KQuantTest : public testing::PerTarget {};

TEST_P(KQuantTest, Int8ProductMatchesItsReference) {
  kernels::set_matmul_options({.int8_activations = true});
  int int8_checked = 0;
  for (int threads : {1, 2, 3}) {
    kernels::set_num_threads(threads);
    for (WeightFormat f : kFormats) {
      for (const Shape& s : kShapes) {
        const auto w = make_matrix(f, s.rows, s.cols, uint32_t(s.rows * 1000 + s.cols));
        const bool int8 = kernels::detail::active_table().formats[int(f)].matmul_int8 != nullptr;
        for (int64_t n : kTokenCounts) {
          const auto x = random_floats(n * s.cols, uint32_t(7 * n + s.cols));
          std::vector<float> y = nan_filled(n * s.rows), want(size_t(n * s.rows));
          kernels::matmul(w.m, x.data(), n, y.data());
          if (int8) {
            kernels::ref::kquant_matmul_int8(w.m, x.data(), n, want.data());
            ++int8_checked;
          } else {
            kernels::ref::matmul(w.m, x.data(), n, want.data());
          }
          expect_close(y, want, abs_sums(w.m, x, n), kTol, kAbsTol, label(w.m, n, threads));
        }
      }
    }
  }
  // The ref table has the scalar int8 product, AVX-512 VNNI tables their own.
  if (GetParam() == "ref") {
    EXPECT_GT(int8_checked, 0);
  }
}

TEST_P(KQuantTest, Float32ActivationsTransposedAndDecodeMatchTheReference) {
  kernels::set_matmul_options({.int8_activations = false});
  for (int threads : {1, 3}) {
    kernels::set_num_threads(threads);
    for (WeightFormat f : kFormats) {
      for (const Shape& s : kShapes) {
        const auto w = make_matrix(f, s.rows, s.cols, uint32_t(s.rows + s.cols));
        for (int64_t n : {1, 5, 17}) {
          const auto x = random_floats(n * s.cols, uint32_t(n + 11));
          std::vector<float> y = nan_filled(n * s.rows), want(size_t(n * s.rows));
          kernels::matmul(w.m, x.data(), n, y.data());
          kernels::ref::matmul(w.m, x.data(), n, want.data());
          expect_close(y, want, abs_sums(w.m, x, n), kTol, kAbsTol, label(w.m, n, threads));
          const auto xt = random_floats(n * s.rows, uint32_t(n + 12));
          std::vector<float> yt = nan_filled(n * s.cols), want_t(size_t(n * s.cols));
          kernels::matmul_transposed(w.m, xt.data(), n, yt.data());
          kernels::ref::matmul_transposed(w.m, xt.data(), n, want_t.data());
          expect_close(yt, want_t, {}, 1e-4f, 1e-4f, "transposed " + label(w.m, n, threads));
        }
        std::vector<float> row(size_t(s.cols)), want(size_t(s.cols));
        for (int64_t r = 0; r < s.rows; r += 7) {
          kernels::dequantize_row(w.m, r, row.data());
          decode_kquant_row(w.m, r, want.data());
          ASSERT_EQ(row, want) << label(w.m, 1, threads) << " row " << r;
        }
      }
    }
  }
}

// The int8 reference is the blocks' function with int8 activations: within the activations'
// rounding (half a step of 1/127 of each group's largest |x|) of the decoded weights' product.
TEST(KQuantReference, Int8ProductFollowsTheDecodedWeights) {
  for (WeightFormat f : kFormats) {
    const auto w = make_matrix(f, 37, 1024, 3);
    const int64_t n = 3;
    const auto x = random_floats(n * 1024, 4);
    std::vector<float> got(size_t(n * 37)), want(size_t(n * 37));
    kernels::ref::kquant_matmul_int8(w.m, x.data(), n, got.data());
    kernels::ref::matmul(w.m, x.data(), n, want.data());
    std::vector<float> bound(got.size(), 0.0f), row(1024);
    for (int64_t r = 0; r < 37; ++r) {
      decode_kquant_row(w.m, r, row.data());
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t g = 0; g < 32; ++g) {
          float amax = 0, wsum = 0;
          for (int64_t c = 32 * g; c < 32 * g + 32; ++c) {
            amax = std::max(amax, std::fabs(x[t * 1024 + c]));
            wsum += std::fabs(row[c]);
          }
          bound[t * 37 + r] += 0.5f * amax / 127.0f * wsum;
        }
      }
    }
    expect_close(got, want, bound, 1.01f, 1e-5f, std::string(format_name(f)) + " int8 vs f32");
    // And the rounding is there (the int8 product is not the float one by accident).
    EXPECT_NE(got, want);
  }
}

TEST(KQuantReference, BatchedJobsEqualSeparateProducts) {
  kernels::set_matmul_options({.int8_activations = true});
  kernels::set_num_threads(2);
  const auto a = make_matrix(WeightFormat::kQ4K, 96, 512, 1);
  const auto b = make_matrix(WeightFormat::kQ6K, 80, 512, 2);
  for (int64_t n : {1, 9}) {
    const auto x = random_floats(n * 512, 3);
    std::vector<float> ya(size_t(n * 96)), yb(size_t(n * 80)), wa(ya.size()), wb(yb.size());
    const kernels::MatmulJob jobs[] = {{&a.m, x.data(), n, ya.data()}, {&b.m, x.data(), n, yb.data()}};
    kernels::matmul_batch(jobs);
    kernels::matmul(a.m, x.data(), n, wa.data());
    kernels::matmul(b.m, x.data(), n, wb.data());
    EXPECT_EQ(ya, wa);
    EXPECT_EQ(yb, wb);
  }
  kernels::set_matmul_options({});
}

INSTANTIATE_TEST_SUITE_P(Targets, KQuantTest, ::testing::ValuesIn(kernels::available_targets()),
                         testing::target_test_name);

}  // namespace
}  // namespace dsv3
