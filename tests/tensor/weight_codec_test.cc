// The weight-format codecs (tensor/weight_codec.h): every WeightFormat reaches its own codec,
// each codec's decode inverts its encode within the format's precision, and the int8
// product of the group-quantized codecs equals the product of what decode gives.
#include "tensor/weight_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/quant.h"

namespace dsv3 {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(WeightCodecs, EveryFormatReachesItsOwnCodec) {
  for (int i = 0; i < kNumWeightFormats; ++i) {
    const WeightFormat f = WeightFormat(i);
    visit_format(f, [&]<typename Codec>(Codec) {
      EXPECT_EQ(Codec::kFormat, f) << i;
      EXPECT_EQ(Codec::kName, format_name(f));
      EXPECT_EQ(Codec::kGroupQuantized, is_quantized(f)) << Codec::kName;
      EXPECT_EQ(Codec::row_bytes(100), format_row_bytes(f, 100)) << Codec::kName;
    });
  }
}

// Element formats: a value goes through encode and the row decoder as through the scalar
// conversions of tensor/dtype.h.
template <typename Codec>
void expect_element_round_trip(float (*expected)(float)) {
  const int64_t cols = 37;
  const std::vector<float> x = gaussian(cols, 3);
  std::vector<uint8_t> bytes(size_t(Codec::row_bytes(cols)));
  for (int64_t c = 0; c < cols; ++c) Codec::encode(x[size_t(c)], bytes.data() + c * Codec::kValueBytes);
  Matrix m = matrix_view(Codec::kFormat, 1, cols, bytes.data());
  const std::vector<float> unit_scales(1, 1.0f);
  m.block_scales = unit_scales.data();  // FP8: one block, scale 1
  m.scale_cols = 1;
  std::vector<float> out(size_t(cols), NAN);
  Codec::decode_row(m, 0, out.data());
  for (int64_t c = 0; c < cols; ++c) {
    EXPECT_EQ(out[size_t(c)], expected(x[size_t(c)])) << Codec::kName << " column " << c;
  }
}

TEST(WeightCodecs, ElementFormatsRoundTripAsTheScalarConversions) {
  expect_element_round_trip<F32Codec>([](float v) { return v; });
  expect_element_round_trip<F16Codec>([](float v) { return f16_to_f32(f32_to_f16(v)); });
  expect_element_round_trip<BF16Codec>([](float v) { return bf16_to_f32(f32_to_bf16(v)); });
  expect_element_round_trip<Fp8BlockCodec>(
      [](float v) { return fp8_e4m3_to_f32(f32_to_fp8_e4m3(v)); });
}

// The int8 product of one tile of rows with quantized activations equals the float product
// of the decoded rows with the dequantized activations (the same values; only the order of
// the additions differs).
template <typename Codec>
void expect_int8_dot_matches_decode() {
  const int64_t rows = kQuantTileRows, cols = 2 * kQuantGroup;
  const std::vector<float> w = gaussian(rows * cols, 5);
  std::vector<uint8_t> bytes(size_t(format_data_bytes(Codec::kFormat, rows, cols)), 0);
  for (int64_t r = 0; r < rows; ++r) Codec::encode_row(w.data() + r * cols, cols, r, bytes.data());
  const Matrix m = matrix_view(Codec::kFormat, rows, cols, bytes.data());

  std::mt19937 rng(7);
  std::uniform_int_distribution<int> code(-127, 127);
  std::vector<int8_t> q(static_cast<size_t>(cols));
  for (auto& v : q) v = int8_t(code(rng));
  const float scale = 0.01f;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> decoded(static_cast<size_t>(cols));
    Codec::decode_row(m, r, decoded.data());
    double want = 0, got = 0;
    for (int64_t g = 0; g < cols / kQuantGroup; ++g) {
      int sum = 0;
      for (int64_t c = 0; c < kQuantGroup; ++c) sum += q[size_t(g * kQuantGroup + c)];
      const Int8Group x{.q = q.data() + g * kQuantGroup, .scale = scale,
                        .scaled_sum = scale * float(sum), .q8_offset = -128.0f * scale * float(sum)};
      got += Codec::int8_dot(Codec::block(m.data, cols, r, g), r % kQuantTileRows, x);
      for (int64_t c = 0; c < kQuantGroup; ++c) {
        want += double(decoded[size_t(g * kQuantGroup + c)]) * scale * q[size_t(g * kQuantGroup + c)];
      }
    }
    EXPECT_NEAR(got, want, 1e-4 * (1 + std::fabs(want))) << Codec::kName << " row " << r;
  }
}

TEST(WeightCodecs, Int8DotEqualsTheProductOfTheDecodedRow) {
  expect_int8_dot_matches_decode<Q8Codec>();
  expect_int8_dot_matches_decode<Q4Codec>();
}

TEST(WeightCodecs, GroupQuantizedShapeInACheckpoint) {
  EXPECT_EQ(group_quantized_shape(WeightFormat::kQ8, 17, 40), (std::vector<int64_t>{2, 2, 544}));
  EXPECT_EQ(group_quantized_shape(WeightFormat::kQ4, 16, 32), (std::vector<int64_t>{1, 1, 320}));
  EXPECT_TRUE(group_quantized_shape(WeightFormat::kBF16, 16, 32).empty());
  EXPECT_TRUE(group_quantized_shape(WeightFormat::kFP8Block, 16, 32).empty());
}

}  // namespace
}  // namespace dsv3
