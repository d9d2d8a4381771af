#include "engine/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace dsv3 {

namespace {

// Sum of n words with 4 independent accumulators so the loads, not the adds, set the pace;
// the compiler vectorises it.
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

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
  const size_t words = std::max<size_t>(probe.bytes / 8, size_t(threads) * 64);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
  auto part = [&](int t) {
    return std::pair(words * size_t(t) / size_t(threads), words * size_t(t + 1) / size_t(threads));
  };
  // First touch from the thread that reads the part later (NUMA placement, page faults).
  on_threads(threads, [&](int t) {
    const auto [b, e] = part(t);
    for (size_t i = b; i < e; ++i) buffer[i] = i;
  });
  std::vector<uint64_t> sinks(size_t(threads) * 8);  // a cache line apart
  double best = 0.0;
  for (int run = 0; run < std::max(1, probe.runs); ++run) {
    const auto start = std::chrono::steady_clock::now();
    on_threads(threads, [&](int t) {
      const auto [b, e] = part(t);
      sinks[size_t(t) * 8] += sum_words(buffer.get() + b, e - b);
    });
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const double s = std::chrono::duration<double>(elapsed).count();
    best = std::max(best, double(words * 8) / s);
  }
  // Keep the sums observable so the reads cannot be optimised away.
  volatile uint64_t keep = 0;
  for (uint64_t v : sinks) keep = keep + v;
  return best;
}

}  // namespace dsv3
