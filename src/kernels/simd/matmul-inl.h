// Per-target matrix products, included once per Highway target by each per-format translation
// unit (matmul_f32.cc, matmul_bf16.cc, ...), which instantiates them for its decoder.
//
// Three shapes of work:
//  - Few tokens (decode): DotTile fuses decoding with the dot products, 4 rows x T tokens of
//    vector accumulators along the columns; the weights are read once, straight from memory.
//  - Many tokens (prefill): GemmRowsT, a cache-blocked product. The activations are transposed
//    once per call so tokens are lanes (shared by all threads); each thread decodes its weights
//    to float32 a block at a time, row by row, and reuses them for 64 tokens; the micro-kernel
//    broadcasts one weight and multiplies it with vectors of tokens, so no horizontal sums are
//    needed.
//  - x^T W: few tokens stream the rows through output accumulators in registers
//    (TransposedColsFused, TransposedScaledColsFused for block scales); many tokens (GemmColsT)
//    use the blocked product with rows and columns swapped.

#if defined(DSV3_KERNELS_SIMD_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef DSV3_KERNELS_SIMD_MATMUL_INL_H_
#undef DSV3_KERNELS_SIMD_MATMUL_INL_H_
#else
#define DSV3_KERNELS_SIMD_MATMUL_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/dispatch.h"
#include "kernels/simd/ops-inl.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"

HWY_BEFORE_NAMESPACE();
namespace dsv3::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Register blocking of the decode tile: rows x tokens accumulators must fit the register file
// (32 vectors on AVX-512, 16 elsewhere).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
inline constexpr int64_t kDotMaxTokens = 4;
// Up to 6 vectors (96 tokens) per block: 4 x 6 accumulators + 6 token vectors + 1 broadcast
// fill the 32 registers, and a MoE expert's share of a prompt (about 64 tokens, give or take)
// fits one block instead of leaving a sliver for a second, inefficient pass.
inline constexpr size_t kGemmTokenVectors = 6;
#else
inline constexpr int64_t kDotMaxTokens = 2;
inline constexpr size_t kGemmTokenVectors = 2;
#endif
inline constexpr int64_t kDotRows = 4;
inline constexpr int64_t kPanelRows = 16;
// A multiple of the FP8 block (128) and of the q8/q4 group (32), so panels never split one.
inline constexpr int64_t kKc = 64;
inline constexpr int64_t kRowChunk = 512;  // rows whose outputs stay in the L2-resident buffer
inline constexpr int64_t kColsPanel = 512;  // width of a TransposedCols panel

// ---- Decoders of the row-major formats -------------------------------------------------------
// Load(d, row, c): Lanes(d) weights from column c, times kVecFactor^-1 (see FP8).
// Scalar(row, c): one weight, exact. Scale(w, r, c): the block scale (1 if none).
struct F32Dec {
  static constexpr bool kScaled = false;
  static constexpr float kVecFactor = 1.0f;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const uint8_t* row, int64_t c) {
    return hn::LoadU(d, reinterpret_cast<const float*>(row) + c);
  }
  static float Scalar(const uint8_t* row, int64_t c) {
    float v;
    std::memcpy(&v, row + 4 * c, 4);
    return v;
  }
};

struct BF16Dec {
  static constexpr bool kScaled = false;
  static constexpr float kVecFactor = 1.0f;
  // bfloat16 is the top half of a float32: widen and shift.
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const uint8_t* row, int64_t c) {
    const hn::Rebind<uint16_t, D> d16;
    const hn::RebindToUnsigned<D> d32;
    const auto bits = hn::PromoteTo(d32, hn::LoadU(d16, reinterpret_cast<const uint16_t*>(row) + c));
    return hn::BitCast(d, hn::ShiftLeft<16>(bits));
  }
  static float Scalar(const uint8_t* row, int64_t c) {
    return bf16_to_f32(uint16_t(row[2 * c] | row[2 * c + 1] << 8));
  }
};

struct F16Dec {
  static constexpr bool kScaled = false;
  static constexpr float kVecFactor = 1.0f;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const uint8_t* row, int64_t c) {
    const hn::Rebind<hwy::float16_t, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + c));
  }
  static float Scalar(const uint8_t* row, int64_t c) {
    return f16_to_f32(uint16_t(row[2 * c] | row[2 * c + 1] << 8));
  }
};

// e4m3fn S.EEEE.MMM placed as the f16 S.0EEEE.MMM0000000 is the same number divided by 2^8
// (f16 bias 15 vs 7), subnormals included, so the hardware f16 -> f32 conversion decodes it
// exactly; the 2^8 is folded into the block scale. Only the NaN codes (S.1111.111) need a fix:
// as f16 they would read 1.875.
struct FP8Dec {
  static constexpr bool kScaled = true;
  static constexpr float kVecFactor = 256.0f;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const uint8_t* row, int64_t c) {
    const hn::Rebind<uint8_t, D> d8;
    const hn::Rebind<uint16_t, D> d16;
    const hn::Rebind<hwy::float16_t, D> dh;
    const auto b = hn::PromoteTo(d16, hn::LoadU(d8, row + c));
    const auto mag = hn::And(b, hn::Set(d16, 0x7f));
    const auto h = hn::Or(hn::ShiftLeft<8>(hn::And(b, hn::Set(d16, 0x80))), hn::ShiftLeft<7>(mag));
#if (HWY_ARCH_X86 && HWY_TARGET >= HWY_SSE4) || HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR
    // Highway emulates f16 -> f32 here and does not carry NaN through: patch it afterwards.
    const hn::RebindToUnsigned<D> d32;
    const auto nan_code = hn::Eq(hn::PromoteTo(d32, mag), hn::Set(d32, 0x7f));
    const auto nan = hn::Set(d, std::numeric_limits<float>::quiet_NaN());
    return hn::IfThenElse(hn::RebindMask(d, nan_code), nan, hn::PromoteTo(d, hn::BitCast(dh, h)));
#else
    const auto nan_h = hn::Set(d16, 0x7e00);
    const auto fixed = hn::IfThenElse(hn::Eq(mag, hn::Set(d16, 0x7f)), nan_h, h);
    return hn::PromoteTo(d, hn::BitCast(dh, fixed));
#endif
  }
  static float Scalar(const uint8_t* row, int64_t c) { return fp8_e4m3_lut(row[c]); }
};

template <class Dec>
HWY_INLINE float BlockScale(const Matrix& w, int64_t r, int64_t c) {
  if constexpr (Dec::kScaled) {
    return w.block_scales[((w.row0 + r) / w.block) * w.scale_cols + c / w.block];
  } else {
    return 1.0f;
  }
}
template <class Dec>
HWY_INLINE int64_t ScaleBlock(const Matrix& w) {
  return Dec::kScaled ? w.block : w.cols;
}

// ---- Few tokens: fused decode + dot ----------------------------------------------------------
// y[t0 + t][r + i] for i < kR, t < kT.
template <class Dec, size_t kR, size_t kT>
HWY_NOINLINE void DotTile(const Matrix& w, int64_t r, const float* x, int64_t t0, float* y) {
  const hn::ScalableTag<float> d;
  const int64_t L = int64_t(hn::Lanes(d)), K = w.cols;
  const uint8_t* rows[kR];
  for (size_t i = 0; i < kR; ++i) rows[i] = w.row_data(r + int64_t(i));
  // The next tile's rows, fetched into the caches at the column this tile is reading: each
  // row is its own short stream (a few KB), too short for the hardware prefetcher to ramp up.
  const int64_t row_bytes = format_row_bytes(w.format, K);
  // (The last tile fetches its own lines: an unconditional hint keeps the loop branch-free.)
  const int64_t ahead = r + int64_t(kR) * 2 <= w.rows ? int64_t(kR) * row_bytes : 0;
  hn::Vec<decltype(d)> acc[kR][kT];
  float tail[kR][kT] = {};
  for (size_t i = 0; i < kR; ++i) {
    for (size_t t = 0; t < kT; ++t) acc[i][t] = hn::Zero(d);
  }
  const int64_t block = ScaleBlock<Dec>(w);
  for (int64_t c0 = 0; c0 < K; c0 += block) {
    const int64_t c1 = std::min(K, c0 + block);
    float scale[kR];
    hn::Vec<decltype(d)> vscale[kR];
    for (size_t i = 0; i < kR; ++i) {
      scale[i] = BlockScale<Dec>(w, r + int64_t(i), c0);
      vscale[i] = hn::Set(d, scale[i] * Dec::kVecFactor);
    }
    int64_t c = c0;
    for (; c + L <= c1; c += L) {
      hn::Vec<decltype(d)> xv[kT];
      for (size_t t = 0; t < kT; ++t) xv[t] = hn::LoadU(d, x + (t0 + int64_t(t)) * K + c);
      for (size_t i = 0; i < kR; ++i) {
        hwy::Prefetch(rows[i] + ahead + c * row_bytes / K);
        auto wv = Dec::Load(d, rows[i], c);
        if constexpr (Dec::kScaled) wv = hn::Mul(wv, vscale[i]);
        for (size_t t = 0; t < kT; ++t) acc[i][t] = hn::MulAdd(wv, xv[t], acc[i][t]);
      }
    }
    for (; c < c1; ++c) {
      for (size_t i = 0; i < kR; ++i) {
        const float wc = Dec::Scalar(rows[i], c) * scale[i];
        for (size_t t = 0; t < kT; ++t) tail[i][t] += wc * x[(t0 + int64_t(t)) * K + c];
      }
    }
  }
  for (size_t i = 0; i < kR; ++i) {
    for (size_t t = 0; t < kT; ++t) {
      y[(t0 + int64_t(t)) * w.rows + r + int64_t(i)] =
          hn::GetLane(hn::SumOfLanes(d, acc[i][t])) + tail[i][t];
    }
  }
}

template <class Dec, size_t kR>
HWY_INLINE void DotTileTokens(const Matrix& w, int64_t r, const float* x, int64_t n, float* y) {
  for (int64_t t0 = 0; t0 < n; t0 += kDotMaxTokens) {
    switch (std::min(kDotMaxTokens, n - t0)) {
      case 1: DotTile<Dec, kR, 1>(w, r, x, t0, y); break;
      case 2: DotTile<Dec, kR, 2>(w, r, x, t0, y); break;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
      case 3: DotTile<Dec, kR, 3>(w, r, x, t0, y); break;
      case 4: DotTile<Dec, kR, 4>(w, r, x, t0, y); break;
#endif
      default: break;
    }
  }
}

// ---- Many tokens: cache-blocked product over decoded panels -----------------------------------
// Decodes rows [r0, r0 + nr) x columns [c0, c0 + nc) of w to panel[i * ld + (c - c0)], row by
// row, so the weights stream sequentially (one row segment after the other).
using DecodePanelFn = void (*)(const Matrix& w, int64_t r0, int64_t nr, int64_t c0, int64_t nc,
                               float* panel, int64_t ld);

template <class Dec>
void DecodePanel(const Matrix& w, int64_t r0, int64_t nr, int64_t c0, int64_t nc, float* panel,
                 int64_t ld) {
  const hn::ScalableTag<float> d;
  const int64_t L = int64_t(hn::Lanes(d)), block = ScaleBlock<Dec>(w);
  for (int64_t i = 0; i < nr; ++i) {
    const uint8_t* row = w.row_data(r0 + i);
    float* out = panel + i * ld;
    for (int64_t b0 = c0; b0 < c0 + nc;) {
      const int64_t b1 = std::min(c0 + nc, (b0 / block + 1) * block);
      const float scale = BlockScale<Dec>(w, r0 + i, b0);
      const auto vscale = hn::Set(d, scale * Dec::kVecFactor);
      int64_t c = b0;
      for (; c + L <= b1; c += L) {
        auto v = Dec::Load(d, row, c);
        if constexpr (Dec::kScaled) v = hn::Mul(v, vscale);
        hn::StoreU(v, d, out + (c - c0));
      }
      for (; c < b1; ++c) out[c - c0] = Dec::Scalar(row, c) * scale;
      b0 = b1;
    }
  }
}

// Tokens per block of the product: kGemmTokenVectors vectors of tokens.
inline int64_t GemmTokenBlock() {
  return int64_t(hn::Lanes(hn::ScalableTag<float>())) * int64_t(kGemmTokenVectors);
}

// Floats GemmTokens writes for x[n, K].
inline int64_t GemmTokensSize(int64_t n, int64_t K) {
  const int64_t L = int64_t(hn::Lanes(hn::ScalableTag<float>()));
  return (n + L - 1) / L * L * K;
}

// Columns [k0, k1) of x[n, K] transposed so tokens are lanes: token block b (tokens
// [b T, b T + nt), T = GemmTokenBlock()) is the matrix xt + b T K of [K][ldx] floats,
// ldx = nt rounded up to whole vectors, padding tokens zero.
// A vector of tokens is one gather (lane t reads x[t][k], K floats apart); the lanes past the
// last token read it again and are zeroed.
inline void GemmTokens(const float* x, int64_t n, int64_t K, int64_t k0, int64_t k1, float* xt) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t L = int64_t(hn::Lanes(d)), T = GemmTokenBlock();
  const bool gather = T * K <= int64_t(std::numeric_limits<int32_t>::max());
  for (int64_t t0 = 0; t0 < n; t0 += T) {
    const int64_t nt = std::min(T, n - t0), ldx = (nt + L - 1) / L * L;
    float* block = xt + t0 * K;
    const float* base = x + t0 * K;
    if (!gather) {
      for (int64_t k = k0; k < k1; ++k) {
        float* out = block + k * ldx;
        for (int64_t t = 0; t < nt; ++t) out[t] = base[t * K + k];
        for (int64_t t = nt; t < ldx; ++t) out[t] = 0.0f;
      }
      continue;
    }
    for (int64_t v = 0; v < ldx; v += L) {
      const auto tokens = hn::Min(hn::Iota(di, int32_t(v)), hn::Set(di, int32_t(nt - 1)));
      const auto index = hn::Mul(tokens, hn::Set(di, int32_t(K)));
      const auto valid = hn::FirstN(d, size_t(std::max<int64_t>(0, nt - v)));
      for (int64_t k = k0; k < k1; ++k) {
        hn::StoreU(hn::IfThenElseZero(valid, hn::GatherIndex(d, base + k, index)), d,
                   block + k * ldx + v);
      }
    }
  }
}

// ybuf[i][v * L + lane] += sum_k W(i, k) * xt[k][v * L + lane] for i < kR, v < kV, where
// W(i, k) = panel[i * si + k * sk]: a row-major panel (si = its stride, sk = 1) for W x, or a
// row-major block of W read down its columns (si = 1, sk = its stride) for x^T W.
struct PanelStrides {
  int64_t si, sk;
};

template <size_t kR, size_t kV>
HWY_NOINLINE void GemmMicro(const float* panel, PanelStrides ps, int64_t kn, const float* xt,
                            int64_t ldx, float* ybuf) {
  const hn::ScalableTag<float> d;
  const int64_t L = int64_t(hn::Lanes(d));
  hn::Vec<decltype(d)> acc[kR][kV];
  for (size_t i = 0; i < kR; ++i) {
    for (size_t v = 0; v < kV; ++v) acc[i][v] = hn::LoadU(d, ybuf + int64_t(i) * ldx + int64_t(v) * L);
  }
  for (int64_t k = 0; k < kn; ++k) {
    hn::Vec<decltype(d)> xv[kV];
    for (size_t v = 0; v < kV; ++v) xv[v] = hn::LoadU(d, xt + k * ldx + int64_t(v) * L);
    for (size_t i = 0; i < kR; ++i) {
      const auto b = hn::Set(d, panel[int64_t(i) * ps.si + k * ps.sk]);
      for (size_t v = 0; v < kV; ++v) acc[i][v] = hn::MulAdd(b, xv[v], acc[i][v]);
    }
  }
  for (size_t i = 0; i < kR; ++i) {
    for (size_t v = 0; v < kV; ++v) hn::StoreU(acc[i][v], d, ybuf + int64_t(i) * ldx + int64_t(v) * L);
  }
}

// Rows per micro-kernel call for nv token vectors: with few tokens (decode attention: the
// heads of one token) more rows keep enough independent accumulators to hide the FMA latency.
inline constexpr int64_t kMaxMicroRows = 16;
inline int64_t MicroRows(size_t nv) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  return nv == 1 ? 16 : nv == 2 ? 8 : 4;
#else
  return nv == 1 ? 8 : 4;
#endif
}

inline void GemmMicroN(size_t nv, const float* panel, PanelStrides ps, int64_t kn,
                       const float* xt, int64_t ldx, float* ybuf) {
  switch (nv) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
    case 1: GemmMicro<16, 1>(panel, ps, kn, xt, ldx, ybuf); break;
    case 2: GemmMicro<8, 2>(panel, ps, kn, xt, ldx, ybuf); break;
    case 3: GemmMicro<4, 3>(panel, ps, kn, xt, ldx, ybuf); break;
    case 4: GemmMicro<4, 4>(panel, ps, kn, xt, ldx, ybuf); break;
    case 5: GemmMicro<4, 5>(panel, ps, kn, xt, ldx, ybuf); break;
    case 6: GemmMicro<4, 6>(panel, ps, kn, xt, ldx, ybuf); break;
#else
    case 1: GemmMicro<8, 1>(panel, ps, kn, xt, ldx, ybuf); break;
    case 2: GemmMicro<4, 2>(panel, ps, kn, xt, ldx, ybuf); break;
#endif
    default: break;
  }
}

// Loop nest (per task of rows; xt is shared by all tasks):
//   token block (64 tokens)            ybuf[rows][64] accumulates in L2
//     K block (kKb = 1024 columns)      its transposed tokens (256 KB) stay in L2
//       rows, kDecodeRows at a time     decoded once into wbuf (256 KB, L2), read sequentially
//         kKc = 64 columns              that slice of tokens (16 KB) stays in L1
//           4 rows x 64 tokens          GemmMicro: broadcast weight x vector of tokens
inline constexpr int64_t kKb = 1024;
inline constexpr int64_t kKcMicro = 64;
inline constexpr int64_t kDecodeRows = 64;
// Stride of the decoded rows: a whole 4 KB apart they would share L1 sets and alias the stores.
inline constexpr int64_t kPanelLd = kKb + 16;

inline constexpr int64_t kRowsPerPass = 1024;  // bounds ybuf to 1024 x 64 floats

inline void GemmRowsPass(const Matrix& w, const float* xt, int64_t n, float* y, int64_t r0,
                         int64_t r1, DecodePanelFn decode) {
  const int64_t L = int64_t(hn::Lanes(hn::ScalableTag<float>())), T = GemmTokenBlock();
  const int64_t K = w.cols, rows = r1 - r0;
  float* wbuf = detail::thread_scratch(1, size_t((kDecodeRows + kMaxMicroRows) * kPanelLd));
  float* ybuf = detail::thread_scratch(2, size_t((rows + kMaxMicroRows) * T));
  for (int64_t t0 = 0; t0 < n; t0 += T) {
    const int64_t nt = std::min(T, n - t0), ldx = (nt + L - 1) / L * L;
    const int64_t mr = MicroRows(size_t(ldx / L));
    const float* xtb = xt + t0 * K;
    std::fill(ybuf, ybuf + (rows + kMaxMicroRows) * ldx, 0.0f);
    for (int64_t kb0 = 0; kb0 < K; kb0 += kKb) {
      const int64_t kbn = std::min(kKb, K - kb0);
      for (int64_t rc = r0; rc < r1; rc += kDecodeRows) {
        const int64_t nrc = std::min(kDecodeRows, r1 - rc), nrc4 = (nrc + mr - 1) / mr * mr;
        decode(w, rc, nrc, kb0, kbn, wbuf, kPanelLd);
        for (int64_t i = nrc; i < nrc4; ++i) std::fill(wbuf + i * kPanelLd, wbuf + i * kPanelLd + kbn, 0.0f);
        for (int64_t kc = 0; kc < kbn; kc += kKcMicro) {
          const int64_t kn = std::min(kKcMicro, kbn - kc);
          for (int64_t i = 0; i < nrc; i += mr) {
            GemmMicroN(size_t(ldx / L), wbuf + i * kPanelLd + kc, {.si = kPanelLd, .sk = 1}, kn,
                       xtb + (kb0 + kc) * ldx, ldx, ybuf + (rc - r0 + i) * ldx);
          }
        }
      }
    }
    for (int64_t t = 0; t < nt; ++t) {
      for (int64_t i = 0; i < rows; ++i) y[(t0 + t) * w.rows + r0 + i] = ybuf[i * ldx + t];
    }
  }
}

inline void GemmRowsT(const Matrix& w, const float* xt, int64_t n, float* y, int64_t r0,
                      int64_t r1, DecodePanelFn decode) {
  for (int64_t r = r0; r < r1; r += kRowsPerPass) {
    GemmRowsPass(w, xt, n, y, r, std::min(r1, r + kRowsPerPass), decode);
  }
}

// x^T W with many tokens: the same product with the roles of rows and columns swapped. The
// outputs are columns [c0, c1) of w, the reduction runs over its rows; blocks of rows are
// decoded (row by row, as stored) and the micro-kernel reads them down their columns.
inline constexpr int64_t kColsPerPass = 256;  // output columns per pass (ybuf: 256 x 64 floats)
inline constexpr int64_t kRowsPerBlock = 256;  // rows of w decoded at once (256 x 256 floats)

inline void GemmColsT(const Matrix& w, const float* xt, int64_t n, float* y, int64_t c0,
                      int64_t c1, DecodePanelFn decode) {
  const int64_t L = int64_t(hn::Lanes(hn::ScalableTag<float>())), T = GemmTokenBlock();
  const int64_t K = w.rows;
  float* wbuf = detail::thread_scratch(1, size_t(kRowsPerBlock * (kColsPerPass + kMaxMicroRows)));
  float* ybuf = detail::thread_scratch(2, size_t((kColsPerPass + kMaxMicroRows) * T));
  for (int64_t cs = c0; cs < c1; cs += kColsPerPass) {
    // Columns padded to whole micro-kernel calls of any size.
    const int64_t nc = std::min(kColsPerPass, c1 - cs);
    const int64_t ld = (nc + kMaxMicroRows - 1) / kMaxMicroRows * kMaxMicroRows;
    for (int64_t t0 = 0; t0 < n; t0 += T) {
      const int64_t nt = std::min(T, n - t0), ldx = (nt + L - 1) / L * L;
      const int64_t mr = MicroRows(size_t(ldx / L));
      const float* xtb = xt + t0 * K;
      std::fill(ybuf, ybuf + ld * ldx, 0.0f);
      for (int64_t kb0 = 0; kb0 < K; kb0 += kRowsPerBlock) {
        const int64_t kbn = std::min(kRowsPerBlock, K - kb0);
        decode(w, kb0, kbn, cs, nc, wbuf, ld);
        for (int64_t k = 0; k < kbn; ++k) std::fill(wbuf + k * ld + nc, wbuf + (k + 1) * ld, 0.0f);
        for (int64_t kc = 0; kc < kbn; kc += kKcMicro) {
          const int64_t kn = std::min(kKcMicro, kbn - kc);
          for (int64_t i = 0; i < nc; i += mr) {
            GemmMicroN(size_t(ldx / L), wbuf + kc * ld + i, {.si = 1, .sk = ld}, kn,
                       xtb + (kb0 + kc) * ldx, ldx, ybuf + i * ldx);
          }
        }
      }
      for (int64_t t = 0; t < nt; ++t) {
        for (int64_t i = 0; i < nc; ++i) y[(t0 + t) * w.cols + cs + i] = ybuf[i * ldx + t];
      }
    }
  }
}

template <DecodePanelFn kDecode>
void GemmColsFor(const Matrix& w, const float* xt, int64_t n, float* y, int64_t c0, int64_t c1) {
  GemmColsT(w, xt, n, y, c0, c1, kDecode);
}

// Few tokens through decoded panels (formats without a fused decoder, like the q8 / q4 tiles):
// decode kDecodeRows x kKb at a time, dot each row with each token.
inline void PanelDotRows(const Matrix& w, const float* x, int64_t n, float* y, int64_t r0,
                         int64_t r1, DecodePanelFn decode) {
  const int64_t K = w.cols;
  float* wbuf = detail::thread_scratch(1, size_t(kDecodeRows * kKb));
  for (int64_t t = 0; t < n; ++t) std::fill(y + t * w.rows + r0, y + t * w.rows + r1, 0.0f);
  for (int64_t rc = r0; rc < r1; rc += kDecodeRows) {
    const int64_t nrc = std::min(kDecodeRows, r1 - rc);
    for (int64_t kb0 = 0; kb0 < K; kb0 += kKb) {
      const int64_t kbn = std::min(kKb, K - kb0);
      decode(w, rc, nrc, kb0, kbn, wbuf, kKb);
      for (int64_t i = 0; i < nrc; ++i) {
        for (int64_t t = 0; t < n; ++t) y[t * w.rows + rc + i] += Dot(wbuf + i * kKb, x + t * K + kb0, kbn);
      }
    }
  }
}

// Any number of tokens without a caller-transposed xt: transposes into this thread's scratch.
inline void GemmRows(const Matrix& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1,
                     DecodePanelFn decode) {
  float* xt = detail::thread_scratch(0, size_t(GemmTokensSize(n, w.cols)));
  GemmTokens(x, n, w.cols, 0, w.cols, xt);
  GemmRowsT(w, xt, n, y, r0, r1, decode);
}

// ---- Entry points instantiated per format ----------------------------------------------------
template <class Dec>
void MatmulRows(const Matrix& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  if (n > kDotMaxTokens) return GemmRows(w, x, n, y, r0, r1, &DecodePanel<Dec>);
  int64_t r = r0;
  for (; r + kDotRows <= r1; r += kDotRows) DotTileTokens<Dec, kDotRows>(w, r, x, n, y);
  for (; r < r1; ++r) DotTileTokens<Dec, 1>(w, r, x, n, y);
}

template <DecodePanelFn kDecode>
void GemmRowsFor(const Matrix& w, const float* xt, int64_t n, float* y, int64_t r0, int64_t r1) {
  GemmRowsT(w, xt, n, y, r0, r1, kDecode);
}

// Columns [c0, c1) of y[n, cols] = x[n, rows] w, through panels decoded by `decode`.
inline void TransposedCols(const Matrix& w, const float* x, int64_t n, float* y, int64_t c0,
                           int64_t c1, DecodePanelFn decode) {
  for (int64_t t = 0; t < n; ++t) std::fill(y + t * w.cols + c0, y + t * w.cols + c1, 0.0f);
  float* panel = detail::thread_scratch(1, size_t(kPanelRows * kColsPanel));
  for (int64_t cc = c0; cc < c1; cc += kColsPanel) {
    const int64_t nc = std::min(kColsPanel, c1 - cc);
    for (int64_t p = 0; p < w.rows; p += kPanelRows) {
      const int64_t np = std::min(kPanelRows, w.rows - p);
      decode(w, p, np, cc, nc, panel, kColsPanel);
      for (int64_t i = 0; i < np; ++i) {
        for (int64_t t = 0; t < n; ++t) {
          Axpy(x[t * w.rows + p + i], panel + i * kColsPanel, y + t * w.cols + cc, nc);
        }
      }
    }
  }
}

template <DecodePanelFn kDecode>
void MatmulCols(const Matrix& w, const float* x, int64_t n, float* y, int64_t c0, int64_t c1) {
  TransposedCols(w, x, n, y, c0, c1, kDecode);
}

// Columns [c, c + kVecs lanes) of y[N, cols] = x[N, rows] w with the N x kVecs outputs in
// registers while the rows stream through, decoding fused with the multiply-adds.
template <class Dec, int64_t N, int64_t kVecs>
HWY_INLINE void TransposedColsBlock(const Matrix& w, const float* x, float* y, int64_t c) {
  const hn::ScalableTag<float> d;
  const int64_t L = int64_t(hn::Lanes(d));
  hn::Vec<decltype(d)> acc[N][kVecs];
  for (auto& token : acc) {
    for (auto& a : token) a = hn::Zero(d);
  }
  // The block's part of a row is a short piece (kVecs vectors) of a long stride: fetch the
  // part kRowsAhead rows on ahead, which a hardware prefetcher may not guess in time.
  constexpr int64_t kRowsAhead = 8;
  const int64_t row_bytes = format_row_bytes(w.format, w.cols), value_bytes = row_bytes / w.cols;
  for (int64_t r = 0; r < w.rows; ++r) {
    const uint8_t* row = w.row_data(r);
    hn::Vec<decltype(d)> xr[N];
    for (int64_t t = 0; t < N; ++t) xr[t] = hn::Set(d, x[t * w.rows + r]);
    for (int64_t v = 0; v < kVecs; ++v) {
      hwy::Prefetch(row + kRowsAhead * row_bytes + (c + v * L) * value_bytes);
      const auto wv = Dec::Load(d, row, c + v * L);
      for (int64_t t = 0; t < N; ++t) acc[t][v] = hn::MulAdd(wv, xr[t], acc[t][v]);
    }
  }
  for (int64_t t = 0; t < N; ++t) {
    for (int64_t v = 0; v < kVecs; ++v) hn::StoreU(acc[t][v], d, y + t * w.cols + c + v * L);
  }
}

// x^T W for N (few) tokens of a format without block scales (f32, f16, bf16): wide column
// blocks (N x kWide vectors of outputs fill about half the registers), then single vectors,
// then single columns. Each row is read once per block, the blocks' parts of it in order, so
// the weights stream from memory once; TransposedCols would write them to a float panel
// and read it back.
template <class Dec, int64_t N>
void TransposedColsFused(const Matrix& w, const float* x, float* y, int64_t c0, int64_t c1) {
  constexpr int64_t kWide = N == 1 ? 16 : N == 2 ? 8 : 4;
  const int64_t L = int64_t(hn::Lanes(hn::ScalableTag<float>()));
  int64_t c = c0;
  for (; c + kWide * L <= c1; c += kWide * L) TransposedColsBlock<Dec, N, kWide>(w, x, y, c);
  for (; c + L <= c1; c += L) TransposedColsBlock<Dec, N, 1>(w, x, y, c);
  for (; c < c1; ++c) {
    for (int64_t t = 0; t < N; ++t) {
      float s = 0.0f;
      for (int64_t r = 0; r < w.rows; ++r) s += x[t * w.rows + r] * Dec::Scalar(w.row_data(r), c);
      y[t * w.cols + c] = s;
    }
  }
}

// Columns [c, c + kVecs lanes) of y[N, cols] = x[N, rows] w for a format with block scales,
// the columns inside one block of scales. Each row's weights are scaled, then multiply-added
// into the outputs, as DecodePanel and Axpy do in TransposedCols: the same operations in the
// same order, so the same results, without writing the decoded panel and reading it back
// (the absorbed attention's W_uk^T q runs this per head on every decode step).
template <class Dec, int64_t N, int64_t kVecs>
HWY_INLINE void TransposedScaledColsBlock(const Matrix& w, const float* x, float* y, int64_t c) {
  static_assert(Dec::kScaled);
  const hn::ScalableTag<float> d;
  const int64_t L = int64_t(hn::Lanes(d));
  hn::Vec<decltype(d)> acc[N][kVecs];
  for (auto& token : acc) {
    for (auto& a : token) a = hn::Zero(d);
  }
  constexpr int64_t kRowsAhead = 8;  // as in TransposedColsBlock
  const int64_t row_bytes = format_row_bytes(w.format, w.cols), value_bytes = row_bytes / w.cols;
  const int64_t line_vectors = std::max<int64_t>(1, 64 / (L * value_bytes));
  // Rows [r0, r1) share one scale: a block of stored rows.
  for (int64_t r0 = 0; r0 < w.rows;) {
    const int64_t r1 = std::min(w.rows, ((w.row0 + r0) / w.block + 1) * w.block - w.row0);
    const auto vscale = hn::Set(d, BlockScale<Dec>(w, r0, c) * Dec::kVecFactor);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = w.data + r * row_bytes;
      hn::Vec<decltype(d)> xr[N];
      for (int64_t t = 0; t < N; ++t) xr[t] = hn::Set(d, x[t * w.rows + r]);
      for (int64_t v = 0; v < kVecs; ++v) {
        if (v % line_vectors == 0) hwy::Prefetch(row + kRowsAhead * row_bytes + (c + v * L) * value_bytes);
        const auto wv = hn::Mul(Dec::Load(d, row, c + v * L), vscale);
        for (int64_t t = 0; t < N; ++t) acc[t][v] = hn::MulAdd(xr[t], wv, acc[t][v]);
      }
    }
    r0 = r1;
  }
  for (int64_t t = 0; t < N; ++t) {
    for (int64_t v = 0; v < kVecs; ++v) hn::StoreU(acc[t][v], d, y + t * w.cols + c + v * L);
  }
}

// x^T W for N (few) tokens of a format with block scales: per block of scales, column blocks
// of kWide vectors (N x kWide accumulators fill about half the registers), then single
// vectors; columns left over (a block not a whole number of vectors) go through TransposedCols.
template <class Dec, int64_t N>
void TransposedScaledColsFused(const Matrix& w, const float* x, float* y, int64_t c0,
                               int64_t c1) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  constexpr int64_t kWide = N <= 2 ? 8 : 4;
#else
  constexpr int64_t kWide = N == 1 ? 8 : N == 2 ? 4 : 2;
#endif
  const int64_t L = int64_t(hn::Lanes(hn::ScalableTag<float>()));
  for (int64_t c = c0; c < c1;) {
    const int64_t end = std::min(c1, (c / w.block + 1) * w.block);
    for (; c + kWide * L <= end; c += kWide * L) TransposedScaledColsBlock<Dec, N, kWide>(w, x, y, c);
    for (; c + L <= end; c += L) TransposedScaledColsBlock<Dec, N, 1>(w, x, y, c);
    if (c < end) TransposedCols(w, x, N, y, c, end, &DecodePanel<Dec>);
    c = end;
  }
}

template <class Dec>
void MatmulColsFused(const Matrix& w, const float* x, int64_t n, float* y, int64_t c0,
                     int64_t c1) {
  if constexpr (Dec::kScaled) {
    switch (n) {
      case 1: return TransposedScaledColsFused<Dec, 1>(w, x, y, c0, c1);
      case 2: return TransposedScaledColsFused<Dec, 2>(w, x, y, c0, c1);
      case 3: return TransposedScaledColsFused<Dec, 3>(w, x, y, c0, c1);
      case 4: return TransposedScaledColsFused<Dec, 4>(w, x, y, c0, c1);
      default: return MatmulCols<&DecodePanel<Dec>>(w, x, n, y, c0, c1);
    }
  } else {
    switch (n) {
      case 1: return TransposedColsFused<Dec, 1>(w, x, y, c0, c1);
      case 2: return TransposedColsFused<Dec, 2>(w, x, y, c0, c1);
      case 3: return TransposedColsFused<Dec, 3>(w, x, y, c0, c1);
      case 4: return TransposedColsFused<Dec, 4>(w, x, y, c0, c1);
      default: return MatmulCols<&DecodePanel<Dec>>(w, x, n, y, c0, c1);
    }
  }
}

template <DecodePanelFn kDecode>
void DequantizeRow(const Matrix& w, int64_t r, float* out) {
  kDecode(w, r, 1, 0, w.cols, out, w.cols);
}

template <class Dec>
detail::FormatKernels RowFormatKernels() {
  return {.matmul_rows = &MatmulRows<Dec>,
          .gemm_rows = &GemmRowsFor<&DecodePanel<Dec>>,
          .matmul_cols = &MatmulColsFused<Dec>,
          .gemm_cols = &GemmColsFor<&DecodePanel<Dec>>,
          .dequantize_row = &DequantizeRow<&DecodePanel<Dec>>};
}

// The table entries shared by all formats of a target.
inline void FillGemmTokens(detail::KernelTable& t) {
  t.gemm_min_tokens = kDotMaxTokens + 1;
  t.gemm_tokens_size = &GemmTokensSize;
  t.gemm_tokens = &GemmTokens;
}

}  // namespace dsv3::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // DSV3_KERNELS_SIMD_MATMUL_INL_H_
