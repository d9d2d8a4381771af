#include "engine/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "kernels/kernels.h"

namespace dsv3 {

namespace {

// Runs fn(part) on `threads` threads at once (part 0 on the caller).
template <typename Fn>
void on_threads(int threads, const Fn& fn) {
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back([&fn, t] { fn(t); });
  fn(0);
  for (auto& th : pool) th.join();
}

}  // namespace

double measure_read_bandwidth(const BandwidthProbe& probe) {
  const int threads = std::max(1, probe.threads);
  const size_t floats = std::max<size_t>(probe.bytes / 4, size_t(threads) * 64);
  std::unique_ptr<float[]> buffer(new float[floats]);
  auto part = [&](int t) {
    return std::pair(floats * size_t(t) / size_t(threads), floats * size_t(t + 1) / size_t(threads));
  };
  // First touch from the thread that reads the part later (NUMA placement, page faults).
  on_threads(threads, [&](int t) {
    const auto [b, e] = part(t);
    for (size_t i = b; i < e; ++i) buffer[i] = float(i & 1023);
  });
  std::vector<float> sinks(size_t(threads) * 16);  // a cache line apart
  double best = 0.0;
  for (int run = 0; run < std::max(1, probe.runs); ++run) {
    const auto start = std::chrono::steady_clock::now();
    on_threads(threads, [&](int t) {
      const auto [b, e] = part(t);
      sinks[size_t(t) * 16] += kernels::sum(buffer.get() + b, int64_t(e - b));
    });
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const double s = std::chrono::duration<double>(elapsed).count();
    best = std::max(best, double(floats * 4) / s);
  }
  // Keep the sums observable so the reads cannot be optimised away.
  volatile float keep = 0;
  for (float v : sinks) keep = keep + v;
  return best;
}

}  // namespace dsv3
