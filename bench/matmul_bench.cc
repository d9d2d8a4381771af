// Matrix products per weight format, decode (n = 1) and prefill-sized (n = 64), next to a plain
// read-bandwidth loop. Streaming decode reads more weight copies than the caches hold
// (rotating through them), so its bytes/s is a memory rate, comparable with the read loop.
//
//   [DSV3_THREADS=N] [DSV3_TARGET=NAME] dsv3_microbench --benchmark_filter=Matmul
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "tensor/dtype.h"
#include "tensor/gguf_blocks.h"
#include "tensor/kquant.h"
#include "tensor/quant.h"

namespace dsv3 {
namespace {

// Larger than the last-level cache (260 MB here) by a margin.
constexpr int64_t kFootprintBytes = int64_t(768) << 20;

// `copies` copies of one rows x cols matrix in `format`, back to back.
struct WeightSet {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  std::vector<Matrix> copies;
};

WeightSet make_weights(WeightFormat format, int64_t rows, int64_t cols, int64_t footprint) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> v(rows * cols);
  for (auto& x : v) x = dist(rng);
  const Matrix f32 = matrix_view(WeightFormat::kF32, rows, cols,
                                 reinterpret_cast<const uint8_t*>(v.data()));
  std::vector<uint8_t> one;
  switch (format) {
    case WeightFormat::kF32: one.assign(f32.data, f32.data + rows * cols * 4); break;
    case WeightFormat::kF16:
    case WeightFormat::kBF16:
      one.resize(rows * cols * 2);
      for (int64_t i = 0; i < rows * cols; ++i) {
        const uint16_t h = format == WeightFormat::kF16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
        std::memcpy(&one[2 * i], &h, 2);
      }
      break;
    case WeightFormat::kFP8Block:
      one.resize(rows * cols);
      for (int64_t i = 0; i < rows * cols; ++i) one[i] = f32_to_fp8_e4m3(v[i] * 10000.0f);
      break;
    case WeightFormat::kQ8:
    case WeightFormat::kQ4:
      one.resize(quantized_size(format, rows, cols));
      quantize_matrix(f32, format, one);
      break;
    case WeightFormat::kQ4K:
    case WeightFormat::kQ5K:
    case WeightFormat::kQ6K:
    case WeightFormat::kQ2K:
    case WeightFormat::kQ3K:
    case WeightFormat::kIQ4XS:
    case WeightFormat::kIQ2XXS:
    case WeightFormat::kIQ1S: {
      // GGUF blocks of the values, repacked as a GGUF file's are at load.
      const GgmlType type = kquant_source_type(format);
      std::vector<uint8_t> blocks(size_t(rows * ggml_row_bytes(type, cols)));
      for (int64_t r = 0; r < rows; ++r) {
        uint8_t* dst = blocks.data() + r * ggml_row_bytes(type, cols);
        encode_kquant_row(type, v.data() + r * cols, cols, dst);
      }
      one = repack_kquant(type, blocks.data(), rows, cols);
      break;
    }
  }
  WeightSet s;
  const int64_t n = std::max<int64_t>(1, footprint / int64_t(one.size()));
  s.bytes.resize(n * one.size());
  s.scales.assign(((rows + 127) / 128) * ((cols + 127) / 128), 1e-4f);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(s.bytes.data() + i * one.size(), one.data(), one.size());
    Matrix m = matrix_view(format, rows, cols, s.bytes.data() + i * one.size());
    if (format == WeightFormat::kFP8Block) {
      m.block_scales = s.scales.data();
      m.scale_cols = (cols + 127) / 128;
    }
    s.copies.push_back(m);
  }
  return s;
}

void BM_Matmul(benchmark::State& state, WeightFormat format) {
  const int64_t rows = state.range(0), cols = state.range(1), n = state.range(2);
  // stream = 1: rotate through more copies than the caches hold, so bytes/s is a memory rate.
  // stream = 0: one copy that stays in cache, which shows the kernel's compute ceiling.
  const bool stream = state.range(3) != 0;
  const WeightSet w = make_weights(format, rows, cols, stream ? kFootprintBytes : 0);
  std::vector<float> x(n * cols, 0.5f), y(n * rows);
  size_t i = 0;
  for (auto _ : state) {
    kernels::matmul(w.copies[i], x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % w.copies.size();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * w.copies[0].bytes());
  state.counters["GFLOP/s"] = benchmark::Counter(
      2e-9 * double(rows) * double(cols) * double(n) * double(state.iterations()),
      benchmark::Counter::kIsRate);
  state.SetLabel(kernels::active_target() + " threads=" + std::to_string(kernels::num_threads()));
}

// x^T W (the absorbed attention's probabilities times the latent cache, the MLA query
// absorption), from one copy that stays in cache.
void BM_MatmulTransposed(benchmark::State& state, WeightFormat format) {
  const int64_t rows = state.range(0), cols = state.range(1), n = state.range(2);
  const WeightSet w = make_weights(format, rows, cols, 0);
  std::vector<float> x(n * rows, 0.5f), y(n * cols);
  for (auto _ : state) {
    kernels::matmul_transposed(w.copies[0], x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2e-9 * double(rows) * double(cols) * double(n) * double(state.iterations()),
      benchmark::Counter::kIsRate);
  state.SetLabel(kernels::active_target() + " threads=" + std::to_string(kernels::num_threads()));
}

// Sums a float buffer larger than the caches with kernels::sum, split over the kernels'
// threads: the plain read rate the decode numbers are compared with (what dsv3 bench probes).
void BM_ReadBandwidth(benchmark::State& state) {
  const int64_t floats = kFootprintBytes / 4;
  std::vector<float> buf(floats);
  for (int64_t i = 0; i < floats; ++i) buf[i] = float(i & 1023);
  const int64_t grain = 1 << 18;
  for (auto _ : state) {
    std::vector<float> sums((floats + grain - 1) / grain);
    kernels::thread_pool().parallel_for(floats, grain, [&](int64_t b, int64_t e) {
      sums[b / grain] = kernels::sum(buf.data() + b, e - b);
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * kFootprintBytes);
  state.SetLabel("threads=" + std::to_string(kernels::num_threads()));
}

// With --benchmark_repetitions, also report the fastest repetition: on a shared machine the
// minimum is the run least disturbed by other processes.
double fastest(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

void register_all() {
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kFP8Block,
                         WeightFormat::kQ8}) {
    const std::string name = "MatmulTransposed/" + std::string(format_name(f));
    benchmark::RegisterBenchmark(name.c_str(), BM_MatmulTransposed, f)
        ->ArgNames({"rows", "cols", "n"})
        ->Args({2048, 576, 16})
        ->Args({512, 576, 1024})
        ->Args({128, 512, 1})
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("ReadBandwidth", BM_ReadBandwidth)
      ->UseRealTime()
      ->MinTime(1.0)
      ->ComputeStatistics("min", fastest);
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kF16, WeightFormat::kBF16,
                         WeightFormat::kFP8Block, WeightFormat::kQ8, WeightFormat::kQ4,
                         WeightFormat::kQ4K, WeightFormat::kQ5K, WeightFormat::kQ6K,
                         WeightFormat::kQ2K, WeightFormat::kQ3K, WeightFormat::kIQ4XS,
                         WeightFormat::kIQ2XXS, WeightFormat::kIQ1S}) {
    const std::string name = "Matmul/" + std::string(format_name(f));
    benchmark::RegisterBenchmark(name.c_str(), BM_Matmul, f)
        ->ArgNames({"rows", "cols", "n", "stream"})
        ->Args({2048, 2048, 1, 1})
        ->Args({2048, 512, 1, 1})
        ->Args({3072, 768, 1, 1})
        ->Args({32000, 2048, 1, 1})
        ->Args({512, 2048, 1, 1})
        ->Args({512, 2048, 1, 0})
        ->Args({1024, 1024, 1, 0})
        ->Args({2048, 2048, 64, 0})
        ->Args({512, 2048, 64, 0})
        ->Args({512, 2048, 72, 0})
        ->Args({2048, 512, 80, 0})
        ->Args({2048, 576, 16, 0})
        ->UseRealTime()
        ->ComputeStatistics("min", fastest);
  }
}

// Settings come from the environment because the binary's main() is BENCHMARK_MAIN (shared
// with the other bench/*.cc files): DSV3_THREADS=N, DSV3_TARGET=NAME (see
// kernels::available_targets()), DSV3_INT8=0 for float activations with q8 / q4.
void apply_environment() {
  if (const char* t = std::getenv("DSV3_THREADS")) kernels::set_num_threads(std::atoi(t));
  if (const char* t = std::getenv("DSV3_TARGET")) {
    if (!kernels::force_target(t)) std::fprintf(stderr, "DSV3_TARGET: no target %s\n", t);
  }
  if (const char* t = std::getenv("DSV3_INT8")) {
    kernels::set_matmul_options({.int8_activations = std::string(t) != "0"});
  }
}

const bool registered = [] {
  apply_environment();
  register_all();
  return true;
}();

}  // namespace
}  // namespace dsv3
