// AVX-512 VNNI kernels of the int8-activation path for our q8 / q4 formats. Highway 1.0.3 has
// no integer dot-product ops, so these are intrinsics in functions compiled for the
// instructions they need, installed in the kernel table only when the CPU reports them.
//
// The tile layout (tensor/matrix.h) puts 4 columns of 16 rows in each 64-byte vector, so
// vpdpbusd(acc, weights, broadcast 4 activation bytes) adds 4 products to each of the 16 rows'
// sums: after a group of 32 columns the 16 int32 lanes are the rows' group dot products,
// scaled once per group with no horizontal additions. Weights are the unsigned operand (q8 is
// stored with zero point 128, q4 as 0..15), activations the signed one; the zero point / the
// group offset enter through the activation's precomputed scale * sum(q).
#include "kernels/dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/x86/cpu.h"
#include "kernels/x86/tile_lanes.h"

#include <algorithm>
#include <cstring>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and trip -Wmaybe-uninitialized
// once inlined (GCC PR 105593, fixed in 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace dsv3::kernels {
namespace {

using x86::first_n;

constexpr int kMaxTokens = 8;  // tokens per pass over a tile: 8 int + 8 float accumulators
// How far ahead tile_product fetches: ~4 KB, whole groups (12 of q4, 8 of q8). Measured by
// turns on bench-moe q4 decode: 1.3 KB ahead gave 46-64 tok/s, 3.8 KB 67-68; q8 (2.2 vs 4.3
// KB) showed no difference beyond the noise.
constexpr int64_t kPrefetchBytes = 3840;

// Same arithmetic as ref::quantize_activations (multiply by 127 / amax, round to nearest
// even), so both produce identical int8 values.
DSV3_TARGET_AVX512_VNNI void quantize_activations_avx512(const float* x, int64_t t0, int64_t t1,
                                                         const QuantizedActivations& out) {
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t g = 0; g < out.groups; ++g) {
      const int64_t c0 = g * kQuantGroup, len = std::min(kQuantGroup, out.cols - c0);
      const float* xg = x + t * out.cols + c0;
      const __m512 v0 = _mm512_maskz_loadu_ps(first_n(len), xg);
      const __m512 v1 = _mm512_maskz_loadu_ps(first_n(len - 16), xg + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      const __m512 inv = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, inv));
      const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, inv));
      const int64_t at = g * out.n + t;
      int8_t* q = out.q + at * kQuantGroup;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(q1));
      const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
      out.scale[at] = amax / 127.0f;
      out.scaled_sum[at] = amax / 127.0f * float(sum);
      out.q8_offset[at] = -128.0f * out.scaled_sum[at];
    }
  }
}

DSV3_TARGET_AVX512_VNNI inline __m512i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Sums of one group for kT tokens: s[t] = q . x over the group's 32 columns. With one or two
// tokens, even and odd column quads go to separate accumulators so the vpdpbusd latency
// chain is halved (decode is otherwise latency-bound here).
// xg: the group's activations of the first token; token t's follow at t * 32.
template <bool kQ8, int kT>
DSV3_TARGET_AVX512_VNNI inline void group_dots(const uint8_t* block, const int8_t* xg,
                                               __m512i* s) {
  constexpr bool kSplit = kT <= 2;
  __m512i s2[kT];
  for (int t = 0; t < kT; ++t) s[t] = s2[t] = _mm512_setzero_si512();
  if constexpr (kQ8) {
    const uint8_t* q = block + 2 * kQuantTileRows;
    for (int k = 0; k < 8; ++k) {
      const __m512i w = _mm512_loadu_si512(q + 64 * k);
      for (int t = 0; t < kT; ++t) {
        __m512i& acc = kSplit && (k & 1) ? s2[t] : s[t];
        acc = _mm512_dpbusd_epi32(acc, w, broadcast4(xg + t * kQuantGroup + 4 * k));
      }
    }
  } else {
    const uint8_t* q = block + 4 * kQuantTileRows;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    for (int k = 0; k < 4; ++k) {
      const __m512i v = _mm512_loadu_si512(q + 64 * k);
      const __m512i lo = _mm512_and_si512(v, low4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      for (int t = 0; t < kT; ++t) {
        s[t] = _mm512_dpbusd_epi32(s[t], lo, broadcast4(xg + t * kQuantGroup + 4 * k));
        __m512i& acc = kSplit ? s2[t] : s[t];
        acc = _mm512_dpbusd_epi32(acc, hi, broadcast4(xg + t * kQuantGroup + 16 + 4 * k));
      }
    }
  }
  if constexpr (kSplit) {
    for (int t = 0; t < kT; ++t) s[t] = _mm512_add_epi32(s[t], s2[t]);
  }
}

// One tile of 16 rows (starting at row r) times tokens [t0, t0 + kT).
template <bool kQ8, int kT>
DSV3_TARGET_AVX512_VNNI void tile_product(const Matrix& w, const uint8_t* tile,
                                          const QuantizedActivations& xq, int64_t t0, int64_t r,
                                          float* y) {
  const int64_t block_bytes = quant_block_bytes(w.format);
  const int64_t ahead = (kPrefetchBytes + block_bytes - 1) / block_bytes * block_bytes;
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  const float* offsets = kQ8 ? xq.q8_offset : xq.scaled_sum;
  for (int64_t g = 0; g < xq.groups; ++g) {
    const uint8_t* block = tile + g * block_bytes;
    // A tile is one sequential stream; fetching several groups ahead keeps more lines in flight
    // than the hardware prefetcher does across page boundaries.
    for (int64_t line = 0; line < block_bytes; line += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(block + ahead + line),
                   _MM_HINT_T0);
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block)));
    // Group-major activations: every token of this group at a fixed offset from one pointer.
    const int64_t at = g * xq.n + t0;
    __m512i s[kT];
    group_dots<kQ8, kT>(block, xq.q + at * kQuantGroup, s);
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) {
      const __m512 dot = _mm512_cvtepi32_ps(s[t]);
      const __m512 sx = _mm512_set1_ps(xq.scale[at + t]), off = _mm512_set1_ps(offsets[at + t]);
      if constexpr (kQ8) {
        // sum d (q - 128) x = d (sx dot - 128 sx sum(xq))
        acc[t] = _mm512_fmadd_ps(_mm512_fmadd_ps(dot, sx, off), d, acc[t]);
      } else {
        // sum (d u + m) x = d sx dot + m sx sum(xq)
        const __m512 m = _mm512_cvtph_ps(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2 * kQuantTileRows)));
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dot, sx), d, acc[t]);
        acc[t] = _mm512_fmadd_ps(m, off, acc[t]);
      }
    }
  }
  const __mmask16 rows = first_n(w.rows - r);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * w.rows + r, rows, acc[t]);
}

template <bool kQ8>
DSV3_TARGET_AVX512_VNNI void matmul_int8_avx512(const Matrix& w, const QuantizedActivations& xq,
                                                float* y, int64_t r0, int64_t r1) {
  const int64_t tile_bytes = kQuantTileRows * format_row_bytes(w.format, w.cols);
  for (int64_t r = r0; r < r1; r += kQuantTileRows) {
    const uint8_t* tile = w.data + (r / kQuantTileRows) * tile_bytes;
    for (int64_t t0 = 0; t0 < xq.n; t0 += kMaxTokens) {
      switch (std::min<int64_t>(kMaxTokens, xq.n - t0)) {
        case 1: tile_product<kQ8, 1>(w, tile, xq, t0, r, y); break;
        case 2: tile_product<kQ8, 2>(w, tile, xq, t0, r, y); break;
        case 3: tile_product<kQ8, 3>(w, tile, xq, t0, r, y); break;
        case 4: tile_product<kQ8, 4>(w, tile, xq, t0, r, y); break;
        case 5: tile_product<kQ8, 5>(w, tile, xq, t0, r, y); break;
        case 6: tile_product<kQ8, 6>(w, tile, xq, t0, r, y); break;
        case 7: tile_product<kQ8, 7>(w, tile, xq, t0, r, y); break;
        default: tile_product<kQ8, 8>(w, tile, xq, t0, r, y); break;
      }
    }
  }
}

}  // namespace

std::string detail::fill_x86_vnni(KernelTable& t) {
  std::string added;
  if (cpu_has_avx512_base() && __builtin_cpu_supports("avx512vnni")) {
    t.matmul_int8 = {&matmul_int8_avx512<true>, &matmul_int8_avx512<false>};
    t.quantize_activations = &quantize_activations_avx512;
    added += " +avx512vnni";
  }
  return added;
}

}  // namespace dsv3::kernels

#else  // not x86-64

namespace dsv3::kernels {
std::string detail::fill_x86_vnni(KernelTable&) { return ""; }
}  // namespace dsv3::kernels

#endif
