// AVX-512 W x for our q8 / q4 tile formats with float32 activations and few tokens (decode with
// MatmulOptions::int8_activations off). The generic path decodes each row to a float panel
// first; this works on the tiles as stored.
//
// A 64-byte vector of a tile holds 4 columns of 16 rows (tensor/matrix.h), the rows in lanes:
// byte j of every lane is column 4k + j of its row. Taken out with a shift and a mask and
// converted, it multiplies the broadcast activation of that column into a 16-row accumulator,
// so no horizontal sums are needed. A group's sums are scaled once by the rows' d; the zero
// point (q8: 128) and the offset (q4: m) multiply the group's sum of activations.
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

// How far ahead the tile stream is fetched, as in x86/vnni.cc.
constexpr int64_t kPrefetchBytes = 3840;

// s[t] += q[row][c + j] * x[t][c + j] for the 4 columns c + j of the quad v, every row a lane.
// x: the first token's activations at column c; token t's follow `stride` floats apart.
template <int kT>
DSV3_TARGET_AVX512 void add_quad(__m512i v, const float* x, int64_t stride, __m512* s) {
  const __m512 f[4] = {byte_lanes<0>(v), byte_lanes<1>(v), byte_lanes<2>(v), byte_lanes<3>(v)};
  for (int t = 0; t < kT; ++t) {
    for (int j = 0; j < 4; ++j) s[t] = _mm512_fmadd_ps(f[j], _mm512_set1_ps(x[t * stride + j]), s[t]);
  }
}

// Rows [r, r + 16) of one tile for kT tokens. xp: the tokens' activations padded with zeros to
// whole groups (token t at t * stride); xsum[t * groups + g]: their sum over group g.
template <bool kQ8, int kT>
DSV3_TARGET_AVX512 void tile_rows(const Matrix& w, const uint8_t* tile, const float* xp,
                                  int64_t stride, const float* xsum, int64_t r, float* y,
                                  int64_t t0) {
  const int64_t groups = stride / kQuantGroup, block_bytes = quant_block_bytes(w.format);
  const int64_t ahead = (kPrefetchBytes + block_bytes - 1) / block_bytes * block_bytes;
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* block = tile + g * block_bytes;
    for (int64_t line = 0; line < block_bytes; line += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(block + ahead + line), _MM_HINT_T0);
    }
    const float* xg = xp + g * kQuantGroup;
    __m512 s[kT];
    for (int t = 0; t < kT; ++t) s[t] = _mm512_setzero_ps();
    if constexpr (kQ8) {
      const uint8_t* q = block + 2 * kQuantTileRows;
      for (int k = 0; k < 8; ++k) {
        add_quad<kT>(_mm512_loadu_si512(q + 64 * k), xg + 4 * k, stride, s);
      }
    } else {
      const uint8_t* q = block + 4 * kQuantTileRows;
      const __m512i low4 = _mm512_set1_epi8(0x0f);
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_loadu_si512(q + 64 * k);
        add_quad<kT>(_mm512_and_si512(v, low4), xg + 4 * k, stride, s);
        add_quad<kT>(_mm512_and_si512(_mm512_srli_epi16(v, 4), low4), xg + 16 + 4 * k, stride, s);
      }
    }
    const __m512 d = load_f16x16(block);
    for (int t = 0; t < kT; ++t) {
      const __m512 sum_x = _mm512_set1_ps(xsum[t * groups + g]);
      if constexpr (kQ8) {
        // sum d (q - 128) x = d (sum q x - 128 sum x)
        s[t] = _mm512_fmadd_ps(sum_x, _mm512_set1_ps(-128.0f), s[t]);
        acc[t] = _mm512_fmadd_ps(s[t], d, acc[t]);
      } else {
        // sum (d u + m) x = d sum u x + m sum x
        acc[t] = _mm512_fmadd_ps(s[t], d, acc[t]);
        acc[t] = _mm512_fmadd_ps(load_f16x16(block + 2 * kQuantTileRows), sum_x, acc[t]);
      }
    }
  }
  const __mmask16 rows = first_n(w.rows - r);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * w.rows + r, rows, acc[t]);
}

// Rows [r0, r1) of y[n, w.rows] = x[n, w.cols] W^T, n <= detail::kMatvecMaxTokens; r0 is a
// multiple of 16.
template <bool kQ8>
DSV3_TARGET_AVX512 void quant_rows(const Matrix& w, const float* x, int64_t n, float* y,
                                   int64_t r0, int64_t r1) {
  const int64_t groups = (w.cols + kQuantGroup - 1) / kQuantGroup, stride = groups * kQuantGroup;
  float* xp = detail::thread_scratch(0, size_t(n * (stride + groups)));
  float* xsum = xp + n * stride;
  for (int64_t t = 0; t < n; ++t) {
    std::copy_n(x + t * w.cols, w.cols, xp + t * stride);
    std::fill(xp + t * stride + w.cols, xp + (t + 1) * stride, 0.0f);
    for (int64_t g = 0; g < groups; ++g) {
      const float* xg = xp + t * stride + g * kQuantGroup;
      const __m512 v = _mm512_add_ps(_mm512_loadu_ps(xg), _mm512_loadu_ps(xg + 16));
      xsum[t * groups + g] = _mm512_reduce_add_ps(v);
    }
  }
  const int64_t tile_bytes = kQuantTileRows * format_row_bytes(w.format, w.cols);
  for (int64_t r = r0; r < r1; r += kQuantTileRows) {
    const uint8_t* tile = w.data + (r / kQuantTileRows) * tile_bytes;
    for (int64_t t0 = 0; t0 < n; t0 += 2) {
      // Two tokens per pass keep the accumulators and broadcasts in registers.
      if (n - t0 >= 2) {
        tile_rows<kQ8, 2>(w, tile, xp + t0 * stride, stride, xsum + t0 * groups, r, y, t0);
      } else {
        tile_rows<kQ8, 1>(w, tile, xp + t0 * stride, stride, xsum + t0 * groups, r, y, t0);
      }
    }
  }
}

}  // namespace

std::string detail::fill_x86_quant_rows(KernelTable& t) {
  if (!cpu_has_avx512_base()) return "";
  t.formats[int(WeightFormat::kQ8)].matvec_rows = &quant_rows<true>;
  t.formats[int(WeightFormat::kQ4)].matvec_rows = &quant_rows<false>;
  return "";  // plain AVX-512: nothing new to name in the target
}

}  // namespace dsv3::kernels

#else  // not x86-64

namespace dsv3::kernels {
std::string detail::fill_x86_quant_rows(KernelTable&) { return ""; }
}  // namespace dsv3::kernels

#endif
