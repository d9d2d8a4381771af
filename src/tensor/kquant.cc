#include "tensor/kquant.h"

#include <cstring>

#include "tensor/dtype.h"
#include "tensor/gguf_iq_grids.h"
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

// Byte and bit of the high 2 bits of column c of row i among a kQ6K group's 128 bytes (the
// 2-bit codes of kQ2K and kQ3K are placed alike).
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

// The 2-bit field (0..3) of element e (0..255) among the 64 qs bytes of a Q2_K / Q3_K block:
// each half of 128 elements has 32 bytes; quarter q of it (32 elements) is at bits 2q.
int q23_k_low_bits(const uint8_t* qs, int64_t e) {
  return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

// Byte and bit of the fifth bit of column c of row i among a kQ5K group's 64 bytes (kQ3K's
// third bits are placed alike).
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

// Q2_K: scales[16] | qs[64] | d | dmin.
void pack_q2_k(const uint8_t* src, int64_t i, uint8_t* block) {
  std::memcpy(block + 2 * i, src + 80, 2);
  std::memcpy(block + kQ2KDmin + 2 * i, src + 82, 2);
  for (int s = 0; s < 16; ++s) block[kQ2KScales + 16 * s + i] = src[s];
  for (int g = 0; g < 8; ++g) {
    uint8_t* q = block + kQ2KQuants + kQ2KGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      q[q6_high_byte(i, c)] |= uint8_t(q23_k_low_bits(src + 16, 32 * g + c) << q6_high_shift(c));
    }
  }
}

// Q3_K: hmask[32] | qs[64] | scales[12] | d. Bit 4 (e / 128) + (e % 128) / 32 of hmask[e % 32]
// is element e's third bit (set: the value is the low bits, clear: the low bits minus 4).
void pack_q3_k(const uint8_t* src, int64_t i, uint8_t* block) {
  std::memcpy(block + 2 * i, src + 108, 2);
  for (int s = 0; s < 16; ++s) block[kQ3KScales + 16 * s + i] = uint8_t(int8_t(q3_k_scale(s, src + 96)));
  for (int g = 0; g < 8; ++g) {
    uint8_t* q = block + kQ3KQuants + kQ3KGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      const int64_t e = 32 * g + c;
      const int high = (src[e % 32] >> (4 * (e / 128) + (e % 128) / 32)) & 1;
      q[q6_high_byte(i, c)] |= uint8_t(q23_k_low_bits(src + 32, e) << q6_high_shift(c));
      q[128 + q5_high_byte(i, c)] |= uint8_t(high << q5_high_shift(c));
    }
  }
}

// IQ4_XS: d | scales_h | scales_l[4] | qs[128]; sub-block g's 16 bytes hold columns c (low
// nibble) and 16 + c (high nibble), as Q4_0's.
void pack_iq4_xs(const uint8_t* src, int64_t i, uint8_t* block) {
  std::memcpy(block + 2 * i, src, 2);
  for (int g = 0; g < 8; ++g) {
    block[kIQ4XSScales + 16 * g + i] = uint8_t(int8_t(iq4_xs_scale(g, src)));
    uint8_t* q = block + kIQ4XSQuants + kIQ4XSGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      const uint8_t byte = src[8 + 16 * g + c % 16];
      q[nibble_byte(i, c)] |= uint8_t((c < 16 ? byte & 15 : byte >> 4) << nibble_shift(c));
    }
  }
}

// IQ2_XXS: d | per sub-block g, 4 grid index bytes and a u32 of four 7-bit sign patterns and
// the 4-bit scale (bits 28..31).
void pack_iq2_xxs(const uint8_t* src, int64_t i, uint8_t* block) {
  std::memcpy(block + 2 * i, src, 2);
  for (int g = 0; g < 8; ++g) {
    const uint8_t* sub = src + 2 + 8 * g;
    uint32_t aux;
    std::memcpy(&aux, sub + 4, 4);
    block[kIQ2XXSScales + 16 * g + i] = uint8_t(aux >> 28);
    uint8_t* q = block + kIQ2XXSQuants + kIQ2XXSGroupBytes * g;
    for (int l = 0; l < 4; ++l) {
      q[16 * l + i] = sub[l];
      const uint8_t signs = iq_tables::kSignPatterns[(aux >> (7 * l)) & 127];
      for (int64_t c = 8 * l; c < 8 * l + 8; ++c) {
        const int64_t bit = 64 * (c / 4) + 4 * i + c % 4;
        q[kIQ2XXSSigns + bit / 8] |= uint8_t(((signs >> (c % 8)) & 1) << (bit % 8));
      }
    }
  }
}

// IQ1_S: d | qs[32] (low 8 index bits, 4 per sub-block) | u16 qh[8]: per sub-block g, 4 x 3
// high index bits, then the scale (bits 12..14) and the delta's sign (bit 15).
void pack_iq1_s(const uint8_t* src, int64_t i, uint8_t* block) {
  std::memcpy(block + 2 * i, src, 2);
  for (int g = 0; g < 8; ++g) {
    uint16_t qh;
    std::memcpy(&qh, src + 34 + 2 * g, 2);
    block[kIQ1SScales + 16 * g + i] = uint8_t(qh >> 12);
    uint8_t* q = block + kIQ1SQuants + kIQ1SGroupBytes * g;
    for (int l = 0; l < 4; ++l) {
      q[16 * l + i] = src[2 + 4 * g + l];
      q[kIQ1SHigh + 16 * (l / 2) + i] |= uint8_t(((qh >> (3 * l)) & 7) << (4 * (l % 2)));
    }
  }
}

// Row i of a super-block tile as floats, the float operations of ggml's decoders in their
// order.
void decode_q2_k_block(const uint8_t* block, int64_t i, float* out) {
  const float d = f16_to_f32(load_u16(block + 2 * i));
  const float dmin = f16_to_f32(load_u16(block + kQ2KDmin + 2 * i));
  for (int64_t g = 0; g < 8; ++g) {
    const uint8_t* q = block + kQ2KQuants + kQ2KGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      const uint8_t sm = block[kQ2KScales + 16 * (2 * g + c / 16) + i];
      const float dl = d * float(sm & 15), ml = dmin * float(sm >> 4);
      out[32 * g + c] = dl * float((q[q6_high_byte(i, c)] >> q6_high_shift(c)) & 3) - ml;
    }
  }
}

void decode_q3_k_block(const uint8_t* block, int64_t i, float* out) {
  const float d = f16_to_f32(load_u16(block + 2 * i));
  for (int64_t g = 0; g < 8; ++g) {
    const uint8_t* q = block + kQ3KQuants + kQ3KGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      const int8_t sc = int8_t(block[kQ3KScales + 16 * (2 * g + c / 16) + i]);
      const int u = ((q[q6_high_byte(i, c)] >> q6_high_shift(c)) & 3) |
                    (((q[128 + q5_high_byte(i, c)] >> q5_high_shift(c)) & 1) << 2);
      out[32 * g + c] = (d * float(sc)) * float(u - 4);
    }
  }
}

void decode_iq4_xs_block(const uint8_t* block, int64_t i, float* out) {
  const float d = f16_to_f32(load_u16(block + 2 * i));
  for (int64_t g = 0; g < 8; ++g) {
    const float dl = d * float(int8_t(block[kIQ4XSScales + 16 * g + i]));
    const uint8_t* q = block + kIQ4XSQuants + kIQ4XSGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      out[32 * g + c] = dl * float(kIq4nlValues[(q[nibble_byte(i, c)] >> nibble_shift(c)) & 15]);
    }
  }
}

void decode_iq2_xxs_block(const uint8_t* block, int64_t i, float* out) {
  const float d = f16_to_f32(load_u16(block + 2 * i));
  for (int64_t g = 0; g < 8; ++g) {
    const float db = d * (0.5f + float(block[kIQ2XXSScales + 16 * g + i])) * 0.25f;
    const uint8_t* q = block + kIQ2XXSQuants + kIQ2XXSGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      const int64_t bit = 64 * (c / 4) + 4 * i + c % 4;
      const bool negative = (q[kIQ2XXSSigns + bit / 8] >> (bit % 8)) & 1;
      const int8_t value = iq_tables::kIq2xxsGrid[q[16 * (c / 8) + i]][c % 8];
      out[32 * g + c] = db * float(value) * (negative ? -1.0f : 1.0f);
    }
  }
}

// The grid index of columns 8l .. 8l + 7 of row i among a kIQ1S group's bytes q.
int iq1_s_index(const uint8_t* q, int64_t i, int64_t l) {
  return q[16 * l + i] | (((q[kIQ1SHigh + 16 * (l / 2) + i] >> (4 * (l % 2))) & 7) << 8);
}

void decode_iq1_s_block(const uint8_t* block, int64_t i, float* out) {
  const float d = f16_to_f32(load_u16(block + 2 * i));
  for (int64_t g = 0; g < 8; ++g) {
    const uint8_t sd = block[kIQ1SScales + 16 * g + i];
    const float dl = d * float(2 * (sd & 7) + 1);
    const float delta = sd & 8 ? -0.125f : 0.125f;
    const uint8_t* q = block + kIQ1SQuants + kIQ1SGroupBytes * g;
    for (int64_t c = 0; c < 32; ++c) {
      const int8_t value = iq_tables::kIq1sGrid[iq1_s_index(q, i, c / 8)][c % 8];
      out[32 * g + c] = dl * (float(value) + delta);
    }
  }
}

}  // namespace

bool is_kquant(WeightFormat f) { return kquant_block_bytes(f) != 0; }

int64_t kquant_block_bytes(WeightFormat f) {
  switch (f) {
    case WeightFormat::kQ4K: return kQ4KBlockBytes;
    case WeightFormat::kQ5K: return kQ5KBlockBytes;
    case WeightFormat::kQ6K: return kQ6KBlockBytes;
    case WeightFormat::kQ2K: return kQ2KBlockBytes;
    case WeightFormat::kQ3K: return kQ3KBlockBytes;
    case WeightFormat::kIQ4XS: return kIQ4XSBlockBytes;
    case WeightFormat::kIQ2XXS: return kIQ2XXSBlockBytes;
    case WeightFormat::kIQ1S: return kIQ1SBlockBytes;
    default: return 0;
  }
}

std::optional<WeightFormat> kquant_format_of(GgmlType t) {
  switch (t) {
    case GgmlType::kQ4_K: return WeightFormat::kQ4K;
    case GgmlType::kQ5_K: return WeightFormat::kQ5K;
    case GgmlType::kQ6_K: return WeightFormat::kQ6K;
    case GgmlType::kQ2_K: return WeightFormat::kQ2K;
    case GgmlType::kQ3_K: return WeightFormat::kQ3K;
    case GgmlType::kIQ4_XS: return WeightFormat::kIQ4XS;
    case GgmlType::kIQ2_XXS: return WeightFormat::kIQ2XXS;
    case GgmlType::kIQ1_S: return WeightFormat::kIQ1S;
    default: return std::nullopt;
  }
}

GgmlType kquant_source_type(WeightFormat f) {
  switch (f) {
    case WeightFormat::kQ4K: return GgmlType::kQ4_K;
    case WeightFormat::kQ5K: return GgmlType::kQ5_K;
    case WeightFormat::kQ6K: return GgmlType::kQ6_K;
    case WeightFormat::kQ2K: return GgmlType::kQ2_K;
    case WeightFormat::kQ3K: return GgmlType::kQ3_K;
    case WeightFormat::kIQ4XS: return GgmlType::kIQ4_XS;
    case WeightFormat::kIQ2XXS: return GgmlType::kIQ2_XXS;
    case WeightFormat::kIQ1S: return GgmlType::kIQ1_S;
    default: DSV3_CHECK(false, "%s is not a k-quant format", format_name(f).data());
  }
  return GgmlType::kF32;
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
      switch (*f) {
        case WeightFormat::kQ6K: pack_q6_k(src, i, block); break;
        case WeightFormat::kQ2K: pack_q2_k(src, i, block); break;
        case WeightFormat::kQ3K: pack_q3_k(src, i, block); break;
        case WeightFormat::kIQ4XS: pack_iq4_xs(src, i, block); break;
        case WeightFormat::kIQ2XXS: pack_iq2_xxs(src, i, block); break;
        case WeightFormat::kIQ1S: pack_iq1_s(src, i, block); break;
        default: pack_q4_or_q5_k(src, i, *f == WeightFormat::kQ5K, block); break;
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
    if (w.format == WeightFormat::kQ2K) {
      decode_q2_k_block(block, i, out);
      continue;
    }
    if (w.format == WeightFormat::kQ3K) {
      decode_q3_k_block(block, i, out);
      continue;
    }
    if (w.format == WeightFormat::kIQ4XS) {
      decode_iq4_xs_block(block, i, out);
      continue;
    }
    if (w.format == WeightFormat::kIQ2XXS) {
      decode_iq2_xxs_block(block, i, out);
      continue;
    }
    if (w.format == WeightFormat::kIQ1S) {
      decode_iq1_s_block(block, i, out);
      continue;
    }
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
