// Small AVX-512 helpers shared by the kernels of kernels/x86/ that read our q8 / q4 tiles
// (layout in tensor/matrix.h: 16 rows in the lanes of each 64-byte vector). Include after
// <immintrin.h>, on x86-64 only.
#pragma once

#include <cstdint>

// The base every kernel of kernels/x86/ is compiled for (cpu_has_avx512_base()); functions
// compiled for more (VNNI, VBMI) can inline these.
#define DSV3_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
// The base plus VNNI (vpdpbusd): the int8-activation kernels of x86/vnni.cc and x86/kquant.cc.
#define DSV3_TARGET_AVX512_VNNI \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma")))

namespace dsv3::kernels::x86 {

// The first n of 16 lanes (none for n <= 0, all for n >= 16): a tile's rows that exist.
DSV3_TARGET_AVX512 inline __mmask16 first_n(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// 16 float16 values (a tile's per-row scales or offsets) as floats.
DSV3_TARGET_AVX512 inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Byte j of each 32-bit lane of v (column 4k + j of every row), as floats.
template <int kJ>
DSV3_TARGET_AVX512 inline __m512 byte_lanes(__m512i v) {
  const __m512i b = kJ == 0 ? v : _mm512_srli_epi32(v, 8 * kJ);
  return _mm512_cvtepi32_ps(kJ == 3 ? b : _mm512_and_si512(b, _mm512_set1_epi32(0xff)));
}

}  // namespace dsv3::kernels::x86
