#include "tensor/quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/kquant.h"
#include "util/check.h"

namespace dsv3 {

namespace {

const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = fp8_e4m3_to_f32(uint8_t(v));
    return t;
  }();
  return table;
}

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Where row r's part of group g lives: the block and the row's index inside its tile.
struct QuantSlot {
  uint8_t* block;
  int64_t i;
};
QuantSlot quant_slot(WeightFormat f, const uint8_t* data, int64_t cols, int64_t r, int64_t g) {
  const int64_t tile = r / kQuantTileRows;
  const uint8_t* tile_data = data + tile * kQuantTileRows * format_row_bytes(f, cols);
  return {const_cast<uint8_t*>(tile_data + g * quant_block_bytes(f)), r % kQuantTileRows};
}

// Offset of column c (0..31 inside its group) of tile row i among the q bytes of a block.
int64_t q8_offset(int64_t i, int64_t c) { return 64 * (c / 4) + 4 * i + c % 4; }
int64_t q4_offset(int64_t i, int64_t c) { return 64 * ((c % 16) / 4) + 4 * i + c % 4; }

void decode_quant_row(const Matrix& w, int64_t r, float* out) {
  const bool q8 = w.format == WeightFormat::kQ8;
  for (int64_t c0 = 0; c0 < w.cols; c0 += kQuantGroup) {
    const auto [block, i] = quant_slot(w.format, w.data, w.cols, r, c0 / kQuantGroup);
    const float d = f16_to_f32(load_u16(block + 2 * i));
    const int64_t n = std::min(kQuantGroup, w.cols - c0);
    if (q8) {
      const uint8_t* q = block + 2 * kQuantTileRows;
      for (int64_t c = 0; c < n; ++c) out[c0 + c] = d * float(int(q[q8_offset(i, c)]) - 128);
    } else {
      const float m = f16_to_f32(load_u16(block + 2 * kQuantTileRows + 2 * i));
      const uint8_t* q = block + 4 * kQuantTileRows;
      for (int64_t c = 0; c < n; ++c) {
        const uint8_t byte = q[q4_offset(i, c)];
        out[c0 + c] = d * float(c < 16 ? byte & 15 : byte >> 4) + m;
      }
    }
  }
}

void quantize_q8_group(const float* x, int64_t n, QuantSlot s) {
  float amax = 0;
  for (int64_t c = 0; c < n; ++c) amax = std::max(amax, std::fabs(x[c]));
  const uint16_t d16 = f32_to_f16(amax / 127.0f);
  const float d = f16_to_f32(d16);
  store_u16(s.block + 2 * s.i, d16);
  uint8_t* q = s.block + 2 * kQuantTileRows;
  for (int64_t c = 0; c < kQuantGroup; ++c) {
    const float v = c < n && d > 0 ? std::nearbyint(x[c] / d) : 0.0f;
    q[q8_offset(s.i, c)] = uint8_t(128 + int(std::clamp(v, -127.0f, 127.0f)));
  }
}

void quantize_q4_group(const float* x, int64_t n, QuantSlot s) {
  float lo = x[0], hi = x[0];
  for (int64_t c = 1; c < n; ++c) {
    lo = std::min(lo, x[c]);
    hi = std::max(hi, x[c]);
  }
  const uint16_t m16 = f32_to_f16(lo);
  const float m = f16_to_f32(m16);
  const uint16_t d16 = f32_to_f16((hi - m) / 15.0f);
  const float d = f16_to_f32(d16);
  store_u16(s.block + 2 * s.i, d16);
  store_u16(s.block + 2 * kQuantTileRows + 2 * s.i, m16);
  uint8_t* q = s.block + 4 * kQuantTileRows;
  for (int64_t c = 0; c < 16; ++c) {
    uint8_t byte = 0;
    for (int64_t half = 0; half < 2; ++half) {
      const int64_t cc = c + 16 * half;
      const float u = cc < n && d > 0 ? std::nearbyint((x[cc] - m) / d) : 0.0f;
      byte |= uint8_t(std::clamp(u, 0.0f, 15.0f)) << (4 * half);
    }
    q[q4_offset(s.i, c)] = byte;
  }
}

}  // namespace

float fp8_e4m3_lut(uint8_t v) { return fp8_table()[v]; }

void decode_row(const Matrix& w, int64_t r, float* out) {
  switch (w.format) {
    case WeightFormat::kF32:
      std::memcpy(out, w.row_data(r), w.cols * 4);
      return;
    case WeightFormat::kF16: {
      const uint8_t* row = w.row_data(r);
      for (int64_t c = 0; c < w.cols; ++c) out[c] = f16_to_f32(load_u16(row + 2 * c));
      return;
    }
    case WeightFormat::kBF16: {
      const uint8_t* row = w.row_data(r);
      for (int64_t c = 0; c < w.cols; ++c) out[c] = bf16_to_f32(load_u16(row + 2 * c));
      return;
    }
    case WeightFormat::kFP8Block: {
      const uint8_t* row = w.row_data(r);
      const float* scales = w.block_scales + ((w.row0 + r) / w.block) * w.scale_cols;
      const auto& lut = fp8_table();
      for (int64_t c = 0; c < w.cols; ++c) out[c] = lut[row[c]] * scales[c / w.block];
      return;
    }
    case WeightFormat::kQ8:
    case WeightFormat::kQ4:
      decode_quant_row(w, r, out);
      return;
    case WeightFormat::kQ4K:
    case WeightFormat::kQ5K:
    case WeightFormat::kQ6K:
      decode_kquant_row(w, r, out);
      return;
  }
  DSV3_CHECK(false, "unknown weight format");
}

void quantize_row(WeightFormat f, const float* x, int64_t cols, int64_t r, uint8_t* data) {
  DSV3_CHECK(is_quantized(f), "quantize_row to %s", format_name(f).data());
  for (int64_t c0 = 0; c0 < cols; c0 += kQuantGroup) {
    const QuantSlot slot = quant_slot(f, data, cols, r, c0 / kQuantGroup);
    const int64_t n = std::min(kQuantGroup, cols - c0);
    if (f == WeightFormat::kQ8) {
      quantize_q8_group(x + c0, n, slot);
    } else {
      quantize_q4_group(x + c0, n, slot);
    }
  }
}

Matrix quantize_matrix(const Matrix& src, WeightFormat to, std::span<uint8_t> dst,
                       ThreadPool* pool) {
  DSV3_CHECK(is_quantized(to), "quantize_matrix to %s", format_name(to).data());
  const int64_t need = quantized_size(to, src.rows, src.cols);
  DSV3_CHECK(int64_t(dst.size()) >= need, "quantize_matrix: %ld bytes for %ld", long(dst.size()),
             long(need));
  // Zero scales make the padding rows decode to 0; q8's zero point is 128.
  std::memset(dst.data(), 0, need);
  const auto rows = [&](int64_t begin, int64_t end) {
    std::vector<float> row(src.cols);
    for (int64_t r = begin; r < end; ++r) {
      decode_row(src, r, row.data());
      quantize_row(to, row.data(), src.cols, r, dst.data());
    }
  };
  if (pool) {
    pool->parallel_for(src.rows, 64, rows);
  } else {
    rows(0, src.rows);
  }
  return matrix_view(to, src.rows, src.cols, dst.data());
}

}  // namespace dsv3
