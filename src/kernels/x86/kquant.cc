// AVX-512 VNNI int8-activation products of the GGUF k-quants kQ2K .. kQ6K and of kIQ4XS, kIQ2XXS,
// kIQ1S (tensor/kquant.h), the arithmetic of kernels/kquant.h. The tiles put 4 columns of 16 rows
// in each 64-byte vector, as our q4's do (kernels/x86/vnni.cc): vpdpbusd with 4 broadcast
// activation bytes gives the 16 rows' partial sums with no horizontal additions. The block scales
// are applied per group of 32 (Q2_K, Q3_K, Q6_K: per half group) as 16-lane vectors, converted once
// per group and shared by every token of the pass. IQ4_XS codes become their levels (plus 128)
// through a vpshufb table; IQ2_XXS grid indices become 2-bit codes of their 8 values through a
// register table (vpermi2w), spread into bytes by vpmultishiftqb and into magnitudes by vpshufb,
// their signs applied by a kmask; IQ1_S indices become codes through a table in memory, spread the
// same way.
#include "kernels/kquant.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/x86/cpu.h"
#include "kernels/x86/tile_lanes.h"
#include "tensor/gguf_iq_grids.h"
#include "tensor/kquant.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and trip -Wmaybe-uninitialized
// once inlined (GCC PR 105593, fixed in 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace dsv3::kernels {
namespace {

using x86::first_n;

// Tokens per pass over a tile: Q2_K / Q4_K / Q5_K / IQ4_XS / IQ2_XXS hold 2 kT int and kT float
// accumulators, Q3_K / Q6_K the same plus the unpacked high bits.
constexpr int kMaxTokensQ4K = 8;
constexpr int kMaxTokensQ6K = 6;
// How far ahead the tile stream is fetched (~4 KB, as our q4 kernel).
constexpr int64_t kPrefetchBytes = 4096;

DSV3_TARGET_AVX512_VNNI inline __m512i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// 16 f16 values (the rows of a tile) as floats.
DSV3_TARGET_AVX512_VNNI inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// 16 unsigned / signed bytes (the rows of a tile) as floats.
DSV3_TARGET_AVX512_VNNI inline __m512 load_u8x16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
DSV3_TARGET_AVX512_VNNI inline __m512 load_i8x16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

DSV3_TARGET_AVX512_VNNI inline void prefetch_block(const uint8_t* block, int64_t bytes) {
  for (int64_t line = 0; line < bytes; line += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetchBytes + line), _MM_HINT_T0);
  }
}

// The fifth bits of column quad k (0..3) of a Q5_K group, moved to bit 4 of each byte: for
// the low half (columns 4k..) from bit k, for the high half (16 + 4k..) from bit 4 + k.
template <int k>
DSV3_TARGET_AVX512_VNNI inline __m512i q5_high_low_half(__m512i h) {
  return _mm512_slli_epi16(h, 4 - k);
}
template <int k>
DSV3_TARGET_AVX512_VNNI inline __m512i q5_high_high_half(__m512i h) {
  if constexpr (k == 0) return h;
  return _mm512_srli_epi16(h, k);
}

// lo | (high & mask): the codes of 4 columns of 16 rows, with their upper bits.
DSV3_TARGET_AVX512_VNNI inline __m512i with_high_bits(__m512i lo, __m512i high, __m512i mask) {
  return _mm512_ternarylogic_epi32(lo, high, mask, 0xF8);  // A | (B & C)
}

// Quad k of a Q4_K / Q5_K group: codes of columns 4k.. (lo) and 16 + 4k.. (hi).
template <bool kQ5, int k, int kT>
DSV3_TARGET_AVX512_VNNI inline void q45k_quad(const uint8_t* q, __m512i h, const int8_t* x,
                                              __m512i* lo_sum, __m512i* hi_sum) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i v = _mm512_loadu_si512(q + 64 * k);
  __m512i lo = _mm512_and_si512(v, low4);
  __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
  if constexpr (kQ5) {
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    lo = with_high_bits(lo, q5_high_low_half<k>(h), bit4);
    hi = with_high_bits(hi, q5_high_high_half<k>(h), bit4);
  }
  for (int t = 0; t < kT; ++t) {
    lo_sum[t] = _mm512_dpbusd_epi32(lo_sum[t], lo, broadcast4(x + t * kQuantGroup + 4 * k));
    hi_sum[t] = _mm512_dpbusd_epi32(hi_sum[t], hi, broadcast4(x + t * kQuantGroup + 16 + 4 * k));
  }
}

// One Q4_K / Q5_K tile (16 rows from row r) times tokens [t0, t0 + kT).
template <bool kQ5, int kT>
DSV3_TARGET_AVX512_VNNI void q45k_tile(const uint8_t* tile, int64_t blocks,
                                       const QuantizedActivations& xq, int64_t t0, int64_t r,
                                       int64_t rows, float* y) {
  constexpr int64_t kBlockBytes = kQ5 ? kQ5KBlockBytes : kQ4KBlockBytes;
  constexpr int64_t kGroupBytes = kQ5 ? kQ5KGroupBytes : kQ4KGroupBytes;
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t s = 0; s < blocks; ++s) {
    const uint8_t* block = tile + s * kBlockBytes;
    prefetch_block(block, kBlockBytes);
    const __m512 d = load_f16x16(block), dmin = load_f16x16(block + kQ4KDmin);
    for (int64_t g = 0; g < 8; ++g) {
      const __m512 scale = _mm512_mul_ps(d, load_u8x16(block + kQ4KScales + 16 * g));
      const __m512 min = _mm512_mul_ps(dmin, load_u8x16(block + kQ4KMins + 16 * g));
      const uint8_t* q = block + kQ4KQuants + kGroupBytes * g;
      const int64_t at = (8 * s + g) * xq.n + t0;
      const int8_t* x = xq.q + at * kQuantGroup;
      __m512i lo_sum[kT], hi_sum[kT];
      for (int t = 0; t < kT; ++t) lo_sum[t] = hi_sum[t] = _mm512_setzero_si512();
      const __m512i h = kQ5 ? _mm512_loadu_si512(q + 256) : _mm512_setzero_si512();
      q45k_quad<kQ5, 0, kT>(q, h, x, lo_sum, hi_sum);
      q45k_quad<kQ5, 1, kT>(q, h, x, lo_sum, hi_sum);
      q45k_quad<kQ5, 2, kT>(q, h, x, lo_sum, hi_sum);
      q45k_quad<kQ5, 3, kT>(q, h, x, lo_sum, hi_sum);
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(lo_sum[t], hi_sum[t]));
        // (d sc) (sx dot) - (dmin m) (sx sum(xq))
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dot, _mm512_set1_ps(xq.scale[at + t])), scale,
                                 acc[t]);
        acc[t] = _mm512_fnmadd_ps(min, _mm512_set1_ps(xq.scaled_sum[at + t]), acc[t]);
      }
    }
  }
  const __mmask16 valid = first_n(rows - r);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + r, valid, acc[t]);
}

// The 2 high bits of column quad k (0..3) of a Q6_K half group, moved to bits 4..5 of each
// byte (the other bits are masked off by the caller).
template <int k>
DSV3_TARGET_AVX512_VNNI inline __m512i q6_high(__m512i h) {
  if constexpr (k == 0) return _mm512_slli_epi16(h, 4);
  if constexpr (k == 1) return _mm512_slli_epi16(h, 2);
  if constexpr (k == 2) return h;
  return _mm512_srli_epi16(h, 2);
}


template <int k, int kT>
DSV3_TARGET_AVX512_VNNI inline void q6k_quad(const uint8_t* q, __m512i h0, __m512i h1,
                                             const int8_t* x, __m512i* lo_sum, __m512i* hi_sum) {
  const __m512i low4 = _mm512_set1_epi8(0x0f), mask30 = _mm512_set1_epi8(0x30);
  const __m512i v = _mm512_loadu_si512(q + 64 * k);
  const __m512i lo = with_high_bits(_mm512_and_si512(v, low4), q6_high<k>(h0), mask30);
  const __m512i hi =
      with_high_bits(_mm512_and_si512(_mm512_srli_epi16(v, 4), low4), q6_high<k>(h1), mask30);
  for (int t = 0; t < kT; ++t) {
    lo_sum[t] = _mm512_dpbusd_epi32(lo_sum[t], lo, broadcast4(x + t * kQuantGroup + 4 * k));
    hi_sum[t] = _mm512_dpbusd_epi32(hi_sum[t], hi, broadcast4(x + t * kQuantGroup + 16 + 4 * k));
  }
}

// One Q6_K tile (16 rows from row r) times tokens [t0, t0 + kT). half_sums: the half groups'
// sx sum(xq) (detail::kquant_half_sums).
template <int kT>
DSV3_TARGET_AVX512_VNNI void q6k_tile(const uint8_t* tile, int64_t blocks,
                                      const QuantizedActivations& xq, const float* half_sums,
                                      int64_t t0, int64_t r, int64_t rows, float* y) {
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t s = 0; s < blocks; ++s) {
    const uint8_t* block = tile + s * kQ6KBlockBytes;
    prefetch_block(block, kQ6KBlockBytes);
    const __m512 d = load_f16x16(block);
    for (int64_t g = 0; g < 8; ++g) {
      const __m512 scale_lo = _mm512_mul_ps(d, load_i8x16(block + kQ6KScales + 32 * g));
      const __m512 scale_hi = _mm512_mul_ps(d, load_i8x16(block + kQ6KScales + 32 * g + 16));
      const uint8_t* q = block + kQ6KQuants + kQ6KGroupBytes * g;
      const __m512i h0 = _mm512_loadu_si512(q + 256), h1 = _mm512_loadu_si512(q + 320);
      const int64_t at = (8 * s + g) * xq.n + t0;
      const int8_t* x = xq.q + at * kQuantGroup;
      __m512i lo_sum[kT], hi_sum[kT];
      for (int t = 0; t < kT; ++t) lo_sum[t] = hi_sum[t] = _mm512_setzero_si512();
      q6k_quad<0, kT>(q, h0, h1, x, lo_sum, hi_sum);
      q6k_quad<1, kT>(q, h0, h1, x, lo_sum, hi_sum);
      q6k_quad<2, kT>(q, h0, h1, x, lo_sum, hi_sum);
      q6k_quad<3, kT>(q, h0, h1, x, lo_sum, hi_sum);
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        // (d sc_h) (sx dot_h - 32 sx sum_h(xq)) for both halves h
        const __m512 sx = _mm512_set1_ps(xq.scale[at + t]);
        const float* hs = half_sums + 2 * (at + t);
        const __m512 lo =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo_sum[t]), sx, _mm512_set1_ps(-32.0f * hs[0]));
        const __m512 hi =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi_sum[t]), sx, _mm512_set1_ps(-32.0f * hs[1]));
        acc[t] = _mm512_fmadd_ps(lo, scale_lo, acc[t]);
        acc[t] = _mm512_fmadd_ps(hi, scale_hi, acc[t]);
      }
    }
  }
  const __mmask16 valid = first_n(rows - r);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + r, valid, acc[t]);
}

// The third bit of column quad k (0..3) of a Q3_K group, moved to bit 2 of each byte: for
// the low half (columns 4k..) from bit k, for the high half (16 + 4k..) from bit 4 + k.
template <int k>
DSV3_TARGET_AVX512_VNNI inline __m512i q3_high_low_half(__m512i h) {
  if constexpr (k < 2) return _mm512_slli_epi16(h, 2 - k);
  if constexpr (k == 2) return h;
  return _mm512_srli_epi16(h, 1);
}
template <int k>
DSV3_TARGET_AVX512_VNNI inline __m512i q3_high_high_half(__m512i h) {
  return _mm512_srli_epi16(h, 2 + k);
}

// Quad k of a Q2_K / Q3_K group: the 2-bit codes of columns 4k.. (in l0, at bits 2k) and
// 16 + 4k.. (in l1), with Q3_K's third bits from h.
template <bool kQ3, int k, int kT>
DSV3_TARGET_AVX512_VNNI inline void q23k_quad(__m512i l0, __m512i l1, __m512i h, const int8_t* x,
                                              __m512i* lo_sum, __m512i* hi_sum) {
  const __m512i low2 = _mm512_set1_epi8(0x03);
  __m512i lo = _mm512_and_si512(_mm512_srli_epi16(l0, 2 * k), low2);
  __m512i hi = _mm512_and_si512(_mm512_srli_epi16(l1, 2 * k), low2);
  if constexpr (kQ3) {
    const __m512i bit2 = _mm512_set1_epi8(0x04);
    lo = with_high_bits(lo, q3_high_low_half<k>(h), bit2);
    hi = with_high_bits(hi, q3_high_high_half<k>(h), bit2);
  }
  for (int t = 0; t < kT; ++t) {
    lo_sum[t] = _mm512_dpbusd_epi32(lo_sum[t], lo, broadcast4(x + t * kQuantGroup + 4 * k));
    hi_sum[t] = _mm512_dpbusd_epi32(hi_sum[t], hi, broadcast4(x + t * kQuantGroup + 16 + 4 * k));
  }
}

// One Q2_K / Q3_K tile (16 rows from row r) times tokens [t0, t0 + kT). half_sums: the half
// groups' sx sum(xq) (detail::kquant_half_sums).
template <bool kQ3, int kT>
DSV3_TARGET_AVX512_VNNI void q23k_tile(const uint8_t* tile, int64_t blocks,
                                       const QuantizedActivations& xq, const float* half_sums,
                                       int64_t t0, int64_t r, int64_t rows, float* y) {
  constexpr int64_t kBlockBytes = kQ3 ? kQ3KBlockBytes : kQ2KBlockBytes;
  constexpr int64_t kGroupBytes = kQ3 ? kQ3KGroupBytes : kQ2KGroupBytes;
  constexpr int64_t kQuants = kQ3 ? kQ3KQuants : kQ2KQuants;
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t s = 0; s < blocks; ++s) {
    const uint8_t* block = tile + s * kBlockBytes;
    prefetch_block(block, kBlockBytes);
    const __m512 d = load_f16x16(block);
    for (int64_t g = 0; g < 8; ++g) {
      // The scales (and Q2_K's mins) of both half groups, 16 rows each.
      __m512 scale_lo, scale_hi, min_lo, min_hi;
      if constexpr (kQ3) {
        scale_lo = _mm512_mul_ps(d, load_i8x16(block + kQ3KScales + 32 * g));
        scale_hi = _mm512_mul_ps(d, load_i8x16(block + kQ3KScales + 32 * g + 16));
      } else {
        const __m512 dmin = load_f16x16(block + kQ2KDmin);
        const __m512i low4 = _mm512_set1_epi32(15);
        const uint8_t* sm = block + kQ2KScales + 32 * g;
        const __m512i sm_lo = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sm)));
        const __m512i sm_hi =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sm + 16)));
        scale_lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(sm_lo, low4)));
        scale_hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(sm_hi, low4)));
        min_lo = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(sm_lo, 4)));
        min_hi = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(sm_hi, 4)));
      }
      const uint8_t* q = block + kQuants + kGroupBytes * g;
      const __m512i l0 = _mm512_loadu_si512(q), l1 = _mm512_loadu_si512(q + 64);
      const __m512i h = kQ3 ? _mm512_loadu_si512(q + 128) : _mm512_setzero_si512();
      const int64_t at = (8 * s + g) * xq.n + t0;
      const int8_t* x = xq.q + at * kQuantGroup;
      __m512i lo_sum[kT], hi_sum[kT];
      for (int t = 0; t < kT; ++t) lo_sum[t] = hi_sum[t] = _mm512_setzero_si512();
      q23k_quad<kQ3, 0, kT>(l0, l1, h, x, lo_sum, hi_sum);
      q23k_quad<kQ3, 1, kT>(l0, l1, h, x, lo_sum, hi_sum);
      q23k_quad<kQ3, 2, kT>(l0, l1, h, x, lo_sum, hi_sum);
      q23k_quad<kQ3, 3, kT>(l0, l1, h, x, lo_sum, hi_sum);
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const __m512 sx = _mm512_set1_ps(xq.scale[at + t]);
        const float* hs = half_sums + 2 * (at + t);
        if constexpr (kQ3) {
          // (d sc_h) (sx dot_h - 4 sx sum_h(xq)) for both halves h
          const __m512 lo =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo_sum[t]), sx, _mm512_set1_ps(-4.0f * hs[0]));
          const __m512 hi =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi_sum[t]), sx, _mm512_set1_ps(-4.0f * hs[1]));
          acc[t] = _mm512_fmadd_ps(lo, scale_lo, acc[t]);
          acc[t] = _mm512_fmadd_ps(hi, scale_hi, acc[t]);
        } else {
          // (d sc_h) (sx dot_h) - (dmin m_h) (sx sum_h(xq)) for both halves h
          acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo_sum[t]), sx), scale_lo, acc[t]);
          acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi_sum[t]), sx), scale_hi, acc[t]);
          acc[t] = _mm512_fnmadd_ps(min_lo, _mm512_set1_ps(hs[0]), acc[t]);
          acc[t] = _mm512_fnmadd_ps(min_hi, _mm512_set1_ps(hs[1]), acc[t]);
        }
      }
    }
  }
  const __mmask16 valid = first_n(rows - r);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + r, valid, acc[t]);
}

// The IQ4_XS levels plus 128 (1..241: unsigned, vpdpbusd's weight operand) in every 128-bit
// lane, so vpshufb turns 4-bit codes into them.
DSV3_TARGET_AVX512_VNNI inline __m512i iq4xs_biased_levels() {
  alignas(16) uint8_t levels[16];
  for (int u = 0; u < 16; ++u) levels[u] = uint8_t(kIq4nlValues[u] + 128);
  return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(levels)));
}

// Quad k of an IQ4_XS group: the biased levels of columns 4k.. (lo) and 16 + 4k.. (hi).
template <int k, int kT>
DSV3_TARGET_AVX512_VNNI inline void iq4xs_quad(const uint8_t* q, __m512i levels, const int8_t* x,
                                               __m512i* lo_sum, __m512i* hi_sum) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i v = _mm512_loadu_si512(q + 64 * k);
  const __m512i lo = _mm512_shuffle_epi8(levels, _mm512_and_si512(v, low4));
  const __m512i hi = _mm512_shuffle_epi8(levels, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
  for (int t = 0; t < kT; ++t) {
    lo_sum[t] = _mm512_dpbusd_epi32(lo_sum[t], lo, broadcast4(x + t * kQuantGroup + 4 * k));
    hi_sum[t] = _mm512_dpbusd_epi32(hi_sum[t], hi, broadcast4(x + t * kQuantGroup + 16 + 4 * k));
  }
}

// One IQ4_XS tile (16 rows from row r) times tokens [t0, t0 + kT). The dot of the biased
// levels is the levels' plus 128 sum(xq), which xq.q8_offset (-128 sx sum(xq)) takes off.
template <int kT>
DSV3_TARGET_AVX512_VNNI void iq4xs_tile(const uint8_t* tile, int64_t blocks,
                                        const QuantizedActivations& xq, int64_t t0, int64_t r,
                                        int64_t rows, float* y) {
  const __m512i levels = iq4xs_biased_levels();
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t s = 0; s < blocks; ++s) {
    const uint8_t* block = tile + s * kIQ4XSBlockBytes;
    prefetch_block(block, kIQ4XSBlockBytes);
    const __m512 d = load_f16x16(block);
    for (int64_t g = 0; g < 8; ++g) {
      const __m512 scale = _mm512_mul_ps(d, load_i8x16(block + kIQ4XSScales + 16 * g));
      const uint8_t* q = block + kIQ4XSQuants + kIQ4XSGroupBytes * g;
      const int64_t at = (8 * s + g) * xq.n + t0;
      const int8_t* x = xq.q + at * kQuantGroup;
      __m512i lo_sum[kT], hi_sum[kT];
      for (int t = 0; t < kT; ++t) lo_sum[t] = hi_sum[t] = _mm512_setzero_si512();
      iq4xs_quad<0, kT>(q, levels, x, lo_sum, hi_sum);
      iq4xs_quad<1, kT>(q, levels, x, lo_sum, hi_sum);
      iq4xs_quad<2, kT>(q, levels, x, lo_sum, hi_sum);
      iq4xs_quad<3, kT>(q, levels, x, lo_sum, hi_sum);
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(lo_sum[t], hi_sum[t]));
        // (d sc) (sx dot_biased - 128 sx sum(xq))
        const __m512 sum = _mm512_fmadd_ps(dot, _mm512_set1_ps(xq.scale[at + t]),
                                           _mm512_set1_ps(xq.q8_offset[at + t]));
        acc[t] = _mm512_fmadd_ps(sum, scale, acc[t]);
      }
    }
  }
  const __mmask16 valid = first_n(rows - r);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + r, valid, acc[t]);
}

// IQ2_XXS and IQ1_S need VBMI too (vpmultishiftqb spreads a row's 2-bit grid codes into
// bytes).
#define DSV3_TARGET_AVX512_VNNI_VBMI \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,fma")))

// The IQ2_XXS grid as 16-bit codes: bits 2k .. 2k + 1 of entry e say which of the magnitudes
// 8, 25, 43 (0, 1, 2) value k of kIq2xxsGrid[e] is. 512 bytes: eight registers, so indices
// become codes by vpermi2w instead of gathers from memory (slow on this hardware class).
struct Iq2xxsCodes {
  alignas(64) uint16_t code[256];
};
constexpr Iq2xxsCodes iq2xxs_codes() {
  Iq2xxsCodes t{};
  for (int e = 0; e < 256; ++e) {
    for (int k = 0; k < 8; ++k) {
      const int v = iq_tables::kIq2xxsGrid[e][k];
      t.code[e] |= uint16_t((v == 8 ? 0 : v == 25 ? 1 : 2) << (2 * k));
    }
  }
  return t;
}
constexpr Iq2xxsCodes kIq2xxsCodes = iq2xxs_codes();

// The code table in registers: part[p] holds entries 32p .. 32p + 31.
struct Iq2xxsTable {
  __m512i part[8];
};
DSV3_TARGET_AVX512_VNNI_VBMI inline Iq2xxsTable iq2xxs_table() {
  Iq2xxsTable t;
  for (int p = 0; p < 8; ++p) t.part[p] = _mm512_load_si512(kIq2xxsCodes.code + 32 * p);
  return t;
}

// The codes of 32 grid indices (16-bit lanes, 0..255): one vpermi2w per 64 entries, then
// index bits 6 and 7 pick among the four.
DSV3_TARGET_AVX512_VNNI_VBMI inline __m512i iq2xxs_lookup(const Iq2xxsTable& t, __m512i index) {
  const __m512i r0 = _mm512_permutex2var_epi16(t.part[0], index, t.part[1]);
  const __m512i r1 = _mm512_permutex2var_epi16(t.part[2], index, t.part[3]);
  const __m512i r2 = _mm512_permutex2var_epi16(t.part[4], index, t.part[5]);
  const __m512i r3 = _mm512_permutex2var_epi16(t.part[6], index, t.part[7]);
  const __mmask32 bit6 = _mm512_test_epi16_mask(index, _mm512_set1_epi16(0x40));
  const __mmask32 bit7 = _mm512_test_epi16_mask(index, _mm512_set1_epi16(0x80));
  return _mm512_mask_blend_epi16(bit7, _mm512_mask_blend_epi16(bit6, r0, r1),
                                 _mm512_mask_blend_epi16(bit6, r2, r3));
}

// vpmultishiftqb control for half h of an 8-column chunk: byte 4 i' + j of each qword (rows
// 2q + i', whose codes sit at bits 32 i' of it) takes the code of column 4h + j.
DSV3_TARGET_AVX512_VNNI_VBMI inline __m512i iq2xxs_spread(int h) {
  uint64_t control = 0;
  for (int b = 0; b < 8; ++b) control |= uint64_t(32 * (b / 4) + 2 * (4 * h + b % 4)) << (8 * b);
  return _mm512_set1_epi64(int64_t(control));
}

// Quad k (columns 4k .. 4k + 3) of an IQ2_XXS group from its chunk's codes (row i's in dword
// i): the magnitudes plus 128, or 128 minus them where the sign bit is set (85..171, unsigned),
// into even (k even) or odd sums.
template <int k, int kT>
DSV3_TARGET_AVX512_VNNI_VBMI inline void iq2xxs_quad(const uint8_t* q, __m512i codes,
                                                     __m512i spread, const int8_t* x,
                                                     __m512i* even_sum, __m512i* odd_sum) {
  // 128 + 8, 128 + 25, 128 + 43 in every 128-bit lane.
  const __m512i magnitudes = _mm512_set4_epi32(0, 0, 0, 0x00ab9988);
  const __m512i code = _mm512_and_si512(_mm512_multishift_epi64_epi8(spread, codes),
                                        _mm512_set1_epi8(3));
  const __m512i positive = _mm512_shuffle_epi8(magnitudes, code);
  uint64_t sign_bits;
  std::memcpy(&sign_bits, q + kIQ2XXSSigns + 8 * k, 8);
  // 256 - (128 + v) = 128 - v where the sign bit is set.
  const __m512i w = _mm512_mask_sub_epi8(positive, _cvtu64_mask64(sign_bits),
                                         _mm512_setzero_si512(), positive);
  __m512i* sum = k % 2 ? odd_sum : even_sum;
  for (int t = 0; t < kT; ++t) {
    sum[t] = _mm512_dpbusd_epi32(sum[t], w, broadcast4(x + t * kQuantGroup + 4 * k));
  }
}

// Chunk l (columns 8l .. 8l + 7) of an IQ2_XXS group: its two quads.
template <int l, int kT>
DSV3_TARGET_AVX512_VNNI_VBMI inline void iq2xxs_chunk(const uint8_t* q, __m256i chunk_codes,
                                                      const __m512i* spread, const int8_t* x,
                                                      __m512i* even_sum, __m512i* odd_sum) {
  const __m512i codes = _mm512_cvtepu16_epi32(chunk_codes);
  iq2xxs_quad<2 * l, kT>(q, codes, spread[0], x, even_sum, odd_sum);
  iq2xxs_quad<2 * l + 1, kT>(q, codes, spread[1], x, even_sum, odd_sum);
}

// One IQ2_XXS tile (16 rows from row r) times tokens [t0, t0 + kT); q8_offset takes the bias
// of 128 off, as for IQ4_XS.
template <int kT>
DSV3_TARGET_AVX512_VNNI_VBMI void iq2xxs_tile(const uint8_t* tile, int64_t blocks,
                                              const QuantizedActivations& xq, int64_t t0,
                                              int64_t r, int64_t rows, float* y) {
  const Iq2xxsTable table = iq2xxs_table();
  const __m512i spread[2] = {iq2xxs_spread(0), iq2xxs_spread(1)};
  const __m512 half = _mm512_set1_ps(0.5f), quarter = _mm512_set1_ps(0.25f);
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t s = 0; s < blocks; ++s) {
    const uint8_t* block = tile + s * kIQ2XXSBlockBytes;
    prefetch_block(block, kIQ2XXSBlockBytes);
    const __m512 d = load_f16x16(block);
    for (int64_t g = 0; g < 8; ++g) {
      // d (0.5 + ls) 0.25, in the decoder's order.
      const __m512 ls = load_u8x16(block + kIQ2XXSScales + 16 * g);
      const __m512 scale = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_add_ps(half, ls)), quarter);
      const uint8_t* q = block + kIQ2XXSQuants + kIQ2XXSGroupBytes * g;
      const int64_t at = (8 * s + g) * xq.n + t0;
      const int8_t* x = xq.q + at * kQuantGroup;
      // Codes of chunks 0, 1 (words 0..15, 16..31) and 2, 3.
      const __m512i codes01 = iq2xxs_lookup(
          table, _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))));
      const __m512i codes23 = iq2xxs_lookup(
          table,
          _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32))));
      __m512i even_sum[kT], odd_sum[kT];
      for (int t = 0; t < kT; ++t) even_sum[t] = odd_sum[t] = _mm512_setzero_si512();
      iq2xxs_chunk<0, kT>(q, _mm512_castsi512_si256(codes01), spread, x, even_sum, odd_sum);
      iq2xxs_chunk<1, kT>(q, _mm512_extracti64x4_epi64(codes01, 1), spread, x, even_sum, odd_sum);
      iq2xxs_chunk<2, kT>(q, _mm512_castsi512_si256(codes23), spread, x, even_sum, odd_sum);
      iq2xxs_chunk<3, kT>(q, _mm512_extracti64x4_epi64(codes23, 1), spread, x, even_sum, odd_sum);
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(even_sum[t], odd_sum[t]));
        const __m512 sum = _mm512_fmadd_ps(dot, _mm512_set1_ps(xq.scale[at + t]),
                                           _mm512_set1_ps(xq.q8_offset[at + t]));
        acc[t] = _mm512_fmadd_ps(sum, scale, acc[t]);
      }
    }
  }
  const __mmask16 valid = first_n(rows - r);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + r, valid, acc[t]);
}

// The IQ1_S grid as 16-bit codes: bits 2k .. 2k + 1 of entry e hold value k of kIq1sGrid[e]
// plus 1 (0, 1, 2: unsigned, vpdpbusd's weight operand). 4 KB, too big for registers: the
// kernel gathers a dword at each code (its upper half the next code, which the spreading
// never reads), hence the padding.
struct Iq1sCodes {
  uint16_t code[2048 + 2];
};
constexpr Iq1sCodes iq1s_codes() {
  Iq1sCodes t{};
  for (int e = 0; e < 2048; ++e) {
    for (int k = 0; k < 8; ++k) t.code[e] |= uint16_t((iq_tables::kIq1sGrid[e][k] + 1) << (2 * k));
  }
  return t;
}
constexpr Iq1sCodes kIq1sCodes = iq1s_codes();

// Quad k (columns 4k .. 4k + 3) of an IQ1_S group from its chunk's codes (row i's in dword i):
// the grid values plus 1, into even (k even) or odd sums.
template <int k, int kT>
DSV3_TARGET_AVX512_VNNI_VBMI inline void iq1s_quad(__m512i codes, __m512i spread,
                                                   const int8_t* x, __m512i* even_sum,
                                                   __m512i* odd_sum) {
  const __m512i w = _mm512_and_si512(_mm512_multishift_epi64_epi8(spread, codes),
                                     _mm512_set1_epi8(3));
  __m512i* sum = k % 2 ? odd_sum : even_sum;
  for (int t = 0; t < kT; ++t) {
    sum[t] = _mm512_dpbusd_epi32(sum[t], w, broadcast4(x + t * kQuantGroup + 4 * k));
  }
}

// Chunk l (columns 8l .. 8l + 7) of an IQ1_S group: the 16 rows' grid indices (low byte, high
// 3 bits from a nibble), their codes gathered into dwords, and its two quads.
template <int l, int kT>
DSV3_TARGET_AVX512_VNNI_VBMI inline void iq1s_chunk(const uint8_t* q, const __m512i* spread,
                                                    const int8_t* x, __m512i* even_sum,
                                                    __m512i* odd_sum) {
  const __m512i low = _mm512_cvtepu8_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * l)));
  const __m512i high = _mm512_cvtepu8_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + kIQ1SHigh + 16 * (l / 2))));
  const __m512i index = _mm512_or_si512(
      low, _mm512_slli_epi32(
               _mm512_and_si512(_mm512_srli_epi32(high, 4 * (l % 2)), _mm512_set1_epi32(7)), 8));
  const __m512i codes = _mm512_i32gather_epi32(index, kIq1sCodes.code, 2);
  iq1s_quad<2 * l, kT>(codes, spread[0], x, even_sum, odd_sum);
  iq1s_quad<2 * l + 1, kT>(codes, spread[1], x, even_sum, odd_sum);
}

// One IQ1_S tile (16 rows from row r) times tokens [t0, t0 + kT). The dot of the values plus
// 1 is the values' plus sum(xq), so the group adds dl (delta - 1) sx sum(xq).
template <int kT>
DSV3_TARGET_AVX512_VNNI_VBMI void iq1s_tile(const uint8_t* tile, int64_t blocks,
                                            const QuantizedActivations& xq, int64_t t0,
                                            int64_t r, int64_t rows, float* y) {
  const __m512i spread[2] = {iq2xxs_spread(0), iq2xxs_spread(1)};
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t s = 0; s < blocks; ++s) {
    const uint8_t* block = tile + s * kIQ1SBlockBytes;
    prefetch_block(block, kIQ1SBlockBytes);
    const __m512 d = load_f16x16(block);
    for (int64_t g = 0; g < 8; ++g) {
      const __m512i sd = _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kIQ1SScales + 16 * g)));
      // d (2 s + 1), and delta - 1 (-7/8, or -9/8 where the delta is negative).
      const __m512i odd = _mm512_add_epi32(
          _mm512_slli_epi32(_mm512_and_si512(sd, _mm512_set1_epi32(7)), 1), _mm512_set1_epi32(1));
      const __m512 dl = _mm512_mul_ps(d, _mm512_cvtepi32_ps(odd));
      const __m512 offset =
          _mm512_mask_blend_ps(_mm512_test_epi32_mask(sd, _mm512_set1_epi32(8)),
                               _mm512_set1_ps(-0.875f), _mm512_set1_ps(-1.125f));
      const uint8_t* q = block + kIQ1SQuants + kIQ1SGroupBytes * g;
      const int64_t at = (8 * s + g) * xq.n + t0;
      const int8_t* x = xq.q + at * kQuantGroup;
      __m512i even_sum[kT], odd_sum[kT];
      for (int t = 0; t < kT; ++t) even_sum[t] = odd_sum[t] = _mm512_setzero_si512();
      iq1s_chunk<0, kT>(q, spread, x, even_sum, odd_sum);
      iq1s_chunk<1, kT>(q, spread, x, even_sum, odd_sum);
      iq1s_chunk<2, kT>(q, spread, x, even_sum, odd_sum);
      iq1s_chunk<3, kT>(q, spread, x, even_sum, odd_sum);
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(even_sum[t], odd_sum[t]));
        // sx dot_biased + (delta - 1) sx sum(xq)
        const __m512 sum = _mm512_fmadd_ps(dot, _mm512_set1_ps(xq.scale[at + t]),
                                           _mm512_mul_ps(offset,
                                                         _mm512_set1_ps(xq.scaled_sum[at + t])));
        acc[t] = _mm512_fmadd_ps(sum, dl, acc[t]);
      }
    }
  }
  const __mmask16 valid = first_n(rows - r);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + r, valid, acc[t]);
}

// The IQ2_XXS / IQ1_S products: kquant_int8_avx512's loop, compiled with VBMI.
template <bool kIQ1>
DSV3_TARGET_AVX512_VNNI_VBMI void iq_int8_avx512(const Matrix& w, const QuantizedActivations& xq,
                                                 float* y, int64_t r0, int64_t r1) {
  const int64_t blocks = w.cols / kKQuantSuperBlock;
  const int64_t tile_bytes = blocks * (kIQ1 ? kIQ1SBlockBytes : kIQ2XXSBlockBytes);
  for (int64_t r = r0; r < r1; r += kQuantTileRows) {
    const uint8_t* tile = w.data + (r / kQuantTileRows) * tile_bytes;
    for (int64_t t0 = 0; t0 < xq.n;) {
      const int64_t n = std::min<int64_t>(kMaxTokensQ4K, xq.n - t0);
      auto pass = [&]<int kT>() {
        if constexpr (kIQ1) {
          iq1s_tile<kT>(tile, blocks, xq, t0, r, w.rows, y);
        } else {
          iq2xxs_tile<kT>(tile, blocks, xq, t0, r, w.rows, y);
        }
      };
      switch (n) {
        case 1: pass.template operator()<1>(); break;
        case 2: pass.template operator()<2>(); break;
        case 3: pass.template operator()<3>(); break;
        case 4: pass.template operator()<4>(); break;
        case 5: pass.template operator()<5>(); break;
        case 6: pass.template operator()<6>(); break;
        case 7: pass.template operator()<7>(); break;
        default: pass.template operator()<8>(); break;
      }
      t0 += n;
    }
  }
}

// The half-group sums sx sum_h(xq) of every token (the Q2_K mins' and the Q3_K / Q6_K zero
// points' operand), per call (a call covers many tiles, so this costs a few percent of its
// work at most).
DSV3_TARGET_AVX512_VNNI void half_sums_avx512(const QuantizedActivations& xq, float* out) {
  const __m256i bias = _mm256_set1_epi8(char(0x80));
  for (int64_t at = 0; at < xq.groups * xq.n; ++at) {
    // |x + 128| sums of 8 bytes each, minus 8 * 128.
    const __m256i v = _mm256_xor_si256(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq.q + at * kQuantGroup)), bias);
    const __m256i sad = _mm256_sad_epu8(v, _mm256_setzero_si256());
    alignas(32) int64_t part[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(part), sad);
    const float sx = xq.scale[at];
    out[2 * at] = sx * float(int32_t(part[0] + part[1]) - 16 * 128);
    out[2 * at + 1] = sx * float(int32_t(part[2] + part[3]) - 16 * 128);
  }
}

template <WeightFormat kF>
DSV3_TARGET_AVX512_VNNI void kquant_int8_avx512(const Matrix& w, const QuantizedActivations& xq,
                                                float* y, int64_t r0, int64_t r1) {
  constexpr bool kQ6 = kF == WeightFormat::kQ6K, kQ5 = kF == WeightFormat::kQ5K;
  constexpr bool kQ2 = kF == WeightFormat::kQ2K, kQ3 = kF == WeightFormat::kQ3K;
  constexpr bool kIQ4 = kF == WeightFormat::kIQ4XS;
  const int64_t blocks = w.cols / kKQuantSuperBlock;
  const int64_t tile_bytes = blocks * kquant_block_bytes(kF);
  float* half_sums = nullptr;
  if constexpr (kQ2 || kQ3 || kQ6) {
    half_sums = detail::thread_scratch(3, size_t(2 * xq.groups * xq.n));
    half_sums_avx512(xq, half_sums);
  }
  for (int64_t r = r0; r < r1; r += kQuantTileRows) {
    const uint8_t* tile = w.data + (r / kQuantTileRows) * tile_bytes;
    for (int64_t t0 = 0; t0 < xq.n;) {
      if constexpr (kIQ4) {
        const int64_t n = std::min<int64_t>(kMaxTokensQ4K, xq.n - t0);
        switch (n) {
          case 1: iq4xs_tile<1>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 2: iq4xs_tile<2>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 3: iq4xs_tile<3>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 4: iq4xs_tile<4>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 5: iq4xs_tile<5>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 6: iq4xs_tile<6>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 7: iq4xs_tile<7>(tile, blocks, xq, t0, r, w.rows, y); break;
          default: iq4xs_tile<8>(tile, blocks, xq, t0, r, w.rows, y); break;
        }
        t0 += n;
      } else if constexpr (kQ2) {
        const int64_t n = std::min<int64_t>(kMaxTokensQ4K, xq.n - t0);
        switch (n) {
          case 1: q23k_tile<false, 1>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 2: q23k_tile<false, 2>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 3: q23k_tile<false, 3>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 4: q23k_tile<false, 4>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 5: q23k_tile<false, 5>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 6: q23k_tile<false, 6>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 7: q23k_tile<false, 7>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          default: q23k_tile<false, 8>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
        }
        t0 += n;
      } else if constexpr (kQ3) {
        const int64_t n = std::min<int64_t>(kMaxTokensQ6K, xq.n - t0);
        switch (n) {
          case 1: q23k_tile<true, 1>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 2: q23k_tile<true, 2>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 3: q23k_tile<true, 3>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 4: q23k_tile<true, 4>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 5: q23k_tile<true, 5>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          default: q23k_tile<true, 6>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
        }
        t0 += n;
      } else if constexpr (!kQ6) {
        const int64_t n = std::min<int64_t>(kMaxTokensQ4K, xq.n - t0);
        switch (n) {
          case 1: q45k_tile<kQ5, 1>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 2: q45k_tile<kQ5, 2>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 3: q45k_tile<kQ5, 3>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 4: q45k_tile<kQ5, 4>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 5: q45k_tile<kQ5, 5>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 6: q45k_tile<kQ5, 6>(tile, blocks, xq, t0, r, w.rows, y); break;
          case 7: q45k_tile<kQ5, 7>(tile, blocks, xq, t0, r, w.rows, y); break;
          default: q45k_tile<kQ5, 8>(tile, blocks, xq, t0, r, w.rows, y); break;
        }
        t0 += n;
      } else {
        const int64_t n = std::min<int64_t>(kMaxTokensQ6K, xq.n - t0);
        switch (n) {
          case 1: q6k_tile<1>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 2: q6k_tile<2>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 3: q6k_tile<3>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 4: q6k_tile<4>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          case 5: q6k_tile<5>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
          default: q6k_tile<6>(tile, blocks, xq, half_sums, t0, r, w.rows, y); break;
        }
        t0 += n;
      }
    }
  }
}

}  // namespace

std::string detail::fill_x86_kquant(KernelTable& t) {
  if (!cpu_has_avx512_base() || !__builtin_cpu_supports("avx512vnni")) return "";
  t.formats[int(WeightFormat::kQ4K)].matmul_int8 = &kquant_int8_avx512<WeightFormat::kQ4K>;
  t.formats[int(WeightFormat::kQ5K)].matmul_int8 = &kquant_int8_avx512<WeightFormat::kQ5K>;
  t.formats[int(WeightFormat::kQ6K)].matmul_int8 = &kquant_int8_avx512<WeightFormat::kQ6K>;
  t.formats[int(WeightFormat::kQ2K)].matmul_int8 = &kquant_int8_avx512<WeightFormat::kQ2K>;
  t.formats[int(WeightFormat::kQ3K)].matmul_int8 = &kquant_int8_avx512<WeightFormat::kQ3K>;
  t.formats[int(WeightFormat::kIQ4XS)].matmul_int8 = &kquant_int8_avx512<WeightFormat::kIQ4XS>;
  // Without VBMI (Cascade Lake) IQ2_XXS and IQ1_S take the float path.
  if (__builtin_cpu_supports("avx512vbmi")) {
    t.formats[int(WeightFormat::kIQ2XXS)].matmul_int8 = &iq_int8_avx512<false>;
    t.formats[int(WeightFormat::kIQ1S)].matmul_int8 = &iq_int8_avx512<true>;
  }
  return " +kquant";
}

}  // namespace dsv3::kernels

#else  // not x86-64

namespace dsv3::kernels {
std::string detail::fill_x86_kquant(KernelTable&) { return ""; }
}  // namespace dsv3::kernels

#endif
