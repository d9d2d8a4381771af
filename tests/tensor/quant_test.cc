// Scalar codecs of our q8 / q4 formats: the documented byte layout, distortion bounds, and
// the FP8 lookup table.
#include "tensor/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace dsv3 {
namespace {

// Expected RMS error / RMS value for N(0, 1) rows: q8 ~ (2 sigma / 127) / sqrt(12) = 0.0045,
// q4 ~ (4.1 sigma / 15) / sqrt(12) = 0.079. The bounds leave a margin.
constexpr double kQ8RelRmsBound = 0.006;
constexpr double kQ4RelRmsBound = 0.09;
// Per element: half a quantization step, plus the f16 rounding of the scale and offset.
constexpr double kStepFraction = 0.53;

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

Matrix f32_view(const std::vector<float>& v, int64_t rows, int64_t cols) {
  return matrix_view(WeightFormat::kF32, rows, cols, reinterpret_cast<const uint8_t*>(v.data()));
}

TEST(QuantFormats, Sizes) {
  EXPECT_EQ(quant_block_bytes(WeightFormat::kQ8), 544);
  EXPECT_EQ(quant_block_bytes(WeightFormat::kQ4), 320);
  EXPECT_EQ(format_row_bytes(WeightFormat::kQ8, 64), 68);
  EXPECT_EQ(format_row_bytes(WeightFormat::kQ4, 64), 40);
  EXPECT_EQ(format_row_bytes(WeightFormat::kQ8, 33), 68);  // groups are padded
  EXPECT_EQ(format_data_bytes(WeightFormat::kQ8, 17, 40), 32 * 68);  // and tiles
  EXPECT_EQ(format_data_bytes(WeightFormat::kBF16, 17, 40), 17 * 80);
  EXPECT_TRUE(is_quantized(WeightFormat::kQ4));
  EXPECT_EQ(format_from_name("q8"), WeightFormat::kQ8);
  EXPECT_EQ(format_from_name(format_name(WeightFormat::kFP8Block)), WeightFormat::kFP8Block);
  EXPECT_FALSE(format_from_name("q5").has_value());
  EXPECT_FALSE(is_quantized(WeightFormat::kFP8Block));
}

class Distortion : public ::testing::TestWithParam<WeightFormat> {};

}  // namespace

// How gtest shows the parameter (instead of its bytes); found through WeightFormat's namespace.
[[maybe_unused]] static void PrintTo(WeightFormat f, std::ostream* os) { *os << format_name(f); }

namespace {

TEST_P(Distortion, RoundTripErrorIsBounded) {
  const WeightFormat f = GetParam();
  const int64_t rows = 40, cols = 1000;  // partial tile and partial group
  const auto v = gaussian(rows * cols, 1);
  std::vector<uint8_t> bytes(quantized_size(f, rows, cols));
  const Matrix q = quantize_matrix(f32_view(v, rows, cols), f, bytes);
  double err2 = 0, val2 = 0;
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    decode_row(q, r, row.data());
    for (int64_t g = 0; g < cols; g += 32) {
      float lo = v[r * cols + g], hi = lo, amax = 0;
      for (int64_t c = g; c < std::min<int64_t>(cols, g + 32); ++c) {
        lo = std::min(lo, v[r * cols + c]);
        hi = std::max(hi, v[r * cols + c]);
        amax = std::max(amax, std::fabs(v[r * cols + c]));
      }
      const double step = f == WeightFormat::kQ8 ? amax / 127.0 : (hi - lo) / 15.0;
      for (int64_t c = g; c < std::min<int64_t>(cols, g + 32); ++c) {
        const double e = row[c] - v[r * cols + c];
        ASSERT_LE(std::fabs(e), kStepFraction * step + 1e-6) << "row " << r << " col " << c;
        err2 += e * e;
        val2 += double(v[r * cols + c]) * v[r * cols + c];
      }
    }
  }
  const double rel = std::sqrt(err2 / val2);
  EXPECT_LT(rel, f == WeightFormat::kQ8 ? kQ8RelRmsBound : kQ4RelRmsBound);
  std::printf("%s relative RMS error %.5f\n", format_name(f).data(), rel);
}

INSTANTIATE_TEST_SUITE_P(Formats, Distortion,
                         ::testing::Values(WeightFormat::kQ8, WeightFormat::kQ4),
                         [](const ::testing::TestParamInfo<WeightFormat>& info) {
                           return std::string(format_name(info.param));
                         });

// The bytes sit where tensor/matrix.h says they do.
TEST(QuantLayout, Q8BytePositions) {
  const int64_t rows = 18, cols = 40;
  std::vector<float> v(rows * cols, 0.0f);
  for (int64_t c = 0; c < 32; ++c) v[5 * cols + c] = float(c + 1);  // row 5, group 0
  v[17 * cols + 33] = -2.0f;                                        // row 17: tile 1, group 1
  std::vector<uint8_t> bytes(quantized_size(WeightFormat::kQ8, rows, cols));
  quantize_matrix(f32_view(v, rows, cols), WeightFormat::kQ8, bytes);
  const float d = f16_to_f32(uint16_t(bytes[10] | bytes[11] << 8));  // d[5] of block 0
  EXPECT_NEAR(d, 32.0f / 127.0f, 1e-3f);
  // Column 6 of row 5: quad 1, lane 5, byte 2.
  EXPECT_EQ(bytes[32 + 64 * 1 + 4 * 5 + 2], 128 + int(std::nearbyint(7.0f / d)));
  const int64_t tile1 = 16 * format_row_bytes(WeightFormat::kQ8, cols);
  const uint8_t* block = bytes.data() + tile1 + 544;  // tile 1, group 1
  const float d17 = f16_to_f32(uint16_t(block[2] | block[3] << 8));  // d[1]
  EXPECT_NEAR(d17, 2.0f / 127.0f, 1e-4f);
  EXPECT_EQ(block[32 + 4 * 1 + 1], 1);  // column 33 = group column 1: -127 + 128
  EXPECT_EQ(block[32 + 4 * 1 + 0], 128);
  // Rows 18..31 pad the second tile with zero bytes.
  EXPECT_EQ(block[2 * 5], 0);
  EXPECT_EQ(block[32 + 4 * 5], 0);
}

TEST(QuantLayout, Q4NibblePositions) {
  const int64_t rows = 3, cols = 32;
  std::vector<float> v(rows * cols);
  for (int64_t c = 0; c < 32; ++c) v[2 * cols + c] = float(c % 16);  // u = c % 16, m = 0, d = 1
  std::vector<uint8_t> bytes(quantized_size(WeightFormat::kQ4, rows, cols));
  quantize_matrix(f32_view(v, rows, cols), WeightFormat::kQ4, bytes);
  EXPECT_EQ(f16_to_f32(uint16_t(bytes[4] | bytes[5] << 8)), 1.0f);   // d[2]
  EXPECT_EQ(f16_to_f32(uint16_t(bytes[36] | bytes[37] << 8)), 0.0f);  // m[2]
  // Byte (k, i = 2, j): low nibble column 4k + j, high nibble column 16 + 4k + j.
  for (int64_t k = 0; k < 4; ++k) {
    for (int64_t j = 0; j < 4; ++j) {
      const uint8_t b = bytes[64 + 64 * k + 4 * 2 + j];
      EXPECT_EQ(b & 15, (4 * k + j) % 16);
      EXPECT_EQ(b >> 4, (16 + 4 * k + j) % 16);
    }
  }
  std::vector<float> row(cols);
  decode_row(matrix_view(WeightFormat::kQ4, rows, cols, bytes.data()), 2, row.data());
  for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(row[c], v[2 * cols + c]);
}

TEST(QuantLayout, ConstantAndZeroGroups) {
  for (WeightFormat f : {WeightFormat::kQ8, WeightFormat::kQ4}) {
    std::vector<float> v(2 * 64, 0.0f);
    for (int64_t c = 32; c < 64; ++c) v[64 + c] = 0.5f;
    std::vector<uint8_t> bytes(quantized_size(f, 2, 64));
    const Matrix q = quantize_matrix(f32_view(v, 2, 64), f, bytes);
    std::vector<float> row(64);
    for (int64_t r = 0; r < 2; ++r) {
      decode_row(q, r, row.data());
      // q4 stores a constant group exactly as its offset; q8's 127 * f16(0.5 / 127) is off by
      // the f16 rounding of the scale.
      const float tol = f == WeightFormat::kQ4 ? 0.0f : 0.5f * 1e-3f;
      for (int64_t c = 0; c < 64; ++c) EXPECT_NEAR(row[c], v[r * 64 + c], tol) << format_name(f);
    }
  }
}

TEST(QuantLayout, QuantizeFromBf16AndFp8Sources) {
  const int64_t rows = 20, cols = 256;
  const auto v = gaussian(rows * cols, 3);
  std::vector<uint16_t> bf(rows * cols);
  for (size_t i = 0; i < bf.size(); ++i) bf[i] = f32_to_bf16(v[i]);
  const Matrix src = matrix_view(WeightFormat::kBF16, rows, cols,
                                 reinterpret_cast<const uint8_t*>(bf.data()));
  std::vector<uint8_t> bytes(quantized_size(WeightFormat::kQ8, rows, cols));
  ThreadPool pool(2);
  const Matrix q = quantize_matrix(src, WeightFormat::kQ8, bytes, &pool);
  std::vector<float> a(cols), b(cols);
  for (int64_t r = 0; r < rows; ++r) {
    decode_row(src, r, a.data());
    decode_row(q, r, b.data());
    for (int64_t c = 0; c < cols; ++c) EXPECT_NEAR(a[c], b[c], 0.03f);
  }
}

TEST(Fp8Table, MatchesTheCodecOnEveryCode) {
  for (int code = 0; code < 256; ++code) {
    const float want = fp8_e4m3_to_f32(uint8_t(code));
    const float got = fp8_e4m3_lut(uint8_t(code));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << code;
    } else {
      EXPECT_EQ(got, want) << code;
    }
  }
  EXPECT_TRUE(std::isnan(fp8_e4m3_lut(0x7f)) && std::isnan(fp8_e4m3_lut(0xff)));
  EXPECT_EQ(fp8_e4m3_lut(0x01), 0.001953125f);  // smallest subnormal, 2^-9
  EXPECT_EQ(fp8_e4m3_lut(0x7e), 448.0f);
}

TEST(MatrixSlices, QuantizedSlicesStartOnTiles) {
  std::vector<uint8_t> bytes(quantized_size(WeightFormat::kQ8, 40, 64));
  const Matrix m = matrix_view(WeightFormat::kQ8, 40, 64, bytes.data());
  const Matrix s = m.row_slice(32, 8);
  EXPECT_EQ(s.data, bytes.data() + 32 * 68);
  EXPECT_EQ(s.rows, 8);
  EXPECT_DEATH(m.row_slice(8, 8), "tile");
}

}  // namespace
}  // namespace dsv3
