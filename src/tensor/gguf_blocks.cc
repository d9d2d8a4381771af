// Scalar decoders of ggml's block formats. Layouts follow ggml-common.h
// (block_q4_0, ...); the order of the float operations follows ggml's
// dequantize_row_* (and gguf-py's numpy port), so results are bit-identical: (d
// * scale) * q - (dmin * min), never fused.
#include "tensor/gguf_blocks.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "tensor/dtype.h"
#include "tensor/gguf_iq_grids.h"
#include "tensor/gguf_iquants.h"
#include "util/check.h"

namespace dsv3 {

namespace {

constexpr int64_t kQK = 32; // elements of a Q8_0 block

const GgmlTypeInfo kUnknown{"unknown", 1, 0, false};

// Indexed by file number; gaps (4, 5, 31-33, 36-38: removed types) are
// kUnknown.
const std::array<GgmlTypeInfo, 40> kTypes = [] {
  std::array<GgmlTypeInfo, 40> t;
  t.fill(kUnknown);
  t[0] = {"F32", 1, 4, true};
  t[1] = {"F16", 1, 2, true};
  t[2] = {"Q4_0", 32, 18, true};
  t[3] = {"Q4_1", 32, 20, true};
  t[6] = {"Q5_0", 32, 22, true};
  t[7] = {"Q5_1", 32, 24, true};
  t[8] = {"Q8_0", 32, 34, true};
  t[9] = {"Q8_1", 32, 36, false};
  t[10] = {"Q2_K", 256, 84, true};
  t[11] = {"Q3_K", 256, 110, true};
  t[12] = {"Q4_K", 256, 144, true};
  t[13] = {"Q5_K", 256, 176, true};
  t[14] = {"Q6_K", 256, 210, true};
  t[15] = {"Q8_K", 256, 292, false};
  t[16] = {"IQ2_XXS", 256, 66, true};
  t[17] = {"IQ2_XS", 256, 74, true};
  t[18] = {"IQ3_XXS", 256, 98, true};
  t[19] = {"IQ1_S", 256, 50, true};
  t[20] = {"IQ4_NL", 32, 18, true};
  t[21] = {"IQ3_S", 256, 110, true};
  t[22] = {"IQ2_S", 256, 82, true};
  t[23] = {"IQ4_XS", 256, 136, true};
  t[24] = {"I8", 1, 1, false};
  t[25] = {"I16", 1, 2, false};
  t[26] = {"I32", 1, 4, false};
  t[27] = {"I64", 1, 8, false};
  t[28] = {"F64", 1, 8, false};
  t[29] = {"IQ1_M", 256, 56, true};
  t[30] = {"BF16", 1, 2, true};
  t[34] = {"TQ1_0", 256, 54, false};
  t[35] = {"TQ2_0", 256, 66, false};
  t[39] = {"MXFP4", 32, 17, false};
  return t;
}();

float f16_at(const uint8_t *p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Q4_0: f16 d | 16 bytes; element j is the low nibble of byte j, element j+16
// the high one.
void decode_q4_0(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(int(b[2 + j] & 0xF) - 8);
    y[j + 16] = d * float(int(b[2 + j] >> 4) - 8);
  }
}

// Q4_1: f16 d | f16 m | 16 bytes of nibbles; x = d * q + m.
void decode_q4_1(const uint8_t *b, float *y) {
  const float d = f16_at(b), m = f16_at(b + 2);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(b[4 + j] & 0xF) + m;
    y[j + 16] = d * float(b[4 + j] >> 4) + m;
  }
}

// The fifth bit of the 32 elements of a Q5 block: bit j of the u32 qh.
uint32_t u32_at(const uint8_t *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Q5_0: f16 d | u32 qh | 16 bytes of nibbles; q in [0, 31], x = d * (q - 16).
void decode_q5_0(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  const uint32_t qh = u32_at(b + 2);
  const uint8_t *qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int lo = int((qs[j] & 0xF) | (((qh >> j) & 1u) << 4));
    const int hi = int((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
    y[j] = d * float(lo - 16);
    y[j + 16] = d * float(hi - 16);
  }
}

// Q5_1: f16 d | f16 m | u32 qh | 16 bytes of nibbles; x = d * q + m.
void decode_q5_1(const uint8_t *b, float *y) {
  const float d = f16_at(b), m = f16_at(b + 2);
  const uint32_t qh = u32_at(b + 4);
  const uint8_t *qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const uint32_t lo = (qs[j] & 0xF) | (((qh >> j) & 1u) << 4);
    const uint32_t hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
    y[j] = d * float(lo) + m;
    y[j + 16] = d * float(hi) + m;
  }
}

// Q8_0: f16 d | 32 int8.
void decode_q8_0(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  for (int j = 0; j < 32; ++j)
    y[j] = float(int8_t(b[2 + j])) * d;
}

// Q2_K: u8 scales[16] (low nibble scale, high nibble min) | qs[64] | f16 d |
// f16 dmin. Sub-block i of 16 elements: x = (d * scale_i) * q - (dmin * min_i),
// q 2 bits; the 2-bit fields of 128 elements are packed 4 per byte over 32
// bytes (shift 0, 2, 4, 6).
void decode_q2_k(const uint8_t *b, float *y) {
  const uint8_t *scales = b;
  const uint8_t *qs = b + 16;
  const float d = f16_at(b + 80), dmin = f16_at(b + 82);
  int sub = 0;
  for (int half = 0; half < 2; ++half) {
    const uint8_t *q = qs + 32 * half;
    for (int shift = 0; shift < 8; shift += 2) {
      for (int part = 0; part < 2; ++part, ++sub) {
        const float dl = d * float(scales[sub] & 0xF);
        const float ml = dmin * float(scales[sub] >> 4);
        for (int l = 0; l < 16; ++l)
          *y++ = dl * float((q[16 * part + l] >> shift) & 3) - ml;
      }
    }
  }
}

// Q3_K: hmask[32] | qs[64] | scales[12] (16 6-bit values, biased by 32) | f16
// d. q = low 2 bits from qs, minus 4 unless the hmask bit is set; x = (d *
// (scale - 32)) * q.
void decode_q3_k(const uint8_t *b, float *y) {
  const uint8_t *hmask = b;
  const uint8_t *qs = b + 32;
  const uint8_t *sc = b + 96;
  const float d = f16_at(b + 108);
  int scale[16];
  for (int i = 0; i < 16; ++i)
    scale[i] = q3_k_scale(i, sc);
  int sub = 0;
  uint8_t bit = 1;
  for (int half = 0; half < 2; ++half) {
    const uint8_t *q = qs + 32 * half;
    for (int shift = 0; shift < 8; shift += 2, bit = uint8_t(bit << 1)) {
      for (int part = 0; part < 2; ++part, ++sub) {
        const float dl = d * float(scale[sub]);
        for (int l = 0; l < 16; ++l) {
          const int i = 16 * part + l;
          const int v = int((q[i] >> shift) & 3) - ((hmask[i] & bit) ? 0 : 4);
          *y++ = dl * float(v);
        }
      }
    }
  }
}

} // namespace

int iq4_xs_scale(int j, const uint8_t *b) {
  uint16_t scales_h;
  std::memcpy(&scales_h, b + 2, 2);
  const int low = (b[4 + j / 2] >> (4 * (j % 2))) & 0xF;
  return (low | (((scales_h >> (2 * j)) & 3) << 4)) - 32;
}

int q3_k_scale(int i, const uint8_t *sc) {
  const int low = i < 8 ? (sc[i] & 0xF) : (sc[i - 8] >> 4);
  const int high = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
  return (low | (high << 4)) - 32;
}

void scale_min_k4(int j, const uint8_t *q, int &scale, int &min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

namespace {

// Q4_K: f16 d | f16 dmin | scales[12] | qs[128]; 8 sub-blocks of 32, x = (d*sc)
// q - (dmin*m). Each 64 elements use 32 bytes: low nibbles first, then high
// nibbles.
void decode_q4_k(const uint8_t *b, float *y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t *sc = b + 4;
  const uint8_t *q = b + 16;
  for (int j = 0; j < 8; j += 2, q += 32) {
    int s0, m0, s1, m1;
    scale_min_k4(j, sc, s0, m0);
    scale_min_k4(j + 1, sc, s1, m1);
    const float d0 = d * float(s0), dm0 = dmin * float(m0);
    const float d1 = d * float(s1), dm1 = dmin * float(m1);
    for (int l = 0; l < 32; ++l)
      *y++ = d0 * float(q[l] & 0xF) - dm0;
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * float(q[l] >> 4) - dm1;
  }
}

// Q5_K: as Q4_K plus qh[32] before qs[128]: bit (j) of qh[l] is the fifth bit
// of element l of sub-block j.
void decode_q5_k(const uint8_t *b, float *y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t *sc = b + 4;
  const uint8_t *qh = b + 16;
  const uint8_t *q = b + 48;
  for (int j = 0; j < 8; j += 2, q += 32) {
    int s0, m0, s1, m1;
    scale_min_k4(j, sc, s0, m0);
    scale_min_k4(j + 1, sc, s1, m1);
    const float d0 = d * float(s0), dm0 = dmin * float(m0);
    const float d1 = d * float(s1), dm1 = dmin * float(m1);
    for (int l = 0; l < 32; ++l) {
      *y++ = d0 * float((q[l] & 0xF) | (((qh[l] >> j) & 1) << 4)) - dm0;
    }
    for (int l = 0; l < 32; ++l) {
      *y++ = d1 * float((q[l] >> 4) | (((qh[l] >> (j + 1)) & 1) << 4)) - dm1;
    }
  }
}

// Q6_K: ql[128] | qh[64] | int8 scales[16] | f16 d; q = 6 bits - 32, x = (d *
// scale) * q.
void decode_q6_k(const uint8_t *b, float *y) {
  const uint8_t *ql = b;
  const uint8_t *qh = b + 128;
  const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192);
  const float d = f16_at(b + 208);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
    for (int l = 0; l < 32; ++l) {
      const int s = l / 16;
      const int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = (d * float(sc[s])) * float(q1);
      y[l + 32] = (d * float(sc[s + 2])) * float(q2);
      y[l + 64] = (d * float(sc[s + 4])) * float(q3);
      y[l + 96] = (d * float(sc[s + 6])) * float(q4);
    }
  }
}

// IQ4_NL: f16 d | 16 bytes of nibbles indexing kIq4nlValues (layout of Q4_0).
void decode_iq4_nl(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(kIq4nlValues[b[2 + j] & 0xF]);
    y[j + 16] = d * float(kIq4nlValues[b[2 + j] >> 4]);
  }
}

// IQ4_XS: f16 d | u16 scales_h | scales_l[4] | qs[128]; 8 sub-blocks of 32 with
// a 6-bit scale (4 low bits in scales_l, 2 high in scales_h) biased by 32.
void decode_iq4_xs(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  const uint8_t *qs = b + 8;
  for (int ib = 0; ib < 8; ++ib, qs += 16, y += 32) {
    const float dl = d * float(iq4_xs_scale(ib, b));
    for (int j = 0; j < 16; ++j) {
      y[j] = dl * float(kIq4nlValues[qs[j] & 0xF]);
      y[j + 16] = dl * float(kIq4nlValues[qs[j] >> 4]);
    }
  }
}

using BlockDecoder = void (*)(const uint8_t *, float *);

BlockDecoder block_decoder(GgmlType t) {
  switch (t) {
  case GgmlType::kQ4_0:
    return decode_q4_0;
  case GgmlType::kQ4_1:
    return decode_q4_1;
  case GgmlType::kQ5_0:
    return decode_q5_0;
  case GgmlType::kQ5_1:
    return decode_q5_1;
  case GgmlType::kQ8_0:
    return decode_q8_0;
  case GgmlType::kQ2_K:
    return decode_q2_k;
  case GgmlType::kQ3_K:
    return decode_q3_k;
  case GgmlType::kQ4_K:
    return decode_q4_k;
  case GgmlType::kQ5_K:
    return decode_q5_k;
  case GgmlType::kQ6_K:
    return decode_q6_k;
  case GgmlType::kIQ4_NL:
    return decode_iq4_nl;
  case GgmlType::kIQ4_XS:
    return decode_iq4_xs;
  case GgmlType::kIQ2_XXS:
    return iq::decode_iq2_xxs;
  case GgmlType::kIQ2_XS:
    return iq::decode_iq2_xs;
  case GgmlType::kIQ2_S:
    return iq::decode_iq2_s;
  case GgmlType::kIQ3_XXS:
    return iq::decode_iq3_xxs;
  case GgmlType::kIQ3_S:
    return iq::decode_iq3_s;
  case GgmlType::kIQ1_S:
    return iq::decode_iq1_s;
  case GgmlType::kIQ1_M:
    return iq::decode_iq1_m;
  default:
    return nullptr;
  }
}

} // namespace

std::optional<GgmlType> ggml_type_from_id(uint32_t id) {
  if (id >= kTypes.size() || kTypes[id].block_bytes == 0)
    return std::nullopt;
  return GgmlType(id);
}

const GgmlTypeInfo &ggml_type_info(GgmlType t) {
  const auto id = uint32_t(t);
  return id < kTypes.size() ? kTypes[id] : kUnknown;
}

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  for (uint32_t id = 0; id < kTypes.size(); ++id) {
    if (kTypes[id].block_bytes != 0 && kTypes[id].name == name)
      return GgmlType(id);
  }
  return std::nullopt;
}

void decode_ggml_row(GgmlType t, const uint8_t *src, int64_t n, float *out) {
  const GgmlTypeInfo &info = ggml_type_info(t);
  DSV3_CHECK(info.decodable, "decode_ggml_row: type %s has no decoder",
             std::string(info.name).c_str());
  DSV3_CHECK(n % info.block_elements == 0,
             "decode_ggml_row: %lld elements of %s", static_cast<long long>(n),
             std::string(info.name).c_str());
  switch (t) {
  case GgmlType::kF32:
    std::memcpy(out, src, size_t(n) * 4);
    return;
  case GgmlType::kF16:
    for (int64_t i = 0; i < n; ++i)
      out[i] = f16_at(src + 2 * i);
    return;
  case GgmlType::kBF16:
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = bf16_to_f32(h);
    }
    return;
  default:
    break;
  }
  const BlockDecoder decode = block_decoder(t);
  for (int64_t i = 0; i < n; i += info.block_elements) {
    decode(src, out + i);
    src += info.block_bytes;
  }
}

void encode_q8_0_row(const float *x, int64_t n, uint8_t *out) {
  DSV3_CHECK(n % kQK == 0, "encode_q8_0_row: %lld elements",
             static_cast<long long>(n));
  for (int64_t i = 0; i < n; i += kQK, x += kQK, out += 34) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j)
      amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = f32_to_f16(d);
    std::memcpy(out, &dh, 2);
    for (int j = 0; j < kQK; ++j)
      out[2 + j] = uint8_t(int8_t(std::lround(x[j] * id)));
  }
}

} // namespace dsv3

namespace dsv3 {

namespace {

void store_f16(uint8_t *p, float v) {
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}

// Q4_K (levels = 15) or Q5_K (31): f16 d | f16 dmin | scales[12] | (Q5_K: qh[32]) | qs[128].
void encode_q4_or_q5_k(const float *x, int64_t n, uint8_t *out, int levels) {
  const bool q5 = levels == 31;
  const int64_t block_bytes = q5 ? 176 : 144;
  for (int64_t i = 0; i < n; i += 256, x += 256, out += block_bytes) {
    // Per sub-block of 32: step and (non-negative) offset, so x ~ step q - offset.
    float step[8], offset[8], max_step = 0.0f, max_offset = 0.0f;
    for (int j = 0; j < 8; ++j) {
      float lo = 0.0f, hi = 0.0f;
      for (int l = 0; l < 32; ++l) {
        lo = std::fmin(lo, x[32 * j + l]);
        hi = std::fmax(hi, x[32 * j + l]);
      }
      step[j] = (hi - lo) / float(levels);
      offset[j] = -lo;
      max_step = std::fmax(max_step, step[j]);
      max_offset = std::fmax(max_offset, offset[j]);
    }
    store_f16(out, max_step / 63.0f);
    store_f16(out + 2, max_offset / 63.0f);
    const float d = f16_at(out), dmin = f16_at(out + 2);
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = d > 0 ? std::clamp(int(std::lround(step[j] / d)), 0, 63) : 0;
      m[j] = dmin > 0 ? std::clamp(int(std::lround(offset[j] / dmin)), 0, 63) : 0;
    }
    uint8_t *scales = out + 4;
    for (int j = 0; j < 4; ++j) {
      scales[j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
      scales[j + 4] = uint8_t((m[j] & 63) | ((m[j + 4] >> 4) << 6));
      scales[j + 8] = uint8_t((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
    uint8_t *qh = out + 16, *qs = out + (q5 ? 48 : 16);
    std::memset(out + 16, 0, size_t(block_bytes - 16));
    for (int j = 0; j < 8; ++j) {
      const float dl = d * float(sc[j]), ml = dmin * float(m[j]);
      for (int l = 0; l < 32; ++l) {
        const int q = dl > 0 ? std::clamp(int(std::lround((x[32 * j + l] + ml) / dl)), 0,
                                          levels)
                             : 0;
        qs[32 * (j / 2) + l] |= uint8_t((q & 15) << (j % 2 ? 4 : 0));
        if (q5)
          qh[l] |= uint8_t((q >> 4) << j);
      }
    }
  }
}

void encode_q6_k(const float *x, int64_t n, uint8_t *out) {
  for (int64_t i = 0; i < n; i += 256, x += 256, out += 210) {
    // Per sub-block of 16: x ~ step (q - 32), q in 0..63.
    float step[16], max_step = 0.0f;
    for (int s = 0; s < 16; ++s) {
      float amax = 0.0f;
      for (int l = 0; l < 16; ++l)
        amax = std::fmax(amax, std::fabs(x[16 * s + l]));
      step[s] = amax / 31.0f;
      max_step = std::fmax(max_step, step[s]);
    }
    store_f16(out + 208, max_step / 127.0f);
    const float d = f16_at(out + 208);
    std::memset(out, 0, 192);
    for (int s = 0; s < 16; ++s) {
      const int sc = d > 0 ? std::clamp(int(std::lround(step[s] / d)), -128, 127) : 0;
      out[192 + s] = uint8_t(int8_t(sc));
      const float dl = d * float(sc);
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * s + l;
        const int v =
            dl != 0 ? std::clamp(int(std::lround(x[e] / dl)) + 32, 0, 63) : 32;
        // Element e of half h, quarter k (32 elements each), position p: low
        // bits in ql[64 h + p + 32 (k & 1)] (high nibble for k >= 2), high bits
        // at 2k of qh[32 h + p].
        const int h = e / 128, k = (e % 128) / 32, p = e % 32;
        out[64 * h + p + 32 * (k & 1)] |= uint8_t((v & 15) << (k >= 2 ? 4 : 0));
        out[128 + 32 * h + p] |= uint8_t((v >> 4) << (2 * k));
      }
    }
  }
}

// Q2_K: per sub-block of 16, x ~ step q - offset with q in 0..3, step and offset as 4-bit
// multiples of d and dmin.
void encode_q2_k(const float *x, int64_t n, uint8_t *out) {
  for (int64_t i = 0; i < n; i += 256, x += 256, out += 84) {
    float step[16], offset[16], max_step = 0.0f, max_offset = 0.0f;
    for (int s = 0; s < 16; ++s) {
      float lo = 0.0f, hi = 0.0f;
      for (int l = 0; l < 16; ++l) {
        lo = std::fmin(lo, x[16 * s + l]);
        hi = std::fmax(hi, x[16 * s + l]);
      }
      step[s] = (hi - lo) / 3.0f;
      offset[s] = -lo;
      max_step = std::fmax(max_step, step[s]);
      max_offset = std::fmax(max_offset, offset[s]);
    }
    store_f16(out + 80, max_step / 15.0f);
    store_f16(out + 82, max_offset / 15.0f);
    const float d = f16_at(out + 80), dmin = f16_at(out + 82);
    std::memset(out + 16, 0, 64);
    for (int s = 0; s < 16; ++s) {
      const int sc = d > 0 ? std::clamp(int(std::lround(step[s] / d)), 0, 15) : 0;
      const int m = dmin > 0 ? std::clamp(int(std::lround(offset[s] / dmin)), 0, 15) : 0;
      out[s] = uint8_t(sc | (m << 4));
      const float dl = d * float(sc), ml = dmin * float(m);
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * s + l;
        const int q = dl > 0 ? std::clamp(int(std::lround((x[e] + ml) / dl)), 0, 3) : 0;
        // Element e: byte 32 (e / 128) + e % 32 of qs, bits 2 ((e % 128) / 32).
        out[16 + 32 * (e / 128) + e % 32] |= uint8_t(q << (2 * ((e % 128) / 32)));
      }
    }
  }
}

// Q3_K: per sub-block of 16, x ~ step v with v in -4..3, step a signed 6-bit multiple of d.
void encode_q3_k(const float *x, int64_t n, uint8_t *out) {
  for (int64_t i = 0; i < n; i += 256, x += 256, out += 110) {
    float step[16], max_step = 0.0f;
    for (int s = 0; s < 16; ++s) {
      float amax = 0.0f;
      for (int l = 0; l < 16; ++l)
        amax = std::fmax(amax, std::fabs(x[16 * s + l]));
      step[s] = amax / 4.0f;
      max_step = std::fmax(max_step, step[s]);
    }
    store_f16(out + 108, max_step / 31.0f);
    const float d = f16_at(out + 108);
    std::memset(out, 0, 108);
    uint8_t *hmask = out, *qs = out + 32, *scales = out + 96;
    for (int s = 0; s < 16; ++s) {
      const int sc = d > 0 ? std::clamp(int(std::lround(step[s] / d)), -32, 31) : 0;
      const int biased = sc + 32;
      scales[s % 8] |= uint8_t((biased & 15) << (s < 8 ? 0 : 4));
      scales[8 + s % 4] |= uint8_t((biased >> 4) << (2 * (s / 4)));
      const float dl = d * float(sc);
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * s + l;
        const int v = dl != 0 ? std::clamp(int(std::lround(x[e] / dl)), -4, 3) : 0;
        const int u = v + 4, shift = (e % 128) / 32;
        qs[32 * (e / 128) + e % 32] |= uint8_t((u & 3) << (2 * shift));
        hmask[e % 32] |= uint8_t((u >> 2) << (4 * (e / 128) + shift));
      }
    }
  }
}

// IQ4_XS: per sub-block of 32, x ~ step kIq4nlValues[u], step a signed 6-bit multiple of d
// whose sign puts the sub-block's largest |x| on the level -127 (the widest side).
void encode_iq4_xs(const float *x, int64_t n, uint8_t *out) {
  for (int64_t i = 0; i < n; i += 256, x += 256, out += 136) {
    float step[8], max_step = 0.0f;
    for (int j = 0; j < 8; ++j) {
      float extreme = 0.0f;
      for (int l = 0; l < 32; ++l) {
        if (std::fabs(x[32 * j + l]) > std::fabs(extreme))
          extreme = x[32 * j + l];
      }
      step[j] = -extreme / 127.0f;
      max_step = std::fmax(max_step, std::fabs(step[j]));
    }
    store_f16(out, max_step / 32.0f);
    const float d = f16_at(out);
    std::memset(out + 2, 0, 134);
    uint16_t scales_h = 0;
    for (int j = 0; j < 8; ++j) {
      const int sc = d > 0 ? std::clamp(int(std::lround(step[j] / d)), -32, 31) : 0;
      out[4 + j / 2] |= uint8_t(((sc + 32) & 15) << (4 * (j % 2)));
      scales_h |= uint16_t(((sc + 32) >> 4) << (2 * j));
      const float dl = d * float(sc);
      for (int l = 0; l < 32; ++l) {
        // The nearest level; element l of the sub-block is a low nibble, l + 16 a high one.
        int best = 0;
        for (int u = 1; u < 16; ++u) {
          if (std::fabs(x[32 * j + l] - dl * float(kIq4nlValues[u])) <
              std::fabs(x[32 * j + l] - dl * float(kIq4nlValues[best])))
            best = u;
        }
        out[8 + 16 * j + l % 16] |= uint8_t(best << (l < 16 ? 0 : 4));
      }
    }
    std::memcpy(out + 2, &scales_h, 2);
  }
}

// IQ2_XXS: per sub-block of 32, the step d (0.5 + ls) / 4 puts its largest |x| on the grid's
// largest value (43); each 8 weights take the grid entry nearest their magnitudes, signs as
// x's, except that the stored patterns need an even number of minus signs: where x has an odd
// number, the one sign whose flip costs least is flipped.
void encode_iq2_xxs(const float *x, int64_t n, uint8_t *out) {
  const auto &grid = iq_tables::kIq2xxsGrid;
  for (int64_t i = 0; i < n; i += 256, x += 256, out += 66) {
    float step[8], max_step = 0.0f;
    for (int j = 0; j < 8; ++j) {
      float amax = 0.0f;
      for (int l = 0; l < 32; ++l)
        amax = std::fmax(amax, std::fabs(x[32 * j + l]));
      step[j] = amax / 43.0f;
      max_step = std::fmax(max_step, step[j]);
    }
    store_f16(out, max_step / (15.5f * 0.25f));
    const float d = f16_at(out);
    for (int j = 0; j < 8; ++j) {
      const int ls =
          d > 0 ? std::clamp(int(std::lround(step[j] / (d * 0.25f) - 0.5f)), 0, 15) : 0;
      const float db = d * (0.5f + float(ls)) * 0.25f;
      uint8_t *sub = out + 2 + 8 * j;
      uint32_t aux = uint32_t(ls) << 28;
      for (int l = 0; l < 4; ++l) {
        const float *v = x + 32 * j + 8 * l;
        float a[8];
        int negatives = 0;
        for (int k = 0; k < 8; ++k) {
          a[k] = db > 0 ? std::fabs(v[k]) / db : 0.0f;
          negatives += v[k] < 0;
        }
        int best = 0, best_flip = -1;
        float best_err = INFINITY;
        for (int e = 0; e < 256; ++e) {
          float err = 0.0f, flip_cost = INFINITY;
          int flip = -1;
          for (int k = 0; k < 8; ++k) {
            err += (a[k] - grid[e][k]) * (a[k] - grid[e][k]);
            if (4.0f * a[k] * grid[e][k] < flip_cost) {
              flip_cost = 4.0f * a[k] * grid[e][k];
              flip = k;
            }
          }
          if (negatives % 2) err += flip_cost;
          if (err < best_err) {
            best_err = err;
            best = e;
            best_flip = negatives % 2 ? flip : -1;
          }
        }
        uint32_t signs = 0;
        for (int k = 0; k < 7; ++k)
          signs |= uint32_t((v[k] < 0) != (k == best_flip)) << k;
        sub[l] = uint8_t(best);
        aux |= signs << (7 * l);
      }
      std::memcpy(sub + 4, &aux, 4);
    }
  }
}

// The IQ1_S grid entry of each pattern of 8 values -1, 0, 1 (pattern sum 3^k (v_k + 1)), or
// -1 where the grid lacks it.
const std::array<int16_t, 6561> &iq1_s_entry_of_pattern() {
  static const std::array<int16_t, 6561> table = [] {
    std::array<int16_t, 6561> t;
    t.fill(-1);
    for (int e = 0; e < 2048; ++e) {
      int pattern = 0;
      for (int k = 7; k >= 0; --k)
        pattern = 3 * pattern + iq_tables::kIq1sGrid[e][k] + 1;
      t[size_t(pattern)] = int16_t(e);
    }
    return t;
  }();
  return table;
}

// The grid entry nearest target[0..7]: the values rounded one by one where the grid has that
// pattern, else by search (leaving an entry as soon as its error passes the best's).
int iq1_s_nearest(const float *target) {
  const auto &grid = iq_tables::kIq1sGrid;
  int pattern = 0;
  for (int k = 7; k >= 0; --k)
    pattern = 3 * pattern + std::clamp(int(std::lround(target[k])), -1, 1) + 1;
  if (const int e = iq1_s_entry_of_pattern()[size_t(pattern)]; e >= 0)
    return e;
  int best = 0;
  float best_err = INFINITY;
  for (int e = 0; e < 2048; ++e) {
    float err = 0.0f;
    for (int k = 0; k < 8 && err < best_err; ++k)
      err += (target[k] - grid[e][k]) * (target[k] - grid[e][k]);
    if (err < best_err) {
      best_err = err;
      best = e;
    }
  }
  return best;
}

// IQ1_S: per sub-block of 32, the step d (2 s + 1) puts its largest |x| on 1; the delta's sign
// is the sub-block mean's; each 8 weights take the grid entry (values -1, 0, 1) nearest
// x / step - delta.
void encode_iq1_s(const float *x, int64_t n, uint8_t *out) {
  for (int64_t i = 0; i < n; i += 256, x += 256, out += 50) {
    float step[8], max_step = 0.0f;
    for (int j = 0; j < 8; ++j) {
      float amax = 0.0f;
      for (int l = 0; l < 32; ++l)
        amax = std::fmax(amax, std::fabs(x[32 * j + l]));
      step[j] = amax;
      max_step = std::fmax(max_step, step[j]);
    }
    store_f16(out, max_step / 15.0f);
    const float d = f16_at(out);
    for (int j = 0; j < 8; ++j) {
      const int s =
          d > 0 ? std::clamp(int(std::lround((step[j] / d - 1.0f) / 2.0f)), 0, 7) : 0;
      const float dl = d * float(2 * s + 1);
      float mean = 0.0f;
      for (int l = 0; l < 32; ++l)
        mean += x[32 * j + l];
      const bool negative = mean < 0;
      const float delta = negative ? -0.125f : 0.125f;
      uint16_t qh = uint16_t(s << 12 | (negative ? 0x8000 : 0));
      for (int l = 0; l < 4; ++l) {
        float target[8];
        for (int k = 0; k < 8; ++k)
          target[k] = dl > 0 ? x[32 * j + 8 * l + k] / dl - delta : 0.0f;
        const int best = iq1_s_nearest(target);
        out[2 + 4 * j + l] = uint8_t(best);
        qh |= uint16_t((best >> 8) << (3 * l));
      }
      std::memcpy(out + 34 + 2 * j, &qh, 2);
    }
  }
}

} // namespace

void encode_kquant_row(GgmlType t, const float *x, int64_t n, uint8_t *out) {
  DSV3_CHECK(n % 256 == 0, "encode_kquant_row: %lld elements",
             static_cast<long long>(n));
  switch (t) {
  case GgmlType::kQ2_K:
    return encode_q2_k(x, n, out);
  case GgmlType::kQ3_K:
    return encode_q3_k(x, n, out);
  case GgmlType::kQ4_K:
    return encode_q4_or_q5_k(x, n, out, 15);
  case GgmlType::kQ5_K:
    return encode_q4_or_q5_k(x, n, out, 31);
  case GgmlType::kQ6_K:
    return encode_q6_k(x, n, out);
  case GgmlType::kIQ4_XS:
    return encode_iq4_xs(x, n, out);
  case GgmlType::kIQ2_XXS:
    return encode_iq2_xxs(x, n, out);
  case GgmlType::kIQ1_S:
    return encode_iq1_s(x, n, out);
  default:
    DSV3_CHECK(false, "encode_kquant_row of %s", ggml_type_name(t).data());
  }
}

} // namespace dsv3
