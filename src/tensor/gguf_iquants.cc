// Scalar decoders of ggml's i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
// IQ1_S, IQ1_M): groups of 8 (or 4) weights are one index into a grid of
// allowed value patterns (tensor/gguf_iq_grids.h), times a sign pattern and a
// sub-block scale. Layouts follow ggml-common.h (block_iq2_xxs, ...); the float
// operations follow ggml's dequantize_row_iq* in order, so the results are
// bit-identical to gguf-py's (tests/gguf/gguf_blocks_test.cc).
#include "tensor/gguf_iquants.h"

#include <cstring>

#include "tensor/dtype.h"
#include "tensor/gguf_iq_grids.h"

namespace dsv3::iq {

namespace {

using namespace iq_tables;

float f16_at(const uint8_t *p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
uint16_t u16_at(const uint8_t *p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t u32_at(const uint8_t *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// y[0..7] = db * grid[j] * (bit j of signs ? -1 : 1).
void put8(float db, const int8_t *grid, uint8_t signs, float *y) {
  for (int j = 0; j < 8; ++j)
    y[j] = db * float(grid[j]) * ((signs >> j) & 1 ? -1.0f : 1.0f);
}

} // namespace

// IQ2_XXS (66 bytes): f16 d | 8 x (u32 grid indices (4 bytes) | u32 signs 4 x 7
// bits, scale 4 bits).
void decode_iq2_xxs(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  for (int ib = 0; ib < 8; ++ib) {
    const uint8_t *q = b + 2 + 8 * ib;
    const uint32_t aux = u32_at(q + 4);
    const float db = d * (0.5f + float(aux >> 28)) * 0.25f;
    for (int l = 0; l < 4; ++l, y += 8)
      put8(db, kIq2xxsGrid[q[l]], kSignPatterns[(aux >> (7 * l)) & 127], y);
  }
}

// IQ2_XS (74 bytes): f16 d | u16 qs[32] (9-bit grid index, 7-bit sign pattern)
// | scales[8] (two 4-bit scales per 32 weights: low nibble for the first 16).
void decode_iq2_xs(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  const uint8_t *scales = b + 66;
  for (int ib = 0; ib < 8; ++ib) {
    const float db0 = d * (0.5f + float(scales[ib] & 0xF)) * 0.25f;
    const float db1 = d * (0.5f + float(scales[ib] >> 4)) * 0.25f;
    for (int l = 0; l < 4; ++l, y += 8) {
      const uint16_t q = u16_at(b + 2 + 2 * (4 * ib + l));
      put8(l < 2 ? db0 : db1, kIq2xsGrid[q & 511], kSignPatterns[q >> 9], y);
    }
  }
}

// IQ2_S (82 bytes): f16 d | qs[32] (low 8 bits of the grid index) | signs[32]
// (one bit per weight) | qh[8] (2 high index bits per group) | scales[8] (as
// IQ2_XS).
void decode_iq2_s(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  const uint8_t *qs = b + 2;
  const uint8_t *signs = b + 34;
  const uint8_t *qh = b + 66;
  const uint8_t *scales = b + 74;
  for (int ib = 0; ib < 8; ++ib) {
    const float db0 = d * (0.5f + float(scales[ib] & 0xF)) * 0.25f;
    const float db1 = d * (0.5f + float(scales[ib] >> 4)) * 0.25f;
    for (int l = 0; l < 4; ++l, y += 8) {
      const int g = 4 * ib + l;
      const int index = qs[g] | (((qh[ib] >> (2 * l)) & 3) << 8);
      put8(l < 2 ? db0 : db1, kIq2sGrid[index], signs[g], y);
    }
  }
}

// IQ3_XXS (98 bytes): f16 d | qs[64] (one grid index per 4 weights) | 8 x u32
// (4 x 7-bit sign patterns, 4-bit scale).
void decode_iq3_xxs(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  const uint8_t *qs = b + 2;
  for (int ib = 0; ib < 8; ++ib) {
    const uint32_t aux = u32_at(b + 66 + 4 * ib);
    const float db = d * (0.5f + float(aux >> 28)) * 0.5f;
    for (int l = 0; l < 4; ++l, y += 8) {
      const uint8_t s = kSignPatterns[(aux >> (7 * l)) & 127];
      const int8_t *g1 = kIq3xxsGrid[qs[8 * ib + 2 * l]];
      const int8_t *g2 = kIq3xxsGrid[qs[8 * ib + 2 * l + 1]];
      for (int j = 0; j < 4; ++j) {
        y[j] = db * float(g1[j]) * ((s >> j) & 1 ? -1.0f : 1.0f);
        y[j + 4] = db * float(g2[j]) * ((s >> (j + 4)) & 1 ? -1.0f : 1.0f);
      }
    }
  }
}

// IQ3_S (110 bytes): f16 d | qs[64] (low 8 index bits per 4 weights) | qh[8]
// (9th bits) | signs[32] (one bit per weight) | scales[4] (4-bit, per 32
// weights: d * (1 + 2 s)).
void decode_iq3_s(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  const uint8_t *qs = b + 2;
  const uint8_t *qh = b + 66;
  const uint8_t *signs = b + 74;
  const uint8_t *scales = b + 106;
  for (int ib = 0; ib < 8; ++ib) {
    const float db =
        d * float(1 + 2 * ((scales[ib / 2] >> (4 * (ib % 2))) & 0xF));
    for (int l = 0; l < 4; ++l, y += 8) {
      const int i1 = 8 * ib + 2 * l, i2 = i1 + 1;
      const int8_t *g1 =
          kIq3sGrid[qs[i1] | (((qh[i1 / 8] >> (i1 % 8)) & 1) << 8)];
      const int8_t *g2 =
          kIq3sGrid[qs[i2] | (((qh[i2 / 8] >> (i2 % 8)) & 1) << 8)];
      const uint8_t s = signs[4 * ib + l];
      for (int j = 0; j < 4; ++j) {
        y[j] = db * float(g1[j]) * ((s >> j) & 1 ? -1.0f : 1.0f);
        y[j + 4] = db * float(g2[j]) * ((s >> (j + 4)) & 1 ? -1.0f : 1.0f);
      }
    }
  }
}

// The shift IQ1_S / IQ1_M add to every grid value (ggml's IQ1S_DELTA).
constexpr float kIq1Delta = 0.125f;

// IQ1_S (50 bytes): f16 d | qs[32] (low 8 index bits) | u16 qh[8]: per 32
// weights 4 x 3 high index bits, a 3-bit scale (d * (2 s + 1)) and the sign of
// the delta (bit 15).
void decode_iq1_s(const uint8_t *b, float *y) {
  const float d = f16_at(b);
  const uint8_t *qs = b + 2;
  for (int ib = 0; ib < 8; ++ib) {
    const uint16_t qh = u16_at(b + 34 + 2 * ib);
    const float dl = d * float(2 * ((qh >> 12) & 7) + 1);
    const float delta = (qh & 0x8000) ? -kIq1Delta : kIq1Delta;
    for (int l = 0; l < 4; ++l, y += 8) {
      const int8_t *g =
          kIq1sGrid[qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)];
      for (int j = 0; j < 8; ++j)
        y[j] = dl * (float(g[j]) + delta);
    }
  }
}

// IQ1_M (56 bytes): qs[32] | qh[16] (per 8 weights a nibble: 3 high index bits,
// delta sign) | u16 scales[4] (per 16 weights a 3-bit scale; the f16 d is the
// four top nibbles).
void decode_iq1_m(const uint8_t *b, float *y) {
  const uint8_t *qs = b;
  const uint8_t *qh = b + 32;
  uint16_t sc[4];
  for (int k = 0; k < 4; ++k)
    sc[k] = u16_at(b + 48 + 2 * k);
  const uint16_t d_bits = uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) |
                                   ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
  const float d = f16_to_f32(d_bits);
  for (int g = 0; g < 32; ++g, y += 8) {
    const int half = g / 2; // 16 weights per scale
    const int s = (sc[half / 4] >> (3 * (half % 4))) & 7;
    const float dl = d * float(2 * s + 1);
    const uint8_t nibble = uint8_t((qh[g / 2] >> (4 * (g % 2))) & 0xF);
    const float delta = (nibble & 8) ? -kIq1Delta : kIq1Delta;
    const int8_t *grid = kIq1sGrid[qs[g] | ((nibble & 7) << 8)];
    for (int j = 0; j < 8; ++j)
      y[j] = dl * (float(grid[j]) + delta);
  }
}

} // namespace dsv3::iq
