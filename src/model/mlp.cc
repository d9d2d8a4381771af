#include "model/mlp.h"

#include <vector>

#include "kernels/kernels.h"

namespace dsv3 {

void mlp_forward(const MlpWeights& w, const float* x, int64_t T, Arena& arena, float* out) {
  const MlpRun run{.w = &w, .x = x, .n = T, .out = out};
  mlps_forward(std::span(&run, 1), arena);
}

void mlps_forward(std::span<const MlpRun> runs, Arena& arena) {
  Arena::Mark mark(arena);
  thread_local std::vector<kernels::MatmulJob> jobs;
  thread_local std::vector<float*> gates, ups;
  gates.resize(runs.size());
  ups.resize(runs.size());
  jobs.clear();
  for (size_t i = 0; i < runs.size(); ++i) {
    const MlpRun& r = runs[i];
    gates[i] = arena.floats(r.n * r.w->w1.rows);
    ups[i] = arena.floats(r.n * r.w->w3.rows);
    jobs.push_back({.w = &r.w->w1, .x = r.x, .n = r.n, .y = gates[i]});
    jobs.push_back({.w = &r.w->w3, .x = r.x, .n = r.n, .y = ups[i]});
  }
  kernels::matmul_batch(jobs);
  jobs.clear();
  for (size_t i = 0; i < runs.size(); ++i) {
    const MlpRun& r = runs[i];
    kernels::silu_mul(gates[i], ups[i], r.n * r.w->w1.rows, gates[i]);
    jobs.push_back({.w = &r.w->w2, .x = gates[i], .n = r.n, .y = r.out});
  }
  kernels::matmul_batch(jobs);
}

}  // namespace dsv3
