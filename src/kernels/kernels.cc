// The public kernels: split the work over the thread pool and call the active table
// (kernels/dispatch.cc). Nothing here knows an instruction set.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "util/check.h"

namespace dsv3::kernels {

namespace {

using detail::active_table;

// Below this many multiply-adds a product runs on the calling thread: waking a worker costs
// about a microsecond, as much as ~10k multiply-adds.
constexpr int64_t kMinParallelWork = 16 * 1024;
// Tasks per thread: a few, so a thread slowed by another process does not hold up the rest.
constexpr int64_t kTasksPerThread = 4;
// Column splits of x^T W: whole FP8 blocks (128) and q8/q4 groups (32) so a task never
// splits one; 64 otherwise (a 576-wide latent then splits into 9 tasks, not 5 uneven ones).
int64_t column_grain(WeightFormat f) {
  return f == WeightFormat::kFP8Block ? 128 : is_quantized(f) ? kQuantGroup : 64;
}

struct PoolState {
  std::mutex mu;
  std::unique_ptr<ThreadPool> pool;
  std::atomic<ThreadPool*> current{nullptr};
};
PoolState& pool_state() {
  static PoolState s;
  return s;
}

std::atomic<bool> g_int8_activations{true};

// Runs body over [0, total) items in tasks of whole `unit`s (16-row tiles, 128-column blocks),
// on the pool when `work` (multiply-adds) is worth waking it. Inside a task of the pool (the
// absorbed attention's per-head products) the tasks would run one after the other on this
// thread: one call over everything does the same work without cutting the kernel's streams
// short (and its per-call setup, like the FP8 kernels' token reordering, is paid once).
void split(int64_t total, int64_t unit, int64_t work, FunctionRef<void(int64_t, int64_t)> body) {
  ThreadPool& pool = thread_pool();
  const int64_t units = (total + unit - 1) / unit;
  if (pool.num_threads() == 1 || work < kMinParallelWork || units <= 1 ||
      ThreadPool::inside_task()) {
    return body(0, total);
  }
  const int64_t tasks = std::min<int64_t>(units, pool.num_threads() * kTasksPerThread);
  const int64_t grain = (units + tasks - 1) / tasks;
  pool.parallel_for(units, grain, [&](int64_t b, int64_t e) {
    body(b * unit, std::min(total, e * unit));
  });
}

// Columns per task when transposing tokens, and what moving one float costs in multiply-adds
// (for the threading threshold).
constexpr int64_t kTransposeGrain = 256;
constexpr int64_t kTransposeCost = 16;
constexpr int64_t kQuantizeCost = 4;  // per activation quantized to int8

// The transposed tokens of the prefill product, per calling thread, grown once.
float* token_buffer(int64_t n) {
  thread_local std::vector<float> buf;
  if (int64_t(buf.size()) < n) buf.resize(n);
  return buf.data();
}

// Storage of an int8 copy of activations, grown once and kept.
struct ActivationScratch {
  std::vector<int8_t> q;
  std::vector<float> scale, scaled_sum, q8_offset;

  // Room for x[n, cols], as the view the kernels fill.
  QuantizedActivations view(int64_t n, int64_t cols) {
    const int64_t groups = (cols + kQuantGroup - 1) / kQuantGroup;
    if (int64_t(q.size()) < n * groups * kQuantGroup) q.resize(n * groups * kQuantGroup);
    if (int64_t(scale.size()) < n * groups) {
      scale.resize(n * groups);
      scaled_sum.resize(n * groups);
      q8_offset.resize(n * groups);
    }
    return {.n = n, .cols = cols, .groups = groups, .q = q.data(), .scale = scale.data(),
            .scaled_sum = scaled_sum.data(), .q8_offset = q8_offset.data()};
  }
};

// The int8 copy of matmul()'s activations, per calling thread.
QuantizedActivations activation_buffers(int64_t n, int64_t cols) {
  thread_local ActivationScratch s;
  return s.view(n, cols);
}

// Which kernel computes rows of y = x w^T for n tokens: int8 activations (q8 / q4 where the
// CPU has integer dot products and they are on), the prefill product on transposed tokens,
// or the few-token row kernels. Exactly one is set.
struct RowPath {
  detail::MatmulInt8Fn int8 = nullptr;
  detail::GemmRowsFn gemm = nullptr;
  detail::MatmulRowsFn rows = nullptr;
};

// The int8-activation kernel of w's format (KernelTable::matmul_int8: [0] q8, [1] q4), or
// null for formats that have none.
detail::MatmulInt8Fn int8_kernel(const detail::KernelTable& k, WeightFormat f) {
  switch (f) {
    case WeightFormat::kQ8: return k.matmul_int8[0];
    case WeightFormat::kQ4: return k.matmul_int8[1];
    case WeightFormat::kF32:
    case WeightFormat::kF16:
    case WeightFormat::kBF16:
    case WeightFormat::kFP8Block: return nullptr;
    case WeightFormat::kQ4K:
    case WeightFormat::kQ5K:
    case WeightFormat::kQ6K:
    case WeightFormat::kQ2K:
    case WeightFormat::kQ3K:
    case WeightFormat::kIQ4XS:
    case WeightFormat::kIQ2XXS:
    case WeightFormat::kIQ1S: return k.formats[int(f)].matmul_int8;
  }
  return nullptr;
}

RowPath row_path(const detail::KernelTable& k, const Matrix& w, int64_t n) {
  if (g_int8_activations.load(std::memory_order_relaxed)) {
    if (auto int8 = int8_kernel(k, w.format)) return {.int8 = int8};
  }
  const detail::FormatKernels& f = k.formats[int(w.format)];
  if (n >= k.gemm_min_tokens && f.gemm_rows) return {.gemm = f.gemm_rows};
  return {.rows = n <= detail::kMatvecMaxTokens && f.matvec_rows ? f.matvec_rows : f.matmul_rows};
}

}  // namespace

void set_num_threads(int n) {
  PoolState& s = pool_state();
  std::lock_guard<std::mutex> lock(s.mu);
  n = std::max(1, n);
  if (s.pool && s.pool->num_threads() == n) return;
  s.current.store(nullptr);
  s.pool = std::make_unique<ThreadPool>(n);
  s.current.store(s.pool.get());
}

ThreadPool& thread_pool() {
  PoolState& s = pool_state();
  if (ThreadPool* p = s.current.load(std::memory_order_acquire)) [[likely]] return *p;
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.pool) {
    s.pool = std::make_unique<ThreadPool>(std::max(1, int(std::thread::hardware_concurrency())));
    s.current.store(s.pool.get());
  }
  return *s.pool;
}

int num_threads() { return thread_pool().num_threads(); }

void set_matmul_options(const MatmulOptions& options) {
  g_int8_activations.store(options.int8_activations);
}

MatmulOptions matmul_options() { return {.int8_activations = g_int8_activations.load()}; }

void dequantize_row(const Matrix& w, int64_t r, float* out) {
  active_table().formats[int(w.format)].dequantize_row(w, r, out);
}

void matmul(const Matrix& w, const float* x, int64_t n, float* y) {
  if (n <= 0 || w.rows <= 0) return;
  const detail::KernelTable& k = active_table();
  const int64_t work = n * w.rows * w.cols;
  const RowPath path = row_path(k, w, n);
  if (path.int8) {
    const QuantizedActivations xq = activation_buffers(n, w.cols);
    split(n, 1, n * w.cols * kQuantizeCost,
          [&](int64_t t0, int64_t t1) { k.quantize_activations(x, t0, t1, xq); });
    split(w.rows, kQuantTileRows, work, [&](int64_t r0, int64_t r1) { path.int8(w, xq, y, r0, r1); });
  } else if (path.gemm) {
    // Tokens transposed once, shared by every thread's rows.
    float* xt = token_buffer(k.gemm_tokens_size(n, w.cols));
    split(w.cols, kTransposeGrain, n * w.cols * kTransposeCost,
          [&](int64_t k0, int64_t k1) { k.gemm_tokens(x, n, w.cols, k0, k1, xt); });
    split(w.rows, kQuantTileRows, work,
          [&](int64_t r0, int64_t r1) { path.gemm(w, xt, n, y, r0, r1); });
  } else {
    split(w.rows, kQuantTileRows, work,
          [&](int64_t r0, int64_t r1) { path.rows(w, x, n, y, r0, r1); });
  }
}

namespace {

// How one job of a batch computes a range of its rows.
struct JobPlan {
  const Matrix* w;
  const float* x;
  int64_t n;
  float* y;
  RowPath path;
  const float* xt = nullptr;  // path.gemm: the tokens, transposed
  QuantizedActivations xq;    // path.int8: the int8 activations
  int64_t tiles = 0;  // 16-row units
  int64_t cost = 0;   // multiply-adds per unit
};

// What must happen to a batch's inputs before any product starts: each distinct input is
// quantized to int8 or transposed for the prefill product once, shared by the jobs that read
// it (an expert's w1 and w3).
struct InputPrep {
  const float* x;
  int64_t n, cols;
  QuantizedActivations xq;  // quantize into this, or
  float* xt = nullptr;      // transpose into this
};

struct BatchScratch {
  std::vector<ActivationScratch> quantized;
  std::vector<std::vector<float>> transposed;
  std::vector<JobPlan> plans;
  std::vector<InputPrep> preps;
  std::vector<int64_t> start;  // cumulative work at each plan's start
};

BatchScratch& batch_scratch() {
  thread_local BatchScratch s;
  return s;
}

QuantizedActivations quantized_buffer(BatchScratch& s, size_t i, int64_t n, int64_t cols) {
  if (s.quantized.size() <= i) s.quantized.resize(i + 1);
  return s.quantized[i].view(n, cols);
}

float* transposed_buffer(BatchScratch& s, size_t i, int64_t floats) {
  if (s.transposed.size() <= i) s.transposed.resize(i + 1);
  if (int64_t(s.transposed[i].size()) < floats) s.transposed[i].resize(floats);
  return s.transposed[i].data();
}

// Fills s.plans (one per non-empty job) and s.preps (the inputs to prepare first).
void plan_jobs(std::span<const MatmulJob> jobs, BatchScratch& s) {
  s.plans.clear();
  s.preps.clear();
  const detail::KernelTable& k = active_table();
  size_t quantized = 0, transposed = 0;
  for (const MatmulJob& job : jobs) {
    const Matrix& w = *job.w;
    if (job.n <= 0 || w.rows <= 0) continue;
    JobPlan p{.w = &w, .x = job.x, .n = job.n, .y = job.y, .path = row_path(k, w, job.n)};
    auto same_input = [&](const JobPlan& q) {
      return q.x == job.x && q.n == job.n && q.w->cols == w.cols;
    };
    if (p.path.int8) {
      for (const JobPlan& q : s.plans) {
        if (q.path.int8 && same_input(q)) p.xq = q.xq;
      }
      if (!p.xq.q) {
        p.xq = quantized_buffer(s, quantized++, job.n, w.cols);
        s.preps.push_back({.x = job.x, .n = job.n, .cols = w.cols, .xq = p.xq});
      }
    } else if (p.path.gemm) {
      for (const JobPlan& q : s.plans) {
        if (q.path.gemm && same_input(q)) p.xt = q.xt;
      }
      if (!p.xt) {
        float* xt = transposed_buffer(s, transposed++, k.gemm_tokens_size(job.n, w.cols));
        p.xt = xt;
        s.preps.push_back({.x = job.x, .n = job.n, .cols = w.cols, .xt = xt});
      }
    }
    p.tiles = (w.rows + kQuantTileRows - 1) / kQuantTileRows;
    p.cost = job.n * w.cols * kQuantTileRows;
    s.plans.push_back(p);
  }
}

void run_prep(const InputPrep& prep) {
  const detail::KernelTable& k = active_table();
  if (prep.xt) {
    k.gemm_tokens(prep.x, prep.n, prep.cols, 0, prep.cols, prep.xt);
  } else {
    k.quantize_activations(prep.x, 0, prep.n, prep.xq);
  }
}

// Units [u0, u1) of a plan, in 16-row tiles.
void run_plan_tiles(const JobPlan& p, int64_t u0, int64_t u1) {
  const int64_t r0 = u0 * kQuantTileRows, r1 = std::min(p.w->rows, u1 * kQuantTileRows);
  if (p.path.int8) {
    p.path.int8(*p.w, p.xq, p.y, r0, r1);
  } else if (p.path.gemm) {
    p.path.gemm(*p.w, p.xt, p.n, p.y, r0, r1);
  } else {
    p.path.rows(*p.w, p.x, p.n, p.y, r0, r1);
  }
}

}  // namespace

void matmul_batch(std::span<const MatmulJob> jobs) {
  // References, not the thread_locals themselves, are what the workers' lambdas must see.
  BatchScratch& s = batch_scratch();
  plan_jobs(jobs, s);
  if (s.plans.empty()) return;
  ThreadPool& pool = thread_pool();
  const bool parallel = pool.num_threads() > 1;
  const std::vector<InputPrep>& preps = s.preps;
  if (parallel && preps.size() > 1) {
    pool.run(int64_t(preps.size()), [&](int64_t i) { run_prep(preps[size_t(i)]); });
  } else {
    for (const InputPrep& prep : preps) run_prep(prep);
  }
  const std::vector<JobPlan>& plans = s.plans;
  std::vector<int64_t>& start = s.start;
  start.assign(plans.size() + 1, 0);
  for (size_t j = 0; j < plans.size(); ++j) start[j + 1] = start[j] + plans[j].tiles * plans[j].cost;
  const int64_t total = start.back();
  // Runs the tiles whose work begins in [w0, w1).
  auto run_work = [&](int64_t w0, int64_t w1) {
    for (size_t j = 0; j < plans.size(); ++j) {
      const JobPlan& p = plans[j];
      const int64_t u0 = std::clamp((w0 - start[j] + p.cost - 1) / p.cost, int64_t(0), p.tiles);
      const int64_t u1 = std::clamp((w1 - start[j] + p.cost - 1) / p.cost, int64_t(0), p.tiles);
      if (u0 < u1) run_plan_tiles(p, u0, u1);
    }
  };
  if (!parallel || total < kMinParallelWork) return run_work(0, total);
  const int64_t tasks = pool.num_threads() * kTasksPerThread;
  pool.run(tasks, [&](int64_t i) { run_work(total * i / tasks, total * (i + 1) / tasks); });
}

void matmul_transposed(const Matrix& w, const float* x, int64_t n, float* y) {
  if (n <= 0 || w.cols <= 0) return;
  const detail::KernelTable& k = active_table();
  const detail::FormatKernels& f = k.formats[int(w.format)];
  const int64_t work = n * w.rows * w.cols;
  if (n >= k.gemm_min_tokens && f.gemm_cols) {
    float* xt = token_buffer(k.gemm_tokens_size(n, w.rows));
    split(w.rows, kTransposeGrain, n * w.rows * kTransposeCost,
          [&](int64_t k0, int64_t k1) { k.gemm_tokens(x, n, w.rows, k0, k1, xt); });
    split(w.cols, column_grain(w.format), work,
          [&](int64_t c0, int64_t c1) { f.gemm_cols(w, xt, n, y, c0, c1); });
    return;
  }
  split(w.cols, column_grain(w.format), work,
        [&](int64_t c0, int64_t c1) { f.matmul_cols(w, x, n, y, c0, c1); });
}

void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  active_table().rmsnorm(x, weight, n, eps, out);
}

void softmax(float* x, int64_t n) { active_table().softmax(x, n); }

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  active_table().silu_mul(gate, up, n, out);
}

void rope_interleaved(float* x, const float* cos_sin, int64_t dim) {
  active_table().rope_interleaved(x, cos_sin, dim);
}

float dot(const float* a, const float* b, int64_t n) { return active_table().dot(a, b, n); }

float sum(const float* x, int64_t n) { return active_table().sum(x, n); }

void axpy(float a, const float* x, float* y, int64_t n) { active_table().axpy(a, x, y, n); }

void topk(const float* x, int64_t n, int64_t k, int32_t* indices) {
  active_table().topk(x, n, k, indices);
}

namespace {

// Positions per task of latent_attention: fewer would spend more on each task's setup (the
// query transposed, the partial output written) than on its rows.
constexpr int64_t kMinAttentionPositions = 64;

// Partial softmaxes of the tasks, per calling thread, grown once.
std::vector<float>& attention_parts() {
  thread_local std::vector<float> parts;
  return parts;
}

// Combines the tasks' partial softmaxes of one token: each is rescaled to the largest maximum.
// parts: per task, max[heads], sum[heads], o[heads, value_cols], `stride` floats apart.
void merge_attention_parts(const float* parts, int64_t tasks, int64_t stride, int64_t heads,
                           int64_t value_cols, float* o) {
  for (int64_t h = 0; h < heads; ++h) {
    float max = parts[h];
    for (int64_t t = 1; t < tasks; ++t) max = std::max(max, parts[t * stride + h]);
    float* oh = o + h * value_cols;
    std::fill_n(oh, value_cols, 0.0f);
    float sum = 0;
    for (int64_t t = 0; t < tasks; ++t) {
      const float* part = parts + t * stride;
      const float weight = std::exp(part[h] - max);
      sum += weight * part[heads + h];
      axpy(weight, part + 2 * heads + h * value_cols, oh, value_cols);
    }
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < value_cols; ++c) oh[c] *= inv;
  }
}

}  // namespace

void latent_attention(const Matrix& keys, const float* q, int64_t tokens, int64_t heads,
                      float scale, int64_t value_cols, int64_t visible, float* o) {
  DSV3_CHECK(tokens > 0 && visible > 0 && visible + tokens - 1 <= keys.rows &&
                 value_cols <= keys.cols,
             "latent attention of %ld tokens seeing %ld+ of %ld rows of %ld", long(tokens),
             long(visible), long(keys.rows), long(keys.cols));
  const detail::KernelTable& k = active_table();
  const auto decode_row = k.formats[int(keys.format)].dequantize_row;
  ThreadPool& pool = thread_pool();
  const int64_t positions = visible + tokens - 1, part_floats = heads * (2 + value_cols);
  // One task per thread: each task pays for transposing the queries and writing its partial
  // outputs, which costs as much as ~50 positions. Inside a task of the pool (the tokens of a
  // prompt attending in parallel) there is one.
  const int64_t tasks =
      ThreadPool::inside_task()
          ? 1
          : std::clamp<int64_t>(positions / kMinAttentionPositions, 1, int64_t(pool.num_threads()));
  // Partial softmaxes: [token][task], each part_floats long.
  std::vector<float>& parts = attention_parts();
  if (int64_t(parts.size()) < tokens * tasks * part_floats) {
    parts.resize(size_t(tokens * tasks * part_floats));
  }
  float* p = parts.data();
  auto part = [&](int64_t task) {
    const int64_t s0 = positions * task / tasks, s1 = positions * (task + 1) / tasks;
    for (int64_t t0 = 0; t0 < tokens; t0 += detail::kMaxAttentionTokens) {
      const int64_t n = std::min(detail::kMaxAttentionTokens, tokens - t0);
      detail::LatentAttentionPart out[detail::kMaxAttentionTokens];
      for (int64_t t = 0; t < n; ++t) {
        float* part = p + ((t0 + t) * tasks + task) * part_floats;
        out[t] = {.max = part, .sum = part + heads, .o = part + 2 * heads};
      }
      k.latent_attention(keys, decode_row, q + t0 * heads * keys.cols, n, heads, scale,
                         value_cols, s0, s1, visible + t0, out);
    }
  };
  if (tasks == 1) {
    part(0);
  } else {
    pool.run(tasks, part);
  }
  for (int64_t t = 0; t < tokens; ++t) {
    merge_attention_parts(p + t * tasks * part_floats, tasks, part_floats, heads, value_cols,
                          o + t * heads * value_cols);
  }
}

namespace {

// Formats whose rows need nothing but their own bytes (no block scales by position).
bool rows_self_contained(WeightFormat f) {
  return f == WeightFormat::kF32 || f == WeightFormat::kBF16 || f == WeightFormat::kF16;
}

// Rows ids[i] of keys one after another in `buffer`: their bytes where rows are
// self-contained, float32 otherwise (an FP8 row's scales depend on where it is stored).
Matrix gather_rows(const Matrix& keys, std::span<const int32_t> ids, std::vector<uint8_t>& buffer) {
  const int64_t n = int64_t(ids.size());
  const WeightFormat f = rows_self_contained(keys.format) ? keys.format : WeightFormat::kF32;
  const size_t row_bytes = format_row_bytes(f, keys.cols);
  if (buffer.size() < size_t(n) * row_bytes) buffer.resize(size_t(n) * row_bytes);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* row = buffer.data() + size_t(i) * row_bytes;
    if (f == keys.format) {
      std::memcpy(row, keys.row_data(ids[size_t(i)]), row_bytes);
    } else {
      dequantize_row(keys, ids[size_t(i)], reinterpret_cast<float*>(row));
    }
  }
  return matrix_view(f, n, keys.cols, buffer.data());
}

}  // namespace

void latent_attention_rows(const Matrix& keys, std::span<const int32_t> ids, const float* q,
                           int64_t heads, float scale, int64_t value_cols, float* o) {
  const int64_t n = int64_t(ids.size());
  DSV3_CHECK(n > 0 && value_cols <= keys.cols, "latent attention over %ld rows of %ld columns",
             long(n), long(keys.cols));
  for (int32_t id : ids) {
    DSV3_CHECK(id >= 0 && id < keys.rows, "selected row %d of %ld", int(id), long(keys.rows));
  }
  const detail::KernelTable& k = active_table();
  const int64_t part_floats = heads * (2 + value_cols);
  const int64_t tasks =
      ThreadPool::inside_task()
          ? 1
          : std::clamp<int64_t>(n / kMinAttentionPositions, 1, int64_t(thread_pool().num_threads()));
  std::vector<float>& parts = attention_parts();
  if (int64_t(parts.size()) < tasks * part_floats) parts.resize(size_t(tasks * part_floats));
  float* p = parts.data();
  auto part = [&](int64_t task) {
    const int64_t i0 = n * task / tasks, i1 = n * (task + 1) / tasks;
    float* out = p + task * part_floats;
    const detail::LatentAttentionPart result{.max = out, .sum = out + heads, .o = out + 2 * heads};
    if (k.latent_attention_rows) {
      k.latent_attention_rows(keys, k.formats[int(keys.format)].dequantize_row, ids.data(), q,
                              heads, scale, value_cols, i0, i1, &result);
      return;
    }
    thread_local std::vector<uint8_t> buffer;
    const Matrix rows = gather_rows(keys, ids.subspan(size_t(i0), size_t(i1 - i0)), buffer);
    k.latent_attention(rows, k.formats[int(rows.format)].dequantize_row, q, 1, heads, scale,
                       value_cols, 0, rows.rows, rows.rows, &result);
  };
  if (tasks == 1) {
    part(0);
  } else {
    thread_pool().run(tasks, part);
  }
  merge_attention_parts(p, tasks, part_floats, heads, value_cols, o);
}

}  // namespace dsv3::kernels
