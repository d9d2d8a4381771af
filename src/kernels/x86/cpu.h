// What the kernels of kernels/x86/ need from the CPU, asked once per table build.
#pragma once

#if defined(__x86_64__)
namespace dsv3::kernels {

// AVX-512 F, BW, DQ and VL: the base every kernel of kernels/x86/ is compiled for.
inline bool cpu_has_avx512_base() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

}  // namespace dsv3::kernels
#endif
