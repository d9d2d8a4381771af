// AVX-512 lightning-indexer scores (kernels::index_scores): every head of every query against
// every cached FP8 key, the ReLU-weighted sum over heads fused, with AVX512-BF16 dot products.
// Every e4m3 value is exactly a bfloat16, so are the queries (e4m3 values as floats), and the
// product of two e4m3 values is exact in float32: vdpbf16ps adds exact products into float32
// lanes, the same sums the generic path (an FP8 matrix product) makes, in another order.
//
// Layout. Lanes hold heads: per query, the heads' bf16 pairs of dims (2i, 2i+1) are laid out
// pair-major, 16 heads to a vector, heads padded with zero weights to a multiple of 16 (once
// per call). Keys are decoded from their codes into bf16 once per thread chunk (as
// kernels/x86/fp8.cc does it: vpermi2b tables, bytes unpacked into words), which leaves each
// 64-dim chunk's pairs in a fixed shuffled order; the queries are laid out in the same order.
// Then per dim pair one key dword is broadcast against the heads' vectors: 4 keys x up to 64
// heads in 16 accumulators, the ReLU and head weights applied at the end, one horizontal sum
// per key. A thread takes a chunk of keys, decodes it into its L2 once and runs every query of
// the call over it, so prompt rows are blocked: the keys are read once per call and chunk.
#include "kernels/dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/x86/cpu.h"
#include "tensor/dtype.h"
#include "util/thread_pool.h"

// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized once inlined (GCC PR 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define DSV3_TARGET_AVX512_BF16 \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512bf16,fma")))

namespace dsv3::kernels {
namespace {

constexpr int64_t kDimChunk = 64;      // codes decoded per step
constexpr int64_t kKeyGroup = 4;       // keys in registers at once
constexpr int64_t kMaxHeadVectors = 4;  // 16-head vectors in registers at once
// Keys a thread decodes and scores in one go: 64 KiB of bf16 keys (L2) at 128 dims.
constexpr int64_t kKeyChunk = 256;

// bf16 bytes of the 128 e4m3 magnitudes, and the dim pair each decoded dword holds.
struct Bf16Tables {
  alignas(64) uint8_t high[128];
  alignas(64) uint8_t low[128];
  // Dword j of a decoded 64-code chunk holds the bf16 pair of dims (pair[j], pair[j] + 1):
  // vpunpck{l,h}bw interleave the low and high halves of each 128-bit lane.
  int32_t pair[32];
  Bf16Tables() {
    for (int v = 0; v < 128; ++v) {
      const uint16_t b = f32_to_bf16(fp8_e4m3_to_f32(uint8_t(v)));
      high[v] = uint8_t(b >> 8);
      low[v] = uint8_t(b);
    }
    for (int j = 0; j < 32; ++j) pair[j] = 16 * ((j % 16) / 4) + 8 * (j / 16) + 2 * (j % 4);
  }
};
const Bf16Tables& tables() {
  static const Bf16Tables t;
  return t;
}

// n key rows of `dim` e4m3 codes into bf16 pairs in the decoded order; rows [n, padded) zero.
DSV3_TARGET_AVX512_BF16 void decode_keys(const uint8_t* codes, int64_t n, int64_t padded,
                                         int64_t dim, uint32_t* out) {
  const Bf16Tables& t = tables();
  const __m512i high0 = _mm512_load_si512(t.high), high1 = _mm512_load_si512(t.high + 64);
  const __m512i low0 = _mm512_load_si512(t.low), low1 = _mm512_load_si512(t.low + 64);
  const __m512i sign = _mm512_set1_epi8(char(0x80));
  for (int64_t i = 0; i < n * dim; i += kDimChunk) {
    const __m512i b = _mm512_loadu_si512(codes + i);
    // vpermi2b looks up the low 7 bits; the sign bit comes from the code (high |= b & 0x80).
    const __m512i high = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(high0, b, high1), b,
                                                   sign, 0xf8);
    const __m512i low = _mm512_permutex2var_epi8(low0, b, low1);
    _mm512_storeu_si512(out + i / 2, _mm512_unpacklo_epi8(low, high));
    _mm512_storeu_si512(out + i / 2 + 16, _mm512_unpackhi_epi8(low, high));
  }
  std::memset(out + n * dim / 2, 0, size_t((padded - n) * dim / 2) * sizeof(uint32_t));
}

// Per query: [pairs, head_vectors, 16] bf16 pairs in the keys' decoded order, and the head
// weights [head_vectors * 16] (zero for the padding heads).
struct QueryLayout {
  int64_t pairs, head_vectors;
  int64_t q_dwords() const { return pairs * head_vectors * 16; }
};

void lay_out_queries(const IndexScoreArgs& a, int64_t dim, const QueryLayout& l, uint32_t* q,
                     float* w) {
  const Bf16Tables& t = tables();
  const int64_t padded_heads = l.head_vectors * 16;
  for (int64_t qi = 0; qi < a.queries; ++qi) {
    uint32_t* qo = q + qi * l.q_dwords();
    std::fill(qo, qo + l.q_dwords(), 0u);
    for (int64_t p = 0; p < l.pairs; ++p) {
      const int64_t d = (p / 32) * kDimChunk + t.pair[p % 32];
      for (int64_t h = 0; h < a.heads; ++h) {
        const float* qh = a.q + (qi * a.heads + h) * dim;
        qo[p * padded_heads + h] = uint32_t(f32_to_bf16(qh[d])) | uint32_t(f32_to_bf16(qh[d + 1])) << 16;
      }
    }
    float* wo = w + qi * padded_heads;
    std::fill(wo, wo + padded_heads, 0.0f);
    std::copy_n(a.weights + qi * a.heads, a.heads, wo);
  }
}

// total[k] += sum over HV head vectors of w_h * relu(q_h . key_k), for kKeyGroup keys
// (rows of `pairs` dwords) and the head vectors [g0, g0 + HV) of a query.
template <int HV>
DSV3_TARGET_AVX512_BF16 inline void add_head_scores(const uint32_t* q, const float* w,
                                                    const QueryLayout& l, int64_t g0,
                                                    const uint32_t* keys, __m512* total) {
  __m512 acc[kKeyGroup][HV];
  for (auto& row : acc) {
    for (__m512& v : row) v = _mm512_setzero_ps();
  }
  const int64_t stride = l.head_vectors * 16;
  for (int64_t p = 0; p < l.pairs; ++p) {
    __m512i qv[HV];
    for (int g = 0; g < HV; ++g) qv[g] = _mm512_loadu_si512(q + p * stride + (g0 + g) * 16);
    for (int64_t k = 0; k < kKeyGroup; ++k) {
      const __m512i kv = _mm512_set1_epi32(int(keys[k * l.pairs + p]));
      for (int g = 0; g < HV; ++g) acc[k][g] = _mm512_dpbf16_ps(acc[k][g], (__m512bh)qv[g], (__m512bh)kv);
    }
  }
  for (int g = 0; g < HV; ++g) {
    const __m512 wg = _mm512_loadu_ps(w + (g0 + g) * 16);
    for (int64_t k = 0; k < kKeyGroup; ++k) {
      total[k] = _mm512_fmadd_ps(wg, _mm512_max_ps(acc[k][g], _mm512_setzero_ps()), total[k]);
    }
  }
}

// Scores of one query against the decoded keys [0, n) (rows padded to kKeyGroup).
DSV3_TARGET_AVX512_BF16 void score_query(const uint32_t* q, const float* w, const QueryLayout& l,
                                         const uint32_t* keys, const float* key_scales, int64_t n,
                                         float* out) {
  for (int64_t s = 0; s < n; s += kKeyGroup) {
    __m512 total[kKeyGroup];
    for (__m512& v : total) v = _mm512_setzero_ps();
    const uint32_t* group = keys + s * l.pairs;
    for (int64_t g0 = 0; g0 < l.head_vectors; g0 += kMaxHeadVectors) {
      switch (std::min(kMaxHeadVectors, l.head_vectors - g0)) {
        case 1: add_head_scores<1>(q, w, l, g0, group, total); break;
        case 2: add_head_scores<2>(q, w, l, g0, group, total); break;
        case 3: add_head_scores<3>(q, w, l, g0, group, total); break;
        default: add_head_scores<4>(q, w, l, g0, group, total); break;
      }
    }
    for (int64_t k = 0; k < kKeyGroup && s + k < n; ++k) {
      out[s + k] = _mm512_reduce_add_ps(total[k]) * key_scales[s + k];
    }
  }
}

void index_scores_avx512(const IndexScoreArgs& a) {
  const Matrix& keys = *a.keys;
  const int64_t n = keys.rows, dim = keys.cols;
  const QueryLayout l{.pairs = dim / 2, .head_vectors = (a.heads + 15) / 16};
  // Laid out once per call on the calling thread, grown once and kept (the workers see these
  // buffers through the pointers: thread_local names would be their own).
  thread_local std::vector<uint32_t> q_buffer;
  thread_local std::vector<float> w_buffer;
  q_buffer.resize(size_t(a.queries * l.q_dwords()));
  w_buffer.resize(size_t(a.queries * l.head_vectors * 16));
  const uint32_t* q = q_buffer.data();
  const float* w = w_buffer.data();
  lay_out_queries(a, dim, l, q_buffer.data(), w_buffer.data());
  const uint8_t* codes = static_cast<const uint8_t*>(keys.data);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  thread_pool().parallel_for(n, kKeyChunk, [&](int64_t s0, int64_t s1) {
    const int64_t count = s1 - s0;
    const int64_t padded = (count + kKeyGroup - 1) / kKeyGroup * kKeyGroup;
    uint32_t* decoded = reinterpret_cast<uint32_t*>(
        detail::thread_scratch(0, size_t(padded * l.pairs)));
    decode_keys(codes + s0 * dim, count, padded, dim, decoded);
    for (int64_t t = 0; t < a.queries; ++t) {
      float* out = a.scores + t * n;
      const int64_t visible = a.visible > 0 ? std::min(n, a.visible + t) : n;
      const int64_t end = std::clamp(visible, s0, s1);
      if (end > s0) {
        score_query(q + t * l.q_dwords(), w + t * l.head_vectors * 16, l, decoded,
                    a.key_scales + s0, end - s0, out + s0);
      }
      std::fill(out + end, out + s1, neg_inf);
    }
  });
}

}  // namespace

namespace detail {

std::string fill_x86_indexer(KernelTable& t) {
  if (!(cpu_has_avx512_base() && __builtin_cpu_supports("avx512vbmi") &&
        __builtin_cpu_supports("avx512bf16"))) {
    return "";
  }
  t.index_scores = &index_scores_avx512;
  return " +avx512bf16";
}

}  // namespace detail
}  // namespace dsv3::kernels

#else
namespace dsv3::kernels::detail {
std::string fill_x86_indexer(KernelTable&) { return ""; }
}  // namespace dsv3::kernels::detail
#endif
