// Attention over the latent cache (kernels::latent_attention) for MLA's shapes: 576-wide rows,
// 512 value columns, 16 or 128 heads, per cache format; one decode token, or a prompt's pair
// of tokens sharing the rows they read (tokens = 2). The cache of
// one layer stays in L2 / L3 as it does between decode steps, so this is the kernel's compute
// rate.
//
//   [DSV3_THREADS=N] dsv3_microbench --benchmark_filter=LatentAttention
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "tensor/dtype.h"

namespace dsv3 {
namespace {

constexpr int64_t kWidth = 576, kValues = 512;

void BM_LatentAttention(benchmark::State& state, WeightFormat format) {
  const int64_t positions = state.range(0), heads = state.range(1), tokens = state.range(2);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(positions * kWidth), q(tokens * heads * kWidth),
      o(tokens * heads * kValues);
  for (auto& v : values) v = dist(rng);
  for (auto& v : q) v = dist(rng);
  std::vector<uint8_t> bytes(positions * kWidth * 4);
  std::vector<float> scales((positions + 127) / 128 * ((kWidth + 127) / 128), 1.0f);
  for (int64_t i = 0; i < positions * kWidth; ++i) {
    switch (format) {
      case WeightFormat::kBF16: {
        const uint16_t b = f32_to_bf16(values[i]);
        std::memcpy(&bytes[2 * i], &b, 2);
        break;
      }
      case WeightFormat::kFP8Block: bytes[i] = f32_to_fp8_e4m3(values[i]); break;
      default: std::memcpy(&bytes[4 * i], &values[i], 4); break;
    }
  }
  Matrix keys = matrix_view(format, positions, kWidth, bytes.data());
  if (format == WeightFormat::kFP8Block) {
    keys.block_scales = scales.data();
    keys.scale_cols = (kWidth + 127) / 128;
  }
  for (auto _ : state) {
    kernels::latent_attention(keys, q.data(), tokens, heads, 0.05f, kValues,
                              positions - tokens + 1, o.data());
    benchmark::DoNotOptimize(o.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2e-9 * double(tokens * positions * heads * (kWidth + kValues)) *
          double(state.iterations()),
      benchmark::Counter::kIsRate);
  state.SetLabel(kernels::active_target() + " threads=" + std::to_string(kernels::num_threads()));
}

const bool registered = [] {
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kFP8Block}) {
    const std::string name = "LatentAttention/" + std::string(format_name(f));
    benchmark::RegisterBenchmark(name.c_str(), BM_LatentAttention, f)
        ->ArgNames({"positions", "heads", "tokens"})
        ->Args({512, 16, 1})
        ->Args({512, 16, 2})
        ->Args({4096, 16, 1})
        ->Args({512, 128, 1})
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
}  // namespace dsv3
