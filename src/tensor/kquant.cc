#include "tensor/kquant.h"

#include <cstring>

#include "tensor/dtype.h"
#include "util/check.h"

namespace dsv3 {

namespace {

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Byte of column c (0..31 of a group) of tile row i among a group's 256 nibble bytes, and
// whether it is the high nibble.
int64_t nibble_byte(int64_t i, int64_t c) { return 64 * ((c % 16) / 4) + 4 * i + c % 4; }
int nibble_shift(int64_t c) { return c < 16 ? 0 : 4; }

// Byte and bit of the high 2 bits of column c of row i among a kQ6K group's 128 bytes.
int64_t q6_high_byte(int64_t i, int64_t c) { return 64 * (c / 16) + 4 * i + c % 4; }
int q6_high_shift(int64_t c) { return int(2 * ((c % 16) / 4)); }

// The 6-bit value (0..63) of element e (0..255) of a ggml Q6_K block: ql[128] | qh[64] | ...
// Each half of 128 elements has 64 ql and 32 qh bytes; quarter q of it (32 elements) takes
// the low (q < 2) or high nibbles of ql[l + 32 (q & 1)] and bits 2q of qh[l].
int q6_k_value(const uint8_t* b, int64_t e) {
  const int64_t half = e / 128, quarter = (e % 128) / 32, l = e % 32;
  const uint8_t low = b[64 * half + l + 32 * (quarter & 1)];
  const uint8_t high = b[128 + 32 * half + l];
  return ((quarter >= 2 ? low >> 4 : low & 15) | (((high >> (2 * quarter)) & 3) << 4));
}

// Byte and bit of the fifth bit of column c of row i among a kQ5K group's 64 bytes.
int64_t q5_high_byte(int64_t i, int64_t c) { return 4 * i + c % 4; }
int q5_high_shift(int64_t c) { return int((c % 16) / 4 + (c < 16 ? 0 : 4)); }

// Q4_K: d | dmin | scales[12] | qs[128]; Q5_K: the same with qh[32] before qs, bit g of qh[l]
// the fifth bit of element l of sub-block g.
void pack_q4_or_q5_k(const uint8_t* src, int64_t i, bool q5, uint8_t* block) {
  std::memcpy(block + 2 * i, src, 2);
  std::memcpy(block + kQ4KDmin + 2 * i, src + 2, 2);
  const uint8_t* qs = src + (q5 ? 48 : 16);
  for (int g = 0; g < 8; ++g) {
    int scale = 0, min = 0;
    scale_min_k4(g, src + 4, scale, min);
    block[kQ4KScales + 16 * g + i] = uint8_t(scale);
    block[kQ4KMins + 16 * g + i] = uint8_t(min);
    uint8_t* q = block + kQ4KQuants + (q5 ? kQ5KGroupBytes : kQ4KGroupBytes) * g;
    for (int64_t c = 0; c < 32; ++c) {
      const uint8_t byte = qs[32 * (g / 2) + c];
      const uint8_t u = g % 2 ? byte >> 4 : byte & 15;
      q[nibble_byte(i, c)] |= uint8_t(u << nibble_shift(c));
      if (q5) q[256 + q5_high_byte(i, c)] |= uint8_t(((src[16 + c] >> g) & 1) << q5_high_shift(c));
    }
  }
}

void pack_q6_k(const uint8_t* src, int64_t i, uint8_t* block) {
  std::memcpy(block + 2 * i, src + 208, 2);
  for (int s = 0; s < 16; ++s) block[kQ6KScales + 16 * s + i] = src[192 + s];
  for (int g = 0; g < 8; ++g) {
    uint8_t* q = block + kQ6KQuants + kQ6KGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      const int v = q6_k_value(src, 32 * g + c);
      q[nibble_byte(i, c)] |= uint8_t((v & 15) << nibble_shift(c));
      q[256 + q6_high_byte(i, c)] |= uint8_t((v >> 4) << q6_high_shift(c));
    }
  }
}

}  // namespace

bool is_kquant(WeightFormat f) {
  return f == WeightFormat::kQ4K || f == WeightFormat::kQ5K || f == WeightFormat::kQ6K;
}

int64_t kquant_block_bytes(WeightFormat f) {
  switch (f) {
    case WeightFormat::kQ4K: return kQ4KBlockBytes;
    case WeightFormat::kQ5K: return kQ5KBlockBytes;
    case WeightFormat::kQ6K: return kQ6KBlockBytes;
    default: return 0;
  }
}

std::optional<WeightFormat> kquant_format_of(GgmlType t) {
  switch (t) {
    case GgmlType::kQ4_K: return WeightFormat::kQ4K;
    case GgmlType::kQ5_K: return WeightFormat::kQ5K;
    case GgmlType::kQ6_K: return WeightFormat::kQ6K;
    default: return std::nullopt;
  }
}

std::vector<uint8_t> repack_kquant(GgmlType t, const uint8_t* src, int64_t rows, int64_t cols) {
  const auto f = kquant_format_of(t);
  DSV3_CHECK(f && cols % kKQuantSuperBlock == 0, "repack_kquant of %s with %ld columns",
             ggml_type_name(t).data(), long(cols));
  const int64_t blocks = cols / kKQuantSuperBlock, block_bytes = kquant_block_bytes(*f);
  const int64_t file_block = ggml_type_info(t).block_bytes;
  // Zero bytes: padded rows decode to 0 and the nibbles can be or-ed in.
  std::vector<uint8_t> out(size_t(format_data_bytes(*f, rows, cols)), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = r % kQuantTileRows;
    for (int64_t s = 0; s < blocks; ++s, src += file_block) {
      uint8_t* block = out.data() + ((r / kQuantTileRows) * blocks + s) * block_bytes;
      if (*f == WeightFormat::kQ6K) {
        pack_q6_k(src, i, block);
      } else {
        pack_q4_or_q5_k(src, i, *f == WeightFormat::kQ5K, block);
      }
    }
  }
  return out;
}

void decode_kquant_row(const Matrix& w, int64_t r, float* out) {
  DSV3_CHECK(is_kquant(w.format) && w.cols % kKQuantSuperBlock == 0);
  const int64_t blocks = w.cols / kKQuantSuperBlock, block_bytes = kquant_block_bytes(w.format);
  const int64_t i = r % kQuantTileRows;
  const uint8_t* tile = w.data + (r / kQuantTileRows) * blocks * block_bytes;
  for (int64_t s = 0; s < blocks; ++s, out += kKQuantSuperBlock) {
    const uint8_t* block = tile + s * block_bytes;
    const float d = f16_to_f32(load_u16(block + 2 * i));
    for (int64_t g = 0; g < 8; ++g) {
      if (w.format != WeightFormat::kQ6K) {
        // The float operations of ggml's decoders, in their order.
        const bool q5 = w.format == WeightFormat::kQ5K;
        const float dmin = f16_to_f32(load_u16(block + kQ4KDmin + 2 * i));
        const float dl = d * float(block[kQ4KScales + 16 * g + i]);
        const float ml = dmin * float(block[kQ4KMins + 16 * g + i]);
        const uint8_t* q = block + kQ4KQuants + (q5 ? kQ5KGroupBytes : kQ4KGroupBytes) * g;
        for (int64_t c = 0; c < 32; ++c) {
          int u = (q[nibble_byte(i, c)] >> nibble_shift(c)) & 15;
          if (q5) u |= ((q[256 + q5_high_byte(i, c)] >> q5_high_shift(c)) & 1) << 4;
          out[32 * g + c] = dl * float(u) - ml;
        }
      } else {
        const uint8_t* q = block + kQ6KQuants + kQ6KGroupBytes * g;
        for (int64_t c = 0; c < 32; ++c) {
          const int8_t sc = int8_t(block[kQ6KScales + 16 * (2 * g + c / 16) + i]);
          const int v = ((q[nibble_byte(i, c)] >> nibble_shift(c)) & 15) |
                        (((q[256 + q6_high_byte(i, c)] >> q6_high_shift(c)) & 3) << 4);
          out[32 * g + c] = (d * float(sc)) * float(v - 32);
        }
      }
    }
  }
}

}  // namespace dsv3
