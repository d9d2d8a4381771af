// What one parallel call of the kernels' thread pool costs when the tasks do nothing: posting
// the job, the workers joining it, taking tasks from the shared counter and the caller waiting
// for them (the barrier every parallel product ends with). A decode step makes about a dozen
// such calls per layer (docs/performance.md, "Threads, work split and memory placement"), so
// this times the number of calls bounds what the pool costs a token.
//
//   DSV3_THREADS=N dsv3_microbench --benchmark_filter=PoolRun
#include <benchmark/benchmark.h>

#include <cstdint>

#include "kernels/kernels.h"
#include "util/thread_pool.h"

namespace dsv3 {
namespace {

// Args: tasks per thread (the products use 4). Back to back, as in decode, so the workers are
// still spinning when the next call comes.
void PoolRun(benchmark::State& state) {
  ThreadPool& pool = kernels::thread_pool();
  const int64_t tasks = state.range(0) * pool.num_threads();
  for (auto _ : state) {
    pool.run(tasks, [](int64_t i) { benchmark::DoNotOptimize(i); });
  }
  state.counters["threads"] = double(pool.num_threads());
}
BENCHMARK(PoolRun)->Arg(1)->Arg(4)->UseRealTime();

}  // namespace
}  // namespace dsv3
