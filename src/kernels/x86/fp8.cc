// AVX-512 FP8 (e4m3fn, 128x128 block scales) decode kernel: few tokens, weights straight from
// the checkpoint bytes. Decode is bandwidth-bound only if turning a byte into a float costs a
// few instructions. Every e4m3 value, subnormals and NaN included, is exactly a bfloat16, and
// a bfloat16 is the top half of a float32. So per 64 weights:
//   2 x vpermi2b (AVX512-VBMI)   : 128-entry tables give each code's bf16 high and low byte
//   1 x vpternlogd               : copies the sign bits into the high bytes
//   2 x vpunpck{l,h}bw           : (low, high) byte pairs -> 2 x 32 bf16 words
//   2 x vpslld 16, 2 x vpandd    : even / odd words -> the top halves of float32 lanes
// The unpacks work inside 128-bit lanes and the last step splits even and odd words, so the
// 64 floats come out in a fixed shuffled order; the activations are shuffled the same way
// (and multiplied by the block scales) once per 128-row block of weights, not per row.
#include "kernels/dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/x86/cpu.h"

#include <algorithm>

#include "tensor/dtype.h"
#include "tensor/quant.h"

// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized once inlined (GCC PR 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define DSV3_TARGET_AVX512_VBMI \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,fma")))

namespace dsv3::kernels {
namespace {

constexpr int64_t kChunk = 64;

// bf16 bytes of the 128 magnitudes: e4m3 code v -> bf16(value(v)) = high << 8 | low.
struct Fp8Bytes {
  alignas(64) uint8_t high[128];
  alignas(64) uint8_t low[128];
  // Column (within a 64-chunk) of each float decode64 produces, in output order.
  int32_t order[64];
  Fp8Bytes() {
    for (int v = 0; v < 128; ++v) {
      const uint16_t b = f32_to_bf16(fp8_e4m3_lut(uint8_t(v)));
      high[v] = uint8_t(b >> 8);
      low[v] = uint8_t(b);
    }
    // Vector q = 2 * half + parity holds, in 128-bit lane L and dword k, the byte
    // 16 L + 8 half + 2 k + parity (unpack lo/hi picks the half, shift/mask the parity).
    for (int q = 0; q < 4; ++q) {
      for (int lane = 0; lane < 4; ++lane) {
        for (int k = 0; k < 4; ++k) order[16 * q + 4 * lane + k] = 16 * lane + 8 * (q / 2) + 2 * k + q % 2;
      }
    }
  }
};
const Fp8Bytes& fp8_bytes() {
  static const Fp8Bytes t;
  return t;
}

struct Decoder {
  __m512i high0, high1, low0, low1;
};

DSV3_TARGET_AVX512_VBMI inline Decoder make_decoder() {
  const Fp8Bytes& t = fp8_bytes();
  return {_mm512_load_si512(t.high), _mm512_load_si512(t.high + 64), _mm512_load_si512(t.low),
          _mm512_load_si512(t.low + 64)};
}

// 64 codes -> 4 x 16 floats, in Fp8Bytes::order.
struct Chunk {
  __m512 v[4];
};

DSV3_TARGET_AVX512_VBMI inline Chunk decode64(const Decoder& d, const uint8_t* p) {
  const __m512i b = _mm512_loadu_si512(p);
  // vpermi2b looks up the low 7 bits; the sign comes from the code: high |= b & 0x80.
  __m512i high = _mm512_permutex2var_epi8(d.high0, b, d.high1);
  high = _mm512_ternarylogic_epi32(high, b, _mm512_set1_epi8(char(0x80)), 0xf8);
  const __m512i low = _mm512_permutex2var_epi8(d.low0, b, d.low1);
  const __m512i w0 = _mm512_unpacklo_epi8(low, high), w1 = _mm512_unpackhi_epi8(low, high);
  const __m512i top = _mm512_set1_epi32(int32_t(0xffff0000u));
  return {{_mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)),
           _mm512_castsi512_ps(_mm512_and_si512(w0, top)),
           _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16)),
           _mm512_castsi512_ps(_mm512_and_si512(w1, top))}};
}

// y[t][r + i] for i < kR, t < kT; xs[t][c] holds x times the block scale of column c for the
// scale row these rows share.
template <int kR, int kT>
DSV3_TARGET_AVX512_VBMI void fp8_tile(const Decoder& d, const Matrix& w, int64_t r,
                                      const float* xs, float* y) {
  const int64_t K = w.cols;
  const uint8_t* rows[kR];
  for (int i = 0; i < kR; ++i) rows[i] = w.row_data(r + i);
  // The next tile's rows, fetched at the column this tile reads (see DotTile in
  // simd/matmul-inl.h: rows are streams too short for the hardware prefetcher).
  // (The last tile fetches its own lines: an unconditional hint keeps the loop branch-free.)
  const int64_t ahead = r + 2 * kR <= w.rows ? kR * K : 0;
  __m512 acc[kR][kT];
#pragma GCC unroll 16
  for (int i = 0; i < kR * kT; ++i) acc[i / kT][i % kT] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + kChunk <= K; c += kChunk) {
#pragma GCC unroll 4
    for (int i = 0; i < kR; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(rows[i] + ahead + c), _MM_HINT_T0);
      const Chunk ch = decode64(d, rows[i] + c);
#pragma GCC unroll 4
      for (int t = 0; t < kT; ++t) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          acc[i][t] = _mm512_fmadd_ps(ch.v[j], _mm512_loadu_ps(xs + t * K + c + 16 * j), acc[i][t]);
        }
      }
    }
  }
  float tail[kR][kT] = {};
  for (; c < K; ++c) {
    for (int i = 0; i < kR; ++i) {
      for (int t = 0; t < kT; ++t) tail[i][t] += fp8_e4m3_lut(rows[i][c]) * xs[t * K + c];
    }
  }
  for (int i = 0; i < kR; ++i) {
    for (int t = 0; t < kT; ++t) y[t * w.rows + r + i] = _mm512_reduce_add_ps(acc[i][t]) + tail[i][t];
  }
}

template <int kT>
DSV3_TARGET_AVX512_VBMI void fp8_rows(const Decoder& d, const Matrix& w, int64_t r0, int64_t r1,
                                      const float* xs, float* y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) fp8_tile<4, kT>(d, w, r, xs, y);
  for (; r < r1; ++r) fp8_tile<1, kT>(d, w, r, xs, y);
}

// xs[t][c] = x[t][c] * scale of column c, in decode64's order inside whole 64-chunks, for the
// scale row `scales`. The general form: any block width.
void scale_tokens_any_block(const Matrix& w, const float* x, int64_t n, const float* scales,
                            float* column_scale, float* xs) {
  const int64_t K = w.cols;
  for (int64_t c0 = 0; c0 < K; c0 += w.block) {
    std::fill(column_scale + c0, column_scale + std::min(K, c0 + w.block), scales[c0 / w.block]);
  }
  const int32_t* order = fp8_bytes().order;
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * K;
    float* out = xs + t * K;
    int64_t c = 0;
    for (; c + kChunk <= K; c += kChunk) {
      for (int64_t j = 0; j < kChunk; ++j) out[c + j] = xt[c + order[j]] * column_scale[c + order[j]];
    }
    for (; c < K; ++c) out[c] = xt[c] * column_scale[c];
  }
}

// x[t] in decode64's order inside whole 64-chunks (the rest as it is), once per call.
void order_tokens(const float* x, int64_t n, int64_t K, float* ordered) {
  const int32_t* order = fp8_bytes().order;
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * K;
    float* out = ordered + t * K;
    int64_t c = 0;
    for (; c + kChunk <= K; c += kChunk) {
      for (int64_t j = 0; j < kChunk; ++j) out[c + j] = xt[c + order[j]];
    }
    std::copy(xt + c, xt + K, out + c);
  }
}

// The same as scale_tokens_any_block (the same products, so the same values) when blocks
// are whole 64-chunks (the checkpoints' 128): every chunk has one scale, so the tokens put in
// order once per call (`ordered`) are only multiplied here, a vector at a time, instead of
// being reordered again for every scale row.
DSV3_TARGET_AVX512_VBMI void scale_ordered_tokens(const Matrix& w, const float* ordered,
                                                  int64_t n, const float* scales, float* xs) {
  const int64_t K = w.cols;
  for (int64_t t = 0; t < n; ++t) {
    const float* in = ordered + t * K;
    float* out = xs + t * K;
    int64_t c = 0;
    for (; c + kChunk <= K; c += kChunk) {
      const __m512 s = _mm512_set1_ps(scales[c / w.block]);
      for (int64_t j = 0; j < kChunk; j += 16) {
        _mm512_storeu_ps(out + c + j, _mm512_mul_ps(_mm512_loadu_ps(in + c + j), s));
      }
    }
    for (; c < K; ++c) out[c] = in[c] * scales[c / w.block];
  }
}

// Rows [r0, r1) for n <= kMatvecMaxTokens.
DSV3_TARGET_AVX512_VBMI void fp8_matvec(const Matrix& w, const float* x, int64_t n, float* y,
                                        int64_t r0, int64_t r1) {
  const Decoder d = make_decoder();
  const int64_t K = w.cols;
  float* xs = detail::thread_scratch(0, size_t(n * K));
  const bool whole_chunks = w.block % kChunk == 0;
  float* column_scale = whole_chunks ? nullptr : detail::thread_scratch(1, size_t(K));
  float* ordered = whole_chunks ? detail::thread_scratch(2, size_t(n * K)) : nullptr;
  if (whole_chunks) order_tokens(x, n, K, ordered);
  for (int64_t r = r0; r < r1;) {
    // Rows up to the end of this scale row (a block of `block` stored rows).
    const int64_t block_row = (w.row0 + r) / w.block;
    const int64_t end = std::min(r1, (block_row + 1) * w.block - w.row0);
    const float* scales = w.block_scales + block_row * w.scale_cols;
    if (whole_chunks) {
      scale_ordered_tokens(w, ordered, n, scales, xs);
    } else {
      scale_tokens_any_block(w, x, n, scales, column_scale, xs);
    }
    switch (n) {
      case 1: fp8_rows<1>(d, w, r, end, xs, y); break;
      case 2: fp8_rows<2>(d, w, r, end, xs, y); break;
      case 3: fp8_rows<3>(d, w, r, end, xs, y); break;
      default: fp8_rows<4>(d, w, r, end, xs, y); break;
    }
    r = end;
  }
}

// ---- x^T W for few tokens (the absorbed attention's W_uk^T q, per head) ----------------------
// The Highway entry this one replaces: more tokens, other block widths, columns left over.
detail::MatmulColsFn g_cols_fallback = nullptr;

// Rows fetched ahead of the one being read. A head's slice (128 rows of 512 bytes) is read
// in passes over a few 64-column chunks; the first pass fetches whole rows (every column of
// the call) this far ahead, so the later passes find them in L2. A pass spends only tens of
// cycles on a row: the rows must be asked for well before, a memory latency or more.
constexpr int64_t kColsRowsAhead = 16;

// Chunks of 64 columns per pass for kT tokens: kT x kC x 4 accumulators, half the registers
// or so beside the decoder's tables and the scales.
template <int kT>
inline constexpr int kColsChunks = kT == 1 ? 4 : kT == 2 ? 2 : 1;

// Columns [c, c + 64 kC) of y[t] = sum over rows r of x[t][r] * w[r] for kT tokens, every
// chunk inside one block of scales. Per row the decoded weights are multiplied by their block
// scale, then multiply-added, as the panel path (simd/matmul-inl.h, TransposedCols) does with
// its decoded values (which are these divided by 256, their scale times 256: the same
// products), so the results are bit for bit that path's. fetch_from/fetch_bytes: the part of
// the row kColsRowsAhead on to fetch (none when fetch_bytes is 0).
template <int kT, int kC>
DSV3_TARGET_AVX512_VBMI void fp8_cols_pass(const Decoder& d, const Matrix& w, const float* x,
                                           float* y, int64_t c, int64_t fetch_from,
                                           int64_t fetch_bytes) {
  __m512 acc[kT][kC][4];
  for (int t = 0; t < kT; ++t) {
    for (int k = 0; k < kC; ++k) {
      for (int j = 0; j < 4; ++j) acc[t][k][j] = _mm512_setzero_ps();
    }
  }
  const int64_t row_bytes = format_row_bytes(w.format, w.cols);
  // Rows [r0, r1) share their scales: a block of stored rows.
  for (int64_t r0 = 0; r0 < w.rows;) {
    const int64_t block_row = (w.row0 + r0) / w.block;
    const int64_t r1 = std::min(w.rows, (block_row + 1) * w.block - w.row0);
    const float* scales = w.block_scales + block_row * w.scale_cols;
    __m512 scale[kC];
    for (int k = 0; k < kC; ++k) scale[k] = _mm512_set1_ps(scales[(c + kChunk * k) / w.block]);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = w.data + r * row_bytes;
      if (fetch_bytes > 0 && r + kColsRowsAhead < w.rows) {
        const uint8_t* ahead = row + kColsRowsAhead * row_bytes + fetch_from;
        for (int64_t b = 0; b < fetch_bytes; b += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(ahead + b), _MM_HINT_T0);
        }
      }
      __m512 xr[kT];
      for (int t = 0; t < kT; ++t) xr[t] = _mm512_set1_ps(x[t * w.rows + r]);
#pragma GCC unroll 4
      for (int k = 0; k < kC; ++k) {
        const Chunk ch = decode64(d, row + c + kChunk * k);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          const __m512 wv = _mm512_mul_ps(ch.v[j], scale[k]);
#pragma GCC unroll 4
          for (int t = 0; t < kT; ++t) acc[t][k][j] = _mm512_fmadd_ps(xr[t], wv, acc[t][k][j]);
        }
      }
    }
    r0 = r1;
  }
  // Back to column order.
  const int32_t* order = fp8_bytes().order;
  alignas(64) float lanes[kChunk];
  for (int t = 0; t < kT; ++t) {
    for (int k = 0; k < kC; ++k) {
      for (int j = 0; j < 4; ++j) _mm512_store_ps(lanes + 16 * j, acc[t][k][j]);
      float* out = y + t * w.cols + c + kChunk * k;
      for (int64_t j = 0; j < kChunk; ++j) out[order[j]] = lanes[j];
    }
  }
}

template <int kT>
DSV3_TARGET_AVX512_VBMI void fp8_cols_tokens(const Matrix& w, const float* x, float* y,
                                             int64_t c0, int64_t c1) {
  const Decoder d = make_decoder();
  // The first rows, which no earlier row fetches.
  for (int64_t r = 0; r < std::min(kColsRowsAhead, w.rows); ++r) {
    for (int64_t b = c0; b < c1; b += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(w.row_data(r) + b), _MM_HINT_T0);
    }
  }
  constexpr int kC = kColsChunks<kT>;
  int64_t c = c0;
  for (; c + kC * kChunk <= c1; c += kC * kChunk) {
    fp8_cols_pass<kT, kC>(d, w, x, y, c, c0, c == c0 ? c1 - c0 : 0);
  }
  for (; c + kChunk <= c1; c += kChunk) {
    fp8_cols_pass<kT, 1>(d, w, x, y, c, c0, c == c0 ? c1 - c0 : 0);
  }
  if (c < c1) g_cols_fallback(w, x, kT, y, c, c1);
}

// Columns [c0, c1) of y[n, w.cols] = x[n, w.rows] w.
DSV3_TARGET_AVX512_VBMI void fp8_matvec_cols(const Matrix& w, const float* x, int64_t n,
                                             float* y, int64_t c0, int64_t c1) {
  if (w.block % kChunk != 0) return g_cols_fallback(w, x, n, y, c0, c1);
  switch (n) {
    case 1: return fp8_cols_tokens<1>(w, x, y, c0, c1);
    case 2: return fp8_cols_tokens<2>(w, x, y, c0, c1);
    case 3: return fp8_cols_tokens<3>(w, x, y, c0, c1);
    case 4: return fp8_cols_tokens<4>(w, x, y, c0, c1);
    default: return g_cols_fallback(w, x, n, y, c0, c1);
  }
}

}  // namespace

std::string detail::fill_x86_fp8(KernelTable& t) {
  if (!(cpu_has_avx512_base() && __builtin_cpu_supports("avx512vbmi"))) {
    return "";
  }
  static_assert(kMatvecMaxTokens == 4, "fp8_matvec handles up to 4 tokens");
  FormatKernels& fp8 = t.formats[int(WeightFormat::kFP8Block)];
  fp8.matvec_rows = &fp8_matvec;
  if (fp8.matmul_cols != &fp8_matvec_cols) {
    g_cols_fallback = fp8.matmul_cols;
    fp8.matmul_cols = &fp8_matvec_cols;
  }
  return " +avx512vbmi-fp8";
}

}  // namespace dsv3::kernels

#else  // not x86-64

namespace dsv3::kernels {
std::string detail::fill_x86_fp8(KernelTable&) { return ""; }
}  // namespace dsv3::kernels

#endif
