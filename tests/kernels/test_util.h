// Helpers shared by the kernel tests: random inputs, weight matrices in every format (owning
// their bytes), NaN-filled outputs, and tolerance checks that name what they compare.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/ref.h"
#include "tensor/dtype.h"
#include "tensor/gguf_blocks.h"
#include "tensor/kquant.h"
#include "tensor/quant.h"

namespace dsv3::testing {

inline std::vector<float> random_floats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<float> nan_filled(int64_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

// rows x cols (cols a multiple of 256) of random GGUF k-quant, IQ4_XS, IQ2_XXS or IQ1_S
// blocks, every bit random but the f16 scales (finite, 1e-3 .. 2e-2), repacked into f's tiles.
inline std::vector<uint8_t> random_kquant_bytes(WeightFormat f, int64_t rows, int64_t cols,
                                                uint32_t seed) {
  const GgmlType type = kquant_source_type(f);
  // Where each block keeps its f16 scales.
  const std::vector<int64_t> scales_at = type == GgmlType::kQ6_K   ? std::vector<int64_t>{208}
                                         : type == GgmlType::kQ3_K ? std::vector<int64_t>{108}
                                         : type == GgmlType::kQ2_K ? std::vector<int64_t>{80, 82}
                                         : type == GgmlType::kIQ4_XS ? std::vector<int64_t>{0}
                                         : type == GgmlType::kIQ2_XXS ? std::vector<int64_t>{0}
                                         : type == GgmlType::kIQ1_S ? std::vector<int64_t>{0}
                                                                   : std::vector<int64_t>{0, 2};
  std::vector<uint8_t> blocks(size_t(rows * ggml_row_bytes(type, cols)));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> scale(1e-3f, 2e-2f);
  for (auto& b : blocks) b = uint8_t(rng());
  const int64_t block_bytes = ggml_type_info(type).block_bytes;
  for (size_t b = 0; b < blocks.size(); b += size_t(block_bytes)) {
    for (int64_t at : scales_at) {
      const uint16_t h = f32_to_f16(scale(rng));
      blocks[b + at] = uint8_t(h);
      blocks[b + at + 1] = uint8_t(h >> 8);
    }
  }
  return repack_kquant(type, blocks.data(), rows, cols);
}

// A weight matrix that owns its bytes (and FP8 scales).
struct TestMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  Matrix m;
};

// rows x cols in `format`, from N(0, 1) values (FP8: uniformly random codes, NaN codes
// excluded so every finite code, subnormals included, is exercised, and random block scales).
inline TestMatrix make_matrix(WeightFormat format, int64_t rows, int64_t cols, uint32_t seed,
                              int64_t block = 128) {
  TestMatrix t;
  const std::vector<float> v = random_floats(rows * cols, seed);
  const Matrix f32 = matrix_view(WeightFormat::kF32, rows, cols,
                                 reinterpret_cast<const uint8_t*>(v.data()));
  switch (format) {
    case WeightFormat::kF32:
      t.bytes.assign(f32.data, f32.data + rows * cols * 4);
      break;
    case WeightFormat::kF16:
    case WeightFormat::kBF16:
      t.bytes.resize(rows * cols * 2);
      for (int64_t i = 0; i < rows * cols; ++i) {
        const uint16_t h = format == WeightFormat::kF16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
        t.bytes[2 * i] = uint8_t(h);
        t.bytes[2 * i + 1] = uint8_t(h >> 8);
      }
      break;
    case WeightFormat::kFP8Block: {
      std::mt19937 rng(seed);
      t.bytes.resize(rows * cols);
      for (auto& b : t.bytes) {
        do b = uint8_t(rng()); while ((b & 0x7f) == 0x7f);
      }
      const int64_t srows = (rows + block - 1) / block, scols = (cols + block - 1) / block;
      t.scales = random_floats(srows * scols, seed + 1, 0.01f);
      break;
    }
    case WeightFormat::kQ8:
    case WeightFormat::kQ4: {
      t.bytes.resize(quantized_size(format, rows, cols));
      quantize_matrix(f32, format, t.bytes);
      break;
    }
    case WeightFormat::kQ4K:
    case WeightFormat::kQ5K:
    case WeightFormat::kQ6K:
    case WeightFormat::kQ2K:
    case WeightFormat::kQ3K:
    case WeightFormat::kIQ4XS:
    case WeightFormat::kIQ2XXS:
    case WeightFormat::kIQ1S:
      t.bytes = random_kquant_bytes(format, rows, cols, seed);
      break;
  }
  t.m = matrix_view(format, rows, cols, t.bytes.data());
  if (format == WeightFormat::kFP8Block) {
    t.m.block_scales = t.scales.data();
    t.m.block = block;
    t.m.scale_cols = (cols + block - 1) / block;
  }
  return t;
}

inline std::vector<WeightFormat> all_formats() {
  return {WeightFormat::kF32, WeightFormat::kF16,  WeightFormat::kBF16,
          WeightFormat::kFP8Block, WeightFormat::kQ8, WeightFormat::kQ4};
}

// |got - want| <= rel * scale + abs for every element, where scale[i] is the magnitude the
// error is relative to (e.g. sum |w| |x| of a dot product). Reports the first few failures.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                         const std::vector<float>& scale, float rel, float abs,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 5; ++i) {
    const float tol = rel * (scale.empty() ? std::fabs(want[i]) : scale[i]) + abs;
    if (!(std::fabs(got[i] - want[i]) <= tol)) {  // NaN fails
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i]
                    << " (tolerance " << tol << ")";
      ++failures;
    }
  }
}

// Runs the test once per target; restores the best target and the defaults afterwards.
class PerTarget : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_TRUE(kernels::force_target(GetParam())) << GetParam(); }
  void TearDown() override {
    kernels::force_target("");
    kernels::set_num_threads(2);
    kernels::set_matmul_options({});
  }
};

// scale[t][r] = sum_c |W[r][c]| |x[t][c]|: what the rounding error of a dot product scales with.
inline std::vector<float> abs_sums(const Matrix& w, const std::vector<float>& x, int64_t n) {
  std::vector<float> row(size_t(w.cols)), s(size_t(n * w.rows));
  for (int64_t r = 0; r < w.rows; ++r) {
    kernels::ref::dequantize_row(w, r, row.data());
    for (int64_t t = 0; t < n; ++t) {
      double a = 0;
      for (int64_t c = 0; c < w.cols; ++c) a += std::fabs(row[c] * x[t * w.cols + c]);
      s[t * w.rows + r] = float(a);
    }
  }
  return s;
}

// "q8 33x64 n=5 threads=2": names a product in a failure message.
inline std::string label(const Matrix& w, int64_t n, int threads) {
  return std::string(format_name(w.format)) + " " + std::to_string(w.rows) + "x" +
         std::to_string(w.cols) + " n=" + std::to_string(n) + " threads=" + std::to_string(threads);
}

inline std::string target_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

}  // namespace dsv3::testing
