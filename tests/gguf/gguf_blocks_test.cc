// dsv3's decoders of ggml block types against llama.cpp's gguf-py:
// tests/data/gguf/blocks.gguf (written by scripts/gen_gguf_fixtures.py) holds
// random blocks of each type and the floats gguf-py's numpy dequantisers make
// of them; the two must agree bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "tensor/dtype.h"
#include "tensor/gguf_blocks.h"

namespace dsv3 {
namespace {

const std::string kFixture =
    std::string(DSV3_SOURCE_DIR) + "/tests/data/gguf/blocks.gguf";

TEST(GgufBlocks, EveryDecodableTypeMatchesGgufPyBitExactly) {
  auto f = GgufFile::open(kFixture);
  ASSERT_TRUE(f.ok()) << f.error().message;
  int checked = 0;
  for (uint32_t id = 0; id < 64; ++id) {
    const auto type = ggml_type_from_id(id);
    if (!type || !ggml_type_info(*type).decodable || *type == GgmlType::kF32)
      continue;
    const std::string name(ggml_type_name(*type));
    SCOPED_TRACE(name);
    // A decodable type without a fixture is a failure, not a skip.
    ASSERT_TRUE(f->tensors().count(name + ".blocks"))
        << "no fixture for " << name;
    const GgufTensor &blocks = f->tensors().at(name + ".blocks");
    const GgufTensor &expected = f->tensors().at(name + ".expected");
    ASSERT_EQ(blocks.type, *type);
    ASSERT_EQ(expected.type, GgmlType::kF32);
    ASSERT_EQ(blocks.ne, expected.ne);
    const int64_t cols = blocks.ne[0], rows = blocks.ne[1];
    std::vector<float> row(size_t(cols), std::nanf(""));
    for (int64_t r = 0; r < rows; ++r) {
      decode_ggml_row(*type, blocks.data + r * ggml_row_bytes(*type, cols),
                      cols, row.data());
      const float *want =
          reinterpret_cast<const float *>(expected.data) + r * cols;
      for (int64_t c = 0; c < cols; ++c) {
        ASSERT_EQ(bits_from_f32(row[size_t(c)]), bits_from_f32(want[c]))
            << "row " << r << " col " << c << ": " << row[size_t(c)] << " vs "
            << want[c];
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 21); // F16, BF16, 12 block types and 7 i-quants
}

TEST(GgufBlocks, TypeTableKnowsNamesAndSizes) {
  EXPECT_EQ(ggml_type_name(GgmlType::kQ4_K), "Q4_K");
  EXPECT_EQ(ggml_row_bytes(GgmlType::kQ4_K, 7168), 28 * 144);
  EXPECT_EQ(ggml_row_bytes(GgmlType::kQ8_0, 64), 68);
  EXPECT_EQ(ggml_type_from_name("IQ2_XXS"), GgmlType::kIQ2_XXS);
  EXPECT_FALSE(ggml_type_from_id(4).has_value()); // Q4_2, removed from ggml
  EXPECT_FALSE(ggml_type_from_id(1000).has_value());
  EXPECT_TRUE(ggml_type_info(GgmlType::kIQ1_M).decodable);
  EXPECT_FALSE(ggml_type_info(GgmlType::kTQ2_0).decodable);
}

TEST(GgufBlocks, Q8_0EncoderRoundTripsWithinHalfAStep) {
  std::vector<float> x(64);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::sin(float(i) * 0.37f) * (i < 32 ? 1.0f : 100.0f);
  std::vector<uint8_t> q(68);
  encode_q8_0_row(x.data(), 64, q.data());
  std::vector<float> y(64);
  decode_ggml_row(GgmlType::kQ8_0, q.data(), 64, y.data());
  for (int b = 0; b < 2; ++b) {
    uint16_t dh;
    std::memcpy(&dh, q.data() + 34 * b, 2);
    const float d = f16_to_f32(dh);
    for (int j = 0; j < 32; ++j)
      EXPECT_LE(std::fabs(y[32 * b + j] - x[32 * b + j]),
                0.6f * d); // half a step + f16 scale
  }
  std::vector<float> zeros(32, 0.0f);
  encode_q8_0_row(zeros.data(), 32, q.data());
  decode_ggml_row(GgmlType::kQ8_0, q.data(), 32, y.data());
  for (int j = 0; j < 32; ++j)
    EXPECT_EQ(y[j], 0.0f);
}

} // namespace
} // namespace dsv3
