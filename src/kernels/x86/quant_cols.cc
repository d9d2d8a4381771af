// AVX-512 x^T W for our q8 / q4 tile formats with few tokens: the absorbed-MLA query
// q_c = W_uk^T q_nope of every head in decode. The generic path decodes each weight to a
// float panel and then adds it into the outputs (about 1.7 instructions per weight); this
// works on the tiles as stored.
//
// A 64-byte vector of a tile holds 4 columns of 16 rows (tensor/matrix.h), the rows in
// lanes. x^T W sums over rows, so each output column keeps a 16-lane accumulator (one lane
// per row of the tile) that every tile adds into, and its lanes are added up once at the
// end. Per vector: byte j of each lane is column 4k + j, taken out with a shift and a mask,
// converted, and multiplied by x[row] * d[row] (one vector per tile and group). The zero
// point (q8: 128) and the offset (q4: m) are the same for every column of a group, so they
// are summed once per group: -128 sum_r x d, or sum_r x m.
#include "kernels/dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/x86/cpu.h"
#include "kernels/x86/tile_lanes.h"

#include <algorithm>

#include "tensor/quant.h"

// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized once inlined (GCC PR 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace dsv3::kernels {
namespace {

using x86::byte_lanes;
using x86::first_n;
using x86::load_f16x16;

constexpr int kMaxTokens = 4;  // accumulators of a group: tokens x 32 columns x 16 lanes

// acc[t][c] += f * xd[t] for the column c = 4k + j of each byte j of v.
template <int kT>
DSV3_TARGET_AVX512 void add_quad(__m512i v, const __m512* xd, __m512 (*acc)[kQuantGroup], int c) {
  const __m512 f0 = byte_lanes<0>(v), f1 = byte_lanes<1>(v), f2 = byte_lanes<2>(v),
               f3 = byte_lanes<3>(v);
  for (int t = 0; t < kT; ++t) {
    acc[t][c] = _mm512_fmadd_ps(f0, xd[t], acc[t][c]);
    acc[t][c + 1] = _mm512_fmadd_ps(f1, xd[t], acc[t][c + 1]);
    acc[t][c + 2] = _mm512_fmadd_ps(f2, xd[t], acc[t][c + 2]);
    acc[t][c + 3] = _mm512_fmadd_ps(f3, xd[t], acc[t][c + 3]);
  }
}

// Columns of group g (those below c1) for tokens [t0, t0 + kT).
template <bool kQ8, int kT>
DSV3_TARGET_AVX512 void group_cols(const Matrix& w, const float* x, int64_t t0, int64_t g,
                                   int64_t c1, float* y) {
  const int64_t tile_bytes = kQuantTileRows * format_row_bytes(w.format, w.cols);
  const int64_t block_bytes = quant_block_bytes(w.format);
  alignas(64) __m512 acc[kT][kQuantGroup];
  __m512 offset[kT];  // per token: the group's zero-point / offset term, per row lane
  for (int t = 0; t < kT; ++t) {
    offset[t] = _mm512_setzero_ps();
    for (auto& a : acc[t]) a = _mm512_setzero_ps();
  }
  for (int64_t r = 0; r < w.rows; r += kQuantTileRows) {
    const uint8_t* block = w.data + (r / kQuantTileRows) * tile_bytes + g * block_bytes;
    const __mmask16 rows = first_n(w.rows - r);
    const __m512 d = load_f16x16(block);
    __m512 xd[kT];
    for (int t = 0; t < kT; ++t) {
      const __m512 xr = _mm512_maskz_loadu_ps(rows, x + (t0 + t) * w.rows + r);
      xd[t] = _mm512_mul_ps(xr, d);
      offset[t] = kQ8 ? _mm512_add_ps(offset[t], xd[t])
                      : _mm512_fmadd_ps(xr, load_f16x16(block + 2 * kQuantTileRows), offset[t]);
    }
    if constexpr (kQ8) {
      const uint8_t* q = block + 2 * kQuantTileRows;
      for (int k = 0; k < 8; ++k) add_quad<kT>(_mm512_loadu_si512(q + 64 * k), xd, acc, 4 * k);
    } else {
      const uint8_t* q = block + 4 * kQuantTileRows;
      const __m512i low4 = _mm512_set1_epi8(0x0f);
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_loadu_si512(q + 64 * k);
        add_quad<kT>(_mm512_and_si512(v, low4), xd, acc, 4 * k);
        add_quad<kT>(_mm512_and_si512(_mm512_srli_epi16(v, 4), low4), xd, acc, 16 + 4 * k);
      }
    }
  }
  const int64_t c0 = g * kQuantGroup, n = std::min(kQuantGroup, c1 - c0);
  for (int t = 0; t < kT; ++t) {
    const float common = (kQ8 ? -128.0f : 1.0f) * _mm512_reduce_add_ps(offset[t]);
    float* out = y + (t0 + t) * w.cols + c0;
    for (int64_t c = 0; c < n; ++c) out[c] = _mm512_reduce_add_ps(acc[t][c]) + common;
  }
}

// Columns [c0, c1) of y[n, cols] = x[n, rows] W; c0 is a multiple of 32 (whole groups).
template <bool kQ8>
DSV3_TARGET_AVX512 void quant_cols(const Matrix& w, const float* x, int64_t n, float* y,
                                   int64_t c0, int64_t c1) {
  for (int64_t g = c0 / kQuantGroup; g * kQuantGroup < c1; ++g) {
    for (int64_t t0 = 0; t0 < n; t0 += kMaxTokens) {
      switch (std::min<int64_t>(kMaxTokens, n - t0)) {
        case 1: group_cols<kQ8, 1>(w, x, t0, g, c1, y); break;
        case 2: group_cols<kQ8, 2>(w, x, t0, g, c1, y); break;
        case 3: group_cols<kQ8, 3>(w, x, t0, g, c1, y); break;
        default: group_cols<kQ8, 4>(w, x, t0, g, c1, y); break;
      }
    }
  }
}

}  // namespace

std::string detail::fill_x86_quant_cols(KernelTable& t) {
  if (!cpu_has_avx512_base()) {
    return "";
  }
  t.formats[int(WeightFormat::kQ8)].matmul_cols = &quant_cols<true>;
  t.formats[int(WeightFormat::kQ4)].matmul_cols = &quant_cols<false>;
  return "";  // plain AVX-512: nothing new to name in the target
}

}  // namespace dsv3::kernels

#else  // not x86-64

namespace dsv3::kernels {
std::string detail::fill_x86_quant_cols(KernelTable&) { return ""; }
}  // namespace dsv3::kernels

#endif
