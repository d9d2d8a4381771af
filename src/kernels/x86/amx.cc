// Intel AMX kernels of the int8-activation path for our q8 / q4 formats (prefill: many tokens).
//
// One tdpbsud multiplies a 16 x 32 tile of int8 activations (16 tokens, one group of 32
// columns: the group-major QuantizedActivations puts a group's tokens 32 bytes apart) by a
// 32 x 16 tile of unsigned weights and yields the 16 x 16 int32 group dot products. The
// weights' tile layout (tensor/matrix.h: 4 columns of 16 rows per 64 bytes) is exactly AMX's
// B operand layout, so q8 tiles are loaded from the weights as stored; q4 nibbles are spread
// into bytes once per 16 rows into a per-thread buffer (K / 32 * 512 bytes, in L2 for any
// real width) and reused by every 16-token block. Scales differ per (row, group), so the
// int32 tile is converted after every group with the same float operations, in the same
// order, as the VNNI kernel (kernels/x86/vnni.cc): both give the same bits. The next group's
// tile product runs on the AMX unit while the vector units scale the previous one.
//
// Linux hands out the AMX register state only on request (arch_prctl ARCH_REQ_XCOMP_PERM,
// once per process); each call loads its tile configuration and releases the tiles at the
// end, so no thread keeps AMX state between products.
#include "kernels/x86/amx.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/x86/cpu.h"
#include "kernels/x86/tile_lanes.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and trip -Wmaybe-uninitialized
// once inlined (GCC PR 105593, fixed in 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace dsv3::kernels {
namespace {

using x86::first_n;
using x86::load_f16x16;

// Fewer tokens than this take the VNNI kernel. A partial 16-token block runs without the
// pipelining of full ones: measured alone (one thread, CPU time, 512 x 2048), AMX ran at
// 0.5-0.6x of VNNI with 8 tokens, 0.75-0.93x with 12, 0.85-1.5x with 16 and 1.3-1.45x with 32.
constexpr int64_t kMinTokens = 16;

constexpr int kTileTokens = 16;  // rows of the activation and result tiles
constexpr int64_t kBBytes = 8 * 64;  // one group's B tile: 8 column quads x 16 rows x 4

// ---- The AMX instructions, as inline assembly --------------------------------------------
// GCC's AMX intrinsics are macros that paste the tile number into the instruction text (so
// a template parameter cannot name a tile) and do not tell the compiler that memory is read
// or written. These say both. Tile numbers are immediates.
template <int kTile>
inline void tile_zero() {
  asm volatile("tilezero %%tmm%c0" ::"i"(kTile));
}
template <int kTile>
inline void tile_load(const void* base, int64_t stride) {
  asm volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(base), "r"(stride), "i"(kTile) : "memory");
}
template <int kTile>
inline void tile_store(void* base, int64_t stride) {
  asm volatile("tilestored %%tmm%c2, (%0,%1,1)" ::"r"(base), "r"(stride), "i"(kTile) : "memory");
}
// C += A . B, A signed bytes, B unsigned bytes.
template <int kC, int kA, int kB>
inline void tile_dpbsud() {
  asm volatile("tdpbsud %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(kC), "i"(kA), "i"(kB));
}
inline void tile_release() { asm volatile("tilerelease" ::: "memory"); }

// The 64-byte operand of ldtilecfg (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of each tile
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

inline void load_config(const TileConfig& c) { asm volatile("ldtilecfg %0" ::"m"(c) : "memory"); }

// Tiles of the int8 product: two result / activation / weight triples used in turns (the
// next group's product runs while the previous one is scaled) and one triple for the last
// token block when the token count is not a multiple of 16 (sharing the weight tile 4).
enum : int { kC0 = 0, kC1 = 1, kA0 = 2, kA1 = 3, kB0 = 4, kB1 = 5, kCTail = 6, kATail = 7 };

TileConfig int8_config(int64_t tail_tokens) {
  TileConfig c;
  auto set = [&](int tile, int64_t rows, int colsb) {
    c.rows[tile] = uint8_t(rows);
    c.colsb[tile] = uint16_t(colsb);
  };
  set(kC0, kTileTokens, 64);
  set(kC1, kTileTokens, 64);
  set(kA0, kTileTokens, int(kQuantGroup));
  set(kA1, kTileTokens, int(kQuantGroup));
  set(kB0, kBBytes / 64, 64);
  set(kB1, kBBytes / 64, 64);
  if (tail_tokens > 0) {
    set(kCTail, tail_tokens, 64);
    set(kATail, tail_tokens, int(kQuantGroup));
  }
  return c;
}

// ---- Detection -----------------------------------------------------------------------------
bool cpuid_amx_int8() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tile = (d >> 24) & 1, int8 = (d >> 25) & 1;
  return tile && int8;
}

// Linux (5.16+) enables the 8 KB tile data state per process on request; without it the first
// tile instruction faults.
bool request_tile_state() {
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

bool disabled_by_environment() {
  const char* v = std::getenv("DSV3_AMX");
  return v && std::string(v) == "0";
}

// ---- The int8 product ------------------------------------------------------------------------
// q4's weights spread into bytes (spread_q4), per thread, grown once.
std::vector<uint8_t>& spread_buffer() {
  thread_local std::vector<uint8_t> b;
  return b;
}

// acc[t] += the scaled group dots c[t][16 rows] of 16 tokens: the float arithmetic of
// vnni.cc's tile_product, operation by operation.
// sx[16], off[16]: the tokens' activation scales and offsets; block: the weights' group.
template <bool kQ8>
DSV3_TARGET_AVX512 inline void add_group(const int32_t* c, const float* sx, const float* off,
                                         const uint8_t* block, __m512* acc) {
  const __m512 d = load_f16x16(block);
  if constexpr (kQ8) {
#pragma GCC unroll 16
    for (int t = 0; t < kTileTokens; ++t) {
      const __m512 dot = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * t));
      // sum d (q - 128) x = d (sx dot - 128 sx sum(xq))
      acc[t] = _mm512_fmadd_ps(
          _mm512_fmadd_ps(dot, _mm512_set1_ps(sx[t]), _mm512_set1_ps(off[t])), d, acc[t]);
    }
  } else {
    const __m512 m = load_f16x16(block + 2 * kQuantTileRows);
#pragma GCC unroll 16
    for (int t = 0; t < kTileTokens; ++t) {
      const __m512 dot = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * t));
      // sum (d u + m) x = d sx dot + m sx sum(xq)
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dot, _mm512_set1_ps(sx[t])), d, acc[t]);
      acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(off[t]), acc[t]);
    }
  }
}

// q4's 16 rows x 32 columns of each group as bytes in AMX's B layout: the low nibbles
// (columns 0..15) are the first four 64-byte rows, the high nibbles (16..31) the next four.
DSV3_TARGET_AVX512 void spread_q4(const uint8_t* tile, int64_t groups, int64_t block_bytes,
                                  uint8_t* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* q = tile + g * block_bytes + 4 * kQuantTileRows;
    uint8_t* o = out + g * kBBytes;
    for (int k = 0; k < 4; ++k) {
      const __m512i v = _mm512_loadu_si512(q + 64 * k);
      _mm512_storeu_si512(o + 64 * k, _mm512_and_si512(v, low4));
      _mm512_storeu_si512(o + 256 + 64 * k, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
    }
  }
}

// Where one 16-row tile's operands are: group g's weights at b + g * b_step (B layout, 64-byte
// rows), its scales in the block at blocks + g * block_bytes.
struct WeightPanel {
  const uint8_t* b;
  int64_t b_step;
  const uint8_t* blocks;
  int64_t block_bytes;
};

// Group g's tile product into result tile kC: activations of tokens [t0, t0 + rows of kA).
template <int kC, int kA, int kB>
inline void group_product(const int8_t* a, const uint8_t* b) {
  tile_zero<kC>();
  tile_load<kA>(a, kQuantGroup);
  tile_load<kB>(b, 64);
  tile_dpbsud<kC, kA, kB>();
}

// The accumulators of 16 tokens x 16 rows. Loops over them are unrolled so that they stay in
// registers, where the tile instructions' memory clobbers do not reach them.
struct Accumulators {
  __m512 v[kTileTokens];

  DSV3_TARGET_AVX512 void zero() {
#pragma GCC unroll 16
    for (int t = 0; t < kTileTokens; ++t) v[t] = _mm512_setzero_ps();
  }
  // The first `tokens` of them to y (token t at y + t * stride), the `rows` lanes that exist.
  DSV3_TARGET_AVX512 void store(int64_t tokens, __mmask16 rows, float* y, int64_t stride) const {
#pragma GCC unroll 16
    for (int t = 0; t < kTileTokens; ++t) {
      if (t < tokens) _mm512_mask_storeu_ps(y + t * stride, rows, v[t]);
    }
  }
};

// Tokens [t0, t0 + 16) times one 16-row tile, written to y (token t0's row r). Group products
// use tiles 0/2/4 and 1/3/5 in turns, so group g + 1 is in the AMX unit while group g is
// scaled.
template <bool kQ8>
DSV3_TARGET_AVX512 void token_block(const WeightPanel& panel, const QuantizedActivations& xq,
                                    int64_t t0, float* y, int64_t stride, __mmask16 rows) {
  const WeightPanel p = panel;
  const int64_t n = xq.n, groups = xq.groups;
  const float* scales = xq.scale + t0;
  const float* offsets = (kQ8 ? xq.q8_offset : xq.scaled_sum) + t0;
  const int8_t* a = xq.q + t0 * kQuantGroup;
  const int64_t a_step = n * kQuantGroup;
  alignas(64) int32_t c0[kTileTokens * 16], c1[kTileTokens * 16];
  Accumulators acc;
  acc.zero();
  group_product<kC0, kA0, kB0>(a, p.b);
  for (int64_t g = 0; g < groups; g += 2) {
    if (g + 1 < groups) {
      group_product<kC1, kA1, kB1>(a + (g + 1) * a_step, p.b + (g + 1) * p.b_step);
    }
    tile_store<kC0>(c0, 64);
    add_group<kQ8>(c0, scales + g * n, offsets + g * n, p.blocks + g * p.block_bytes, acc.v);
    if (g + 2 < groups) {
      group_product<kC0, kA0, kB0>(a + (g + 2) * a_step, p.b + (g + 2) * p.b_step);
    }
    if (g + 1 < groups) {
      tile_store<kC1>(c1, 64);
      add_group<kQ8>(c1, scales + (g + 1) * n, offsets + (g + 1) * n,
                     p.blocks + (g + 1) * p.block_bytes, acc.v);
    }
  }
  acc.store(kTileTokens, rows, y, stride);
}

// The last tokens [t0, n), fewer than 16, on the tail tiles; the result rows past n - t0 stay
// zero and their scales are zero, so they add nothing.
template <bool kQ8>
DSV3_TARGET_AVX512 void tail_block(const WeightPanel& panel, const QuantizedActivations& xq,
                                   int64_t t0, float* y, int64_t stride, __mmask16 rows) {
  const WeightPanel p = panel;
  const int64_t n = xq.n, tokens = n - t0;
  const float* offsets = kQ8 ? xq.q8_offset : xq.scaled_sum;
  alignas(64) int32_t c[kTileTokens * 16] = {};
  alignas(64) float sx[kTileTokens] = {}, off[kTileTokens] = {};
  Accumulators acc;
  acc.zero();
  for (int64_t g = 0; g < xq.groups; ++g) {
    const int64_t at = g * n + t0;
    group_product<kCTail, kATail, kB0>(xq.q + at * kQuantGroup, p.b + g * p.b_step);
    tile_store<kCTail>(c, 64);
    std::copy_n(xq.scale + at, tokens, sx);
    std::copy_n(offsets + at, tokens, off);
    add_group<kQ8>(c, sx, off, p.blocks + g * p.block_bytes, acc.v);
  }
  acc.store(tokens, rows, y, stride);
}

// Rows [r0, r1) of y[xq.n, w.rows], any token count.
template <bool kQ8>
DSV3_TARGET_AVX512 void matmul_int8_amx(const Matrix& w, const QuantizedActivations& xq,
                                        float* y, int64_t r0, int64_t r1) {
  const int64_t full = xq.n / kTileTokens * kTileTokens, tail = xq.n - full;
  load_config(int8_config(tail));
  const int64_t block_bytes = quant_block_bytes(w.format);
  const int64_t tile_bytes = kQuantTileRows * format_row_bytes(w.format, w.cols);
  std::vector<uint8_t>& spread = spread_buffer();
  if (!kQ8 && int64_t(spread.size()) < xq.groups * kBBytes) spread.resize(xq.groups * kBBytes);
  for (int64_t r = r0; r < r1; r += kQuantTileRows) {
    const uint8_t* tile = w.data + (r / kQuantTileRows) * tile_bytes;
    WeightPanel p{.b = tile + 2 * kQuantTileRows, .b_step = block_bytes, .blocks = tile,
                  .block_bytes = block_bytes};
    if constexpr (!kQ8) {
      spread_q4(tile, xq.groups, block_bytes, spread.data());
      p.b = spread.data();
      p.b_step = kBBytes;
    }
    const __mmask16 rows = first_n(w.rows - r);
    for (int64_t t0 = 0; t0 < full; t0 += kTileTokens) {
      token_block<kQ8>(p, xq, t0, y + t0 * w.rows + r, w.rows, rows);
    }
    if (tail > 0) tail_block<kQ8>(p, xq, full, y + full * w.rows + r, w.rows, rows);
  }
  tile_release();
}

// The table's entries: the AMX product from kMinTokens tokens on, the kernel it replaced (the
// VNNI one) below.
detail::MatmulInt8Fn g_few_tokens[2] = {nullptr, nullptr};

template <bool kQ8>
void matmul_int8_dispatch(const Matrix& w, const QuantizedActivations& xq, float* y, int64_t r0,
                          int64_t r1) {
  if (xq.n < kMinTokens) return g_few_tokens[kQ8 ? 0 : 1](w, xq, y, r0, r1);
  matmul_int8_amx<kQ8>(w, xq, y, r0, r1);
}

}  // namespace

bool detail::cpu_has_amx_int8() { return cpuid_amx_int8(); }

bool detail::amx_int8_usable() {
  // Asked once: the permission is the process's, and the answer does not change.
  static const bool usable = cpu_has_avx512_base() && cpuid_amx_int8() && request_tile_state();
  return usable && !disabled_by_environment();
}

detail::MatmulInt8Fn detail::amx_matmul_int8(bool q8) {
  if (!amx_int8_usable()) return nullptr;
  return q8 ? &matmul_int8_amx<true> : &matmul_int8_amx<false>;
}

std::string detail::fill_x86_amx(KernelTable& t) {
  // Needs the VNNI kernels (and their activation quantizer) for few tokens.
  if (!t.matmul_int8[0] || !t.matmul_int8[1] || !amx_int8_usable()) return "";
  g_few_tokens[0] = t.matmul_int8[0];
  g_few_tokens[1] = t.matmul_int8[1];
  t.matmul_int8 = {&matmul_int8_dispatch<true>, &matmul_int8_dispatch<false>};
  return " +amx";
}

}  // namespace dsv3::kernels

#else  // not x86-64

namespace dsv3::kernels {
bool detail::cpu_has_amx_int8() { return false; }
bool detail::amx_int8_usable() { return false; }
detail::MatmulInt8Fn detail::amx_matmul_int8(bool) { return nullptr; }
std::string detail::fill_x86_amx(KernelTable&) { return ""; }
}  // namespace dsv3::kernels

#endif
