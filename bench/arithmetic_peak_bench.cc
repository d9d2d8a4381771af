// The arithmetic peak of one core for each kind of multiply-add the kernels could use: float32
// FMA, BF16 dot products (vdpbf16ps), FP16 FMA and int8 dot products (VNNI). Twelve
// independent accumulators hide the latencies, so each figure is the instruction's throughput.
// Training speed is bounded by these (the float32 products run at the FMA peak; BF16 pays only
// where vdpbf16ps is faster than it, which on some CPUs it is not).
//
//   dsv3_microbench --benchmark_filter=Peak
#if defined(__x86_64__)
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>

namespace dsv3 {
namespace {

constexpr int kChains = 12;
constexpr int64_t kSteps = 1 << 20;

void report(benchmark::State& state, double ops_per_update) {
  state.counters["GOP/s"] = benchmark::Counter(
      double(state.iterations()) * kSteps * kChains * ops_per_update / 1e9,
      benchmark::Counter::kIsRate);
}

// One benchmark per instruction: kChains accumulators, each updated kSteps times per
// iteration by UPDATE(acc); an operation is one multiply or one add. A macro and not a
// template, because the intrinsics need the function's own target attribute (a lambda or a
// template instantiated inside it does not inherit it).
#define DSV3_PEAK_BENCH(NAME, TARGET, FEATURE, ACC_TYPE, ZERO, SETUP, UPDATE, OPS)            \
  __attribute__((target(TARGET))) void NAME(benchmark::State& state) {                       \
    if (!__builtin_cpu_supports(FEATURE)) return state.SkipWithError("no " FEATURE);          \
    SETUP;                                                                                   \
    ACC_TYPE acc[kChains];                                                                   \
    for (auto& a : acc) a = ZERO;                                                            \
    for (auto _ : state) {                                                                   \
      for (int64_t i = 0; i < kSteps; ++i) {                                                 \
        for (auto& a : acc) a = UPDATE;                                                      \
      }                                                                                      \
      benchmark::DoNotOptimize(acc);                                                         \
    }                                                                                        \
    report(state, OPS);                                                                      \
  }                                                                                          \
  BENCHMARK(NAME)

DSV3_PEAK_BENCH(PeakF32Fma, "avx512f", "avx512f", __m512, _mm512_setzero_ps(),
                const __m512 x = _mm512_set1_ps(1.0001f), _mm512_fmadd_ps(x, x, a), 32);
DSV3_PEAK_BENCH(PeakBf16Dot, "avx512f,avx512bf16", "avx512bf16", __m512, _mm512_setzero_ps(),
                const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80),
                _mm512_dpbf16_ps(a, x, x), 64);
DSV3_PEAK_BENCH(PeakF16Fma, "avx512f,avx512fp16", "avx512fp16", __m512h, _mm512_setzero_ph(),
                const __m512h x = _mm512_set1_ph(_Float16(0.001f)), _mm512_fmadd_ph(x, x, a),
                64);
DSV3_PEAK_BENCH(PeakInt8Dot, "avx512f,avx512vnni", "avx512vnni", __m512i,
                _mm512_setzero_si512(), const __m512i x = _mm512_set1_epi8(1),
                _mm512_dpbusd_epi32(a, x, x), 128);

}  // namespace
}  // namespace dsv3
#endif  // __x86_64__
