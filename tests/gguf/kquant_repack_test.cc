// Q2_K .. Q6_K, IQ4_XS, IQ2_XXS and IQ1_S kept quantized: the tiles of tensor/kquant.h decode to exactly
// the floats the GGUF blocks decode to (gguf-py's own fixture blocks and random ones, odd row counts), and the
// test encoders of gguf_blocks.h write blocks that decode close to their input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "io/gguf.h"
#include "tensor/dtype.h"
#include "tensor/gguf_blocks.h"
#include "tensor/kquant.h"
#include "tensor/quant.h"

namespace dsv3 {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K,
                               GgmlType::kQ6_K, GgmlType::kIQ4_XS, GgmlType::kIQ2_XXS,
                               GgmlType::kIQ1_S};
const std::string kFixture = std::string(DSV3_SOURCE_DIR) + "/tests/data/gguf/blocks.gguf";

// Every row of the repacked matrix equals decode_ggml_row of its blocks, bit for bit.
void expect_repack_exact(GgmlType type, const uint8_t* blocks, int64_t rows, int64_t cols) {
  const auto f = kquant_format_of(type);
  ASSERT_TRUE(f);
  const std::vector<uint8_t> packed = repack_kquant(type, blocks, rows, cols);
  ASSERT_EQ(int64_t(packed.size()), format_data_bytes(*f, rows, cols));
  const Matrix m = matrix_view(*f, rows, cols, packed.data());
  std::vector<float> want(static_cast<size_t>(cols)), got(static_cast<size_t>(cols), std::nanf(""));
  for (int64_t r = 0; r < rows; ++r) {
    decode_ggml_row(type, blocks + r * ggml_row_bytes(type, cols), cols, want.data());
    decode_row(m, r, got.data());
    for (int64_t c = 0; c < cols; ++c) {
      ASSERT_EQ(bits_from_f32(got[size_t(c)]), bits_from_f32(want[size_t(c)]))
          << ggml_type_name(type) << " row " << r << " col " << c;
    }
  }
}

std::vector<uint8_t> random_blocks(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<uint8_t> b(size_t(rows * ggml_row_bytes(type, cols)));
  std::mt19937 rng(seed);
  for (auto& x : b) x = uint8_t(rng());
  // Finite f16 scales (random bits would give NaN / inf now and then, which compare unequal).
  const int64_t bytes = ggml_type_info(type).block_bytes;
  for (size_t at = 0; at < b.size(); at += size_t(bytes)) {
    const std::vector<size_t> scales_at = type == GgmlType::kQ6_K   ? std::vector<size_t>{208}
                                          : type == GgmlType::kQ3_K ? std::vector<size_t>{108}
                                          : type == GgmlType::kQ2_K ? std::vector<size_t>{80, 82}
                                          : type == GgmlType::kIQ4_XS ? std::vector<size_t>{0}
                                          : type == GgmlType::kIQ2_XXS ? std::vector<size_t>{0}
                                          : type == GgmlType::kIQ1_S ? std::vector<size_t>{0}
                                                                    : std::vector<size_t>{0, 2};
    for (size_t off : scales_at) {
      b[at + off + 1] &= 0x3f;  // exponent below 0x1f: finite
    }
  }
  return b;
}

TEST(KQuantRepack, FixtureBlocksDecodeBitExactly) {
  auto f = GgufFile::open(kFixture);
  ASSERT_TRUE(f.ok()) << f.error().message;
  for (GgmlType type : kTypes) {
    const GgufTensor& t = f->tensors().at(std::string(ggml_type_name(type)) + ".blocks");
    ASSERT_EQ(t.type, type);
    expect_repack_exact(type, t.data, t.ne[1], t.ne[0]);
  }
}

TEST(KQuantRepack, RandomBlocksOfOddRowCountsDecodeBitExactly) {
  for (GgmlType type : kTypes) {
    for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{1, 256}, {15, 512}, {17, 256},
                                     {33, 768}}) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
      const auto b = random_blocks(type, rows, cols, uint32_t(rows * 31 + cols));
      expect_repack_exact(type, b.data(), rows, cols);
    }
  }
}

TEST(KQuantRepack, EncodersWriteBlocksThatDecodeCloseToTheirInput) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> x(1024);
  for (auto& v : x) v = dist(rng);
  // Q2_K: 4 levels over each sub-block's range (with 0), 4-bit scales; Q4_K / Q5_K: 16 / 32
  // levels over each sub-block's range; Q6_K: 63 over twice its largest |x|. Half a level,
  // plus the rounding of the scales. Q3_K: levels -4..3 of a quarter of the largest |x|, so
  // the positive side stops a level short: one level. IQ4_XS: the largest |x| on the level
  // -127, so the other side stops at 113 (14 / 127 short), and half its widest gap (23 / 127).
  // IQ2_XXS: magnitudes 8, 25, 43 of a step putting the largest |x| on 43, only 256 patterns
  // of 8 allowed, and an even number of minus signs: where x has an odd number, the cheapest
  // sign is flipped (0.41 of the largest |x| for this input). IQ1_S: levels -1, 0, 1 of a step
  // putting the largest |x| on 1, shifted by 1/8 of it the same way for 32 weights, and 2048 of
  // the 6561 patterns of 8 allowed (0.57 for this input).
  for (const auto& [type, tol] : {std::pair{GgmlType::kQ2_K, 0.45f}, {GgmlType::kQ3_K, 0.3f},
                                  {GgmlType::kQ4_K, 0.09f}, {GgmlType::kQ5_K, 0.05f},
                                  {GgmlType::kQ6_K, 0.025f}, {GgmlType::kIQ4_XS, 0.13f},
                                  {GgmlType::kIQ2_XXS, 0.5f}, {GgmlType::kIQ1_S, 0.7f}}) {
    std::vector<uint8_t> b(size_t(ggml_row_bytes(type, 1024)));
    encode_kquant_row(type, x.data(), 1024, b.data());
    std::vector<float> y(1024);
    decode_ggml_row(type, b.data(), 1024, y.data());
    float amax = 0, err = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      amax = std::max(amax, std::fabs(x[i]));
      err = std::max(err, std::fabs(x[i] - y[i]));
    }
    EXPECT_LT(err, tol * amax) << ggml_type_name(type);
    std::printf("%s: max error %.3f of max |x|\n", ggml_type_name(type).data(), err / amax);
    EXPECT_GT(err, 0.0f) << ggml_type_name(type);  // it did quantize
    expect_repack_exact(type, b.data(), 1, 1024);
  }
}

}  // namespace
}  // namespace dsv3
