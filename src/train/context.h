// What every training layer needs besides its weights and inputs. Activations are rows of
// [batch * seq, width]: `batch` sequences of `seq` tokens, attention staying inside each.
#pragma once

#include <cstdint>

#include "model/config.h"
#include "model/rope.h"
#include "train/profile.h"
#include "util/arena.h"
#include "util/thread_pool.h"

namespace dsv3::train {

struct TrainContext {
  const ModelConfig* config = nullptr;
  const RopeTable* rope = nullptr;  // covers positions [0, seq)
  ThreadPool* pool = nullptr;       // may be null: everything runs on the calling thread
  Arena* arena = nullptr;           // backward scratch, released by Arena::Mark
  int64_t batch = 0;
  int64_t seq = 0;
  Profile* profile = nullptr;  // may be null
  // Query rows per causal attention block: blocks above the diagonal are skipped (~3/8 of the
  // score products at 256 tokens); smaller blocks skip more in smaller products.
  int64_t attention_block = 64;
  int64_t tokens() const { return batch * seq; }
  float eps() const { return float(config->rms_norm_eps); }
};

// n elements of T from the arena (64-byte aligned, uninitialised). Allocate on the calling
// thread, before a parallel region: the arena is not thread-safe.
template <typename T>
T* scratch(Arena& arena, int64_t n) {
  static_assert(sizeof(T) % sizeof(float) == 0);
  return reinterpret_cast<T*>(arena.floats(size_t(n) * (sizeof(T) / sizeof(float))));
}

// body(begin, end) over [0, n) in chunks of `grain`, on the pool or, without one, inline.
template <typename F>
void parallel_for(ThreadPool* pool, int64_t n, int64_t grain, F&& body) {
  if (n <= 0) return;
  if (!pool || n <= grain) return body(int64_t(0), n);
  pool->parallel_for(n, grain, body);
}

// task(i) for i in [0, n), on the pool or inline.
template <typename F>
void parallel_tasks(ThreadPool* pool, int64_t n, F&& task) {
  if (!pool) {
    for (int64_t i = 0; i < n; ++i) task(i);
    return;
  }
  pool->run(n, task);
}

}  // namespace dsv3::train
