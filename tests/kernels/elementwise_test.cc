// Elementwise kernels on every compiled target against the scalar reference, on sizes below,
// at and above every vector width.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/ref.h"
#include "test_util.h"

namespace dsv3 {
namespace {

using testing::expect_close;
using testing::nan_filled;
using testing::random_floats;

// Float32 results computed with different summation orders or exp approximations.
constexpr float kSumOrderTol = 2e-6f;  // relative, for RMSNorm and dot products
constexpr float kExpTol = 4e-6f;       // relative, for softmax and SiLU (Highway's Exp)
constexpr float kFmaTol = 1e-6f;       // relative, for one fused multiply-add per element

const int64_t kSizes[] = {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 300, 1000};

class ElementwiseTest : public testing::PerTarget {};

TEST_P(ElementwiseTest, RmsNorm) {
  for (int64_t n : kSizes) {
    const auto x = random_floats(n, 1), w = random_floats(n, 2);
    std::vector<float> got = nan_filled(n), want(n);
    kernels::rmsnorm(x.data(), w.data(), n, 1e-6f, got.data());
    kernels::ref::rmsnorm(x.data(), w.data(), n, 1e-6f, want.data());
    expect_close(got, want, {}, kSumOrderTol, 1e-7f, "rmsnorm n=" + std::to_string(n));
    auto inplace = x;  // out may alias x
    kernels::rmsnorm(inplace.data(), w.data(), n, 1e-6f, inplace.data());
    expect_close(inplace, want, {}, kSumOrderTol, 1e-7f, "rmsnorm in place n=" + std::to_string(n));
  }
}

TEST_P(ElementwiseTest, Softmax) {
  for (int64_t n : kSizes) {
    auto got = random_floats(n, 3, 4.0f), want = got;
    kernels::softmax(got.data(), n);
    kernels::ref::softmax(want.data(), n);
    expect_close(got, want, {}, kExpTol, 1e-8f, "softmax n=" + std::to_string(n));
  }
}

TEST_P(ElementwiseTest, SiluMul) {
  for (int64_t n : kSizes) {
    auto g = random_floats(n, 4, 5.0f);
    if (n > 3) g[3] = -200.0f;  // exp overflows: silu must be -0, not NaN
    const auto u = random_floats(n, 5);
    std::vector<float> got = nan_filled(n), want(n);
    kernels::silu_mul(g.data(), u.data(), n, got.data());
    kernels::ref::silu_mul(g.data(), u.data(), n, want.data());
    expect_close(got, want, {}, kExpTol, 1e-7f, "silu_mul n=" + std::to_string(n));
  }
}

TEST_P(ElementwiseTest, RopeInterleaved) {
  for (int64_t n : kSizes) {
    auto got = random_floats(n, 6), want = got;
    std::vector<float> cs(n);
    for (int64_t i = 0; i + 1 < n; i += 2) {
      cs[i] = std::cos(0.3f * float(i));
      cs[i + 1] = std::sin(0.3f * float(i));
    }
    kernels::rope_interleaved(got.data(), cs.data(), n);
    kernels::ref::rope_interleaved(want.data(), cs.data(), n);
    expect_close(got, want, {}, kFmaTol, 1e-7f, "rope n=" + std::to_string(n));
  }
}

TEST_P(ElementwiseTest, DotAndAxpy) {
  for (int64_t n : kSizes) {
    const auto a = random_floats(n, 7), b = random_floats(n, 8);
    double abs_sum = 0;
    for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(a[i] * b[i]);
    const float got = kernels::dot(a.data(), b.data(), n);
    const float want = kernels::ref::dot(a.data(), b.data(), n);
    EXPECT_NEAR(got, want, kSumOrderTol * abs_sum + 1e-7) << "dot n=" << n;

    auto y = b, y_ref = b;
    kernels::axpy(0.7f, a.data(), y.data(), n);
    kernels::ref::axpy(0.7f, a.data(), y_ref.data(), n);
    expect_close(y, y_ref, {}, kFmaTol, 1e-7f, "axpy n=" + std::to_string(n));
  }
}

TEST_P(ElementwiseTest, Sum) {
  for (int64_t n : kSizes) {
    const auto x = random_floats(n, 10);
    double abs_sum = 0;
    for (float v : x) abs_sum += std::fabs(v);
    EXPECT_NEAR(kernels::sum(x.data(), n), kernels::ref::sum(x.data(), n),
                kSumOrderTol * abs_sum + 1e-7)
        << "sum n=" << n;
  }
}

TEST_P(ElementwiseTest, TopK) {
  for (int64_t n : kSizes) {
    auto x = random_floats(n, 9);
    if (n > 10) x[10] = x[2];  // a tie: the lower index comes first
    for (int64_t k : {int64_t(1), std::min<int64_t>(n, 8), n}) {
      std::vector<int32_t> got(k, -1), want(k);
      kernels::topk(x.data(), n, k, got.data());
      kernels::ref::topk(x.data(), n, k, want.data());
      EXPECT_EQ(got, want) << "topk n=" << n << " k=" << k;
    }
  }
  const std::vector<float> ties = {1, 3, 3, 2, 3};
  std::vector<int32_t> got(3);
  kernels::topk(ties.data(), 5, 3, got.data());
  EXPECT_EQ(got, (std::vector<int32_t>{1, 2, 4}));
}

INSTANTIATE_TEST_SUITE_P(Targets, ElementwiseTest,
                         ::testing::ValuesIn(kernels::available_targets()),
                         testing::target_test_name);

TEST(Dispatch, ListsHighwayTargetsThenRef) {
  const auto targets = kernels::available_targets();
  ASSERT_GE(targets.size(), 2u);
  EXPECT_EQ(targets.back(), "ref");
  EXPECT_FALSE(kernels::force_target("no-such-target"));
  EXPECT_TRUE(kernels::force_target("ref"));
  EXPECT_EQ(kernels::active_target(), "ref");
  EXPECT_TRUE(kernels::force_target(""));
  EXPECT_EQ(kernels::active_target().rfind(targets.front(), 0), 0u) << kernels::active_target();
}

}  // namespace
}  // namespace dsv3
