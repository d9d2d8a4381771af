// The AMX int8 products (kernels/x86/amx.cc) against the VNNI kernel, bit for bit (both sum
// exact integer group dot products and scale them with the same float operations in the same
// order), and against the scalar reference within float tolerance: odd row counts, several
// groups, every token count from 1 to 70. Where AMX is not usable (no AMX on the CPU, the
// kernel refused the tile state, DSV3_AMX=0) the tests check that the dispatch fell back and
// test the fallback instead, and say so on stdout.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "kernels/ref.h"
#include "kernels/x86/amx.h"
#include "test_util.h"

namespace dsv3 {
namespace {

using kernels::detail::MatmulInt8Fn;
using testing::abs_sums;
using testing::make_matrix;
using testing::nan_filled;
using testing::random_floats;

struct Shape {
  int64_t rows, cols;
};
// Rows below, at and past the 16-row tiles; columns from a part of one group to ten groups
// with a partial last one.
const Shape kShapes[] = {{1, 1},    {7, 31},   {16, 32},  {17, 64},
                         {33, 129}, {130, 257}, {64, 300}, {48, 320}};
constexpr float kTol = 1e-5f;  // float sums in another order, relative to sum |w| |x|

// x[n, cols] quantized as the int8 path does (owning its buffers).
struct Activations {
  std::vector<int8_t> q;
  std::vector<float> scale, scaled_sum, q8_offset;
  kernels::QuantizedActivations view;

  Activations(const std::vector<float>& x, int64_t n, int64_t cols) {
    const int64_t groups = (cols + kQuantGroup - 1) / kQuantGroup;
    q.resize(n * groups * kQuantGroup);
    scale.resize(n * groups);
    scaled_sum.resize(n * groups);
    q8_offset.resize(n * groups);
    view = {.n = n, .cols = cols, .groups = groups, .q = q.data(), .scale = scale.data(),
            .scaled_sum = scaled_sum.data(), .q8_offset = q8_offset.data()};
    kernels::ref::quantize_activations(x.data(), 0, n, view);
  }
};

// The int8 entry of a table holding the VNNI kernels alone (null without AVX-512 VNNI).
MatmulInt8Fn vnni_kernel(bool q8) {
  kernels::detail::KernelTable t;
  kernels::detail::fill_x86_vnni(t);
  return t.matmul_int8[q8 ? 0 : 1];
}

std::string label(const Matrix& w, int64_t n) {
  return std::string(format_name(w.format)) + " " + std::to_string(w.rows) + "x" +
         std::to_string(w.cols) + " n=" + std::to_string(n);
}

// The kernel under test: AMX where usable, else what the best table uses instead.
MatmulInt8Fn kernel_under_test(bool q8) {
  if (auto amx = kernels::detail::amx_matmul_int8(q8)) return amx;
  kernels::force_target("");
  return kernels::detail::active_table().matmul_int8[q8 ? 0 : 1];
}

class AmxInt8 : public ::testing::Test {
 protected:
  void SetUp() override {
    usable_ = kernels::detail::amx_int8_usable();
    std::printf("AMX int8: %s (CPU %s AMX-INT8)\n", usable_ ? "used" : "NOT used: testing the fallback",
                kernels::detail::cpu_has_amx_int8() ? "reports" : "lacks");
  }
  void TearDown() override { kernels::force_target(""); }
  bool usable_ = false;
};

TEST_F(AmxInt8, DispatchNamesAmxExactlyWhenItIsUsed) {
  ASSERT_TRUE(kernels::force_target(""));
  const std::string target = kernels::active_target();
  const bool named = target.find("+amx") != std::string::npos;
  const bool vnni = target.find("+avx512vnni") != std::string::npos;
  if (usable_) {
    EXPECT_TRUE(named) << target;
    EXPECT_TRUE(vnni) << target << ": AMX keeps VNNI for few tokens";
    EXPECT_NE(kernels::detail::amx_matmul_int8(true), nullptr);
    EXPECT_NE(kernels::detail::amx_matmul_int8(false), nullptr);
  } else {
    EXPECT_FALSE(named) << target;
    EXPECT_EQ(kernels::detail::amx_matmul_int8(true), nullptr);
    EXPECT_EQ(kernels::detail::amx_matmul_int8(false), nullptr);
    // The fallback: the VNNI kernels where the CPU has them.
    if (vnni) {
      EXPECT_EQ(kernels::detail::active_table().matmul_int8[0], vnni_kernel(true));
      EXPECT_EQ(kernels::detail::active_table().matmul_int8[1], vnni_kernel(false));
    }
  }
}

// Every token count 1..70 (full 16-token blocks, a partial one, both) on every shape, the
// whole matrix and a row range that starts past the first tile.
TEST_F(AmxInt8, EqualsVnniBitForBitAndTheReferenceWithinRounding) {
  for (bool q8 : {true, false}) {
    const MatmulInt8Fn kernel = kernel_under_test(q8), vnni = vnni_kernel(q8);
    ASSERT_NE(kernel, nullptr) << "no int8 kernel at all on this CPU";
    const WeightFormat f = q8 ? WeightFormat::kQ8 : WeightFormat::kQ4;
    for (const Shape& s : kShapes) {
      const auto w = make_matrix(f, s.rows, s.cols, uint32_t(s.rows * 100 + s.cols));
      for (int64_t n = 1; n <= 70; ++n) {
        const std::vector<float> x = random_floats(n * s.cols, uint32_t(n * 7 + s.cols));
        const Activations xq(x, n, s.cols);
        std::vector<float> y = nan_filled(n * s.rows), want = nan_filled(n * s.rows);
        kernel(w.m, xq.view, y.data(), 0, s.rows);
        kernels::ref::matmul_int8_rows(w.m, xq.view, want.data(), 0, s.rows);
        testing::expect_close(y, want, abs_sums(w.m, x, n), kTol, 1e-6f, label(w.m, n));
        if (vnni) {
          std::vector<float> v = nan_filled(n * s.rows);
          vnni(w.m, xq.view, v.data(), 0, s.rows);
          ASSERT_EQ(y, v) << label(w.m, n) << ": differs from the VNNI kernel";
        }
        if (s.rows > 16) {
          // Rows [16, rows) only: the first tile must stay untouched.
          std::vector<float> part = nan_filled(n * s.rows);
          kernel(w.m, xq.view, part.data(), 16, s.rows);
          for (int64_t t = 0; t < n; ++t) {
            for (int64_t r = 0; r < s.rows; ++r) {
              const float got = part[t * s.rows + r], full = y[t * s.rows + r];
              if (r < 16) {
                ASSERT_TRUE(std::isnan(got)) << label(w.m, n) << " row " << r << " written";
              } else {
                ASSERT_EQ(got, full) << label(w.m, n) << " row " << r;
              }
            }
          }
        }
      }
    }
  }
}

// The extreme codes (q8: 1 and 255, q4: 0 and 15) times activations of +-127: the largest
// group sums the integer arithmetic meets.
TEST_F(AmxInt8, ExtremeCodesAndFullScaleActivations) {
  for (bool q8 : {true, false}) {
    const MatmulInt8Fn kernel = kernel_under_test(q8);
    ASSERT_NE(kernel, nullptr);
    const WeightFormat f = q8 ? WeightFormat::kQ8 : WeightFormat::kQ4;
    // Weights of +-1 in a checkerboard, activations of +-3 in stripes: every code and every
    // int8 activation is at an end of its range.
    const int64_t rows = 20, cols = 96, n = 35;
    std::vector<float> v(rows * cols), x(n * cols);
    for (int64_t i = 0; i < rows * cols; ++i) v[i] = (i % cols + i / cols) % 2 ? -1.0f : 1.0f;
    for (int64_t i = 0; i < n * cols; ++i) x[i] = ((i % cols) / 3 + i / cols) % 2 ? -3.0f : 3.0f;
    const Matrix f32 = matrix_view(WeightFormat::kF32, rows, cols,
                                   reinterpret_cast<const uint8_t*>(v.data()));
    std::vector<uint8_t> bytes(quantized_size(f, rows, cols));
    const Matrix w = quantize_matrix(f32, f, bytes);
    const Activations xq(x, n, cols);
    std::vector<float> y = nan_filled(n * rows), want(n * rows), exact(n * rows);
    kernel(w, xq.view, y.data(), 0, rows);
    kernels::ref::matmul_int8_rows(w, xq.view, want.data(), 0, rows);
    kernels::ref::matmul(w, x.data(), n, exact.data());
    testing::expect_close(y, want, abs_sums(w, x, n), kTol, 1e-6f, label(w, n));
    testing::expect_close(y, exact, abs_sums(w, x, n), 1e-3f, 1e-4f, label(w, n) + " vs float");
  }
}

// Through the public product (threads, the table's entry choosing AMX or VNNI by token
// count): the same bits as the VNNI kernel on the same int8 activations.
TEST_F(AmxInt8, PublicProductEqualsVnniAtEveryTokenCount) {
  kernels::force_target("");
  kernels::set_matmul_options({.int8_activations = true});
  for (int threads : {1, 2, 3}) {
    kernels::set_num_threads(threads);
    for (bool q8 : {true, false}) {
      const MatmulInt8Fn vnni = vnni_kernel(q8);
      if (!vnni) continue;  // no VNNI either: MatmulTest covers the float fallback
      const WeightFormat f = q8 ? WeightFormat::kQ8 : WeightFormat::kQ4;
      const auto w = make_matrix(f, 200, 384, 5);
      for (int64_t n : {1, 4, 7, 8, 9, 16, 31, 64, 70}) {
        const std::vector<float> x = random_floats(n * 384, uint32_t(n));
        const Activations xq(x, n, 384);
        std::vector<float> y = nan_filled(n * 200), v = nan_filled(n * 200);
        kernels::matmul(w.m, x.data(), n, y.data());
        vnni(w.m, xq.view, v.data(), 0, 200);
        ASSERT_EQ(y, v) << label(w.m, n) << " threads=" << threads;
      }
    }
  }
  kernels::set_num_threads(2);
}

}  // namespace
}  // namespace dsv3
