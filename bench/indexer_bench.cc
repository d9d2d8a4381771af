// The lightning indexer's kernels at DeepSeek-V3.2's shape: scores of 64 FP8 heads of 128 dims
// against `positions` cached keys (kernels::index_scores) for one decode token, an MTP pair or
// a block of prompt rows, on the best target and on AVX2 (the FP8 matrix product path); and
// the top-2048 selection over a decode step's scores (kernels::select_top_positions).
//
//   [DSV3_THREADS=N] dsv3_microbench --benchmark_filter='IndexScores|SelectTop'
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "tensor/dtype.h"

namespace dsv3 {
namespace {

constexpr int64_t kDim = 128, kHeads = 64;

void BM_IndexScores(benchmark::State& state, std::string target) {
  const int64_t positions = state.range(0), queries = state.range(1);
  if (!kernels::force_target(target)) {
    state.SkipWithError(("target " + target + " is not available").c_str());
    return;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 40.0f);
  std::vector<uint8_t> codes(positions * kDim);
  for (auto& c : codes) c = kernels::fp8_e4m3_code(dist(rng));
  std::vector<float> q(queries * kHeads * kDim), weights(queries * kHeads), key_scales(positions),
      scores(queries * positions);
  for (auto& v : q) v = fp8_e4m3_to_f32(kernels::fp8_e4m3_code(dist(rng)));
  for (auto& w : weights) w = dist(rng) * 1e-3f;
  for (int64_t s = 0; s < positions; ++s) key_scales[s] = std::ldexp(1.0f, int(s % 7) - 10);
  const std::vector<float> unit((positions + 127) / 128, 1.0f);
  Matrix keys = matrix_view(WeightFormat::kFP8Block, positions, kDim, codes.data());
  keys.block_scales = unit.data();
  keys.block = 128;
  keys.scale_cols = 1;
  const kernels::IndexScoreArgs args{.q = q.data(), .weights = weights.data(), .queries = queries,
                                     .heads = kHeads, .keys = &keys,
                                     .key_scales = key_scales.data(), .scores = scores.data()};
  for (auto _ : state) {
    kernels::index_scores(args);
    benchmark::DoNotOptimize(scores.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2e-9 * double(queries * positions * kHeads * kDim) * double(state.iterations()),
      benchmark::Counter::kIsRate);
  state.SetLabel(kernels::active_target() + " threads=" + std::to_string(kernels::num_threads()));
  kernels::force_target("");
}

void BM_SelectTopPositions(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1);
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> scores(n);
  for (auto& s : scores) s = dist(rng);
  std::vector<int32_t> ids(k);
  for (auto _ : state) {
    kernels::select_top_positions(scores.data(), n, k, ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
}

const bool registered = [] {
  for (const std::string target : {"", "AVX2"}) {
    const std::string name = "IndexScores/" + (target.empty() ? std::string("best") : target);
    benchmark::RegisterBenchmark(name.c_str(), BM_IndexScores, target)
        ->ArgNames({"positions", "queries"})
        ->Args({32768, 1})
        ->Args({32768, 2})
        ->Args({4096, 64})
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("SelectTopPositions", BM_SelectTopPositions)
      ->ArgNames({"n", "k"})
      ->Args({32768, 2048})
      ->Args({131072, 2048});
  return true;
}();

}  // namespace
}  // namespace dsv3
