#include "train/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "util/check.h"

namespace dsv3::train {

namespace {

thread_local bool t_inside_task = false;

// How long an idle worker polls before sleeping: the next parallel region of a training
// step usually starts within a few microseconds.
constexpr auto kSpinTime = std::chrono::microseconds(100);

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  DSV3_CHECK(num_threads >= 1, "thread pool of %d threads", num_threads);
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::take_tasks() {
  t_inside_task = true;
  for (int64_t i; (i = next_task_.fetch_add(1, std::memory_order_relaxed)) < num_tasks_;) {
    (*task_)(i);
  }
  t_inside_task = false;
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
    for (int polls = 1; generation_.load(std::memory_order_acquire) == seen; ++polls) {
      cpu_relax();
      if (polls % 1024 == 0) std::this_thread::yield();  // let a descheduled caller run
      if (polls % 128 == 0 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleeping_;
        wake_.wait(lock, [&] { return generation_.load() != seen; });
        --sleeping_;
      }
    }
    seen = generation_.load(std::memory_order_acquire);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    take_tasks();
    unfinished_workers_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::run(int64_t num_tasks, CallRef<void(int64_t)> task) {
  if (num_tasks <= 0) return;
  if (workers_.empty() || num_tasks == 1 || t_inside_task) {
    const bool outer = t_inside_task;
    t_inside_task = true;
    for (int64_t i = 0; i < num_tasks; ++i) task(i);
    t_inside_task = outer;
    return;
  }
  task_ = &task;
  num_tasks_ = num_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  unfinished_workers_.store(int(workers_.size()), std::memory_order_relaxed);
  bool notify;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
    notify = sleeping_ > 0;
  }
  if (notify) wake_.notify_all();
  take_tasks();
  // Spin for the stragglers; past a few microseconds they are probably descheduled (a busy
  // machine), so give the core away instead of burning the time slice they need.
  for (int polls = 0; unfinished_workers_.load(std::memory_order_acquire) != 0; ++polls) {
    if (polls < 4096) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  task_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, CallRef<void(int64_t, int64_t)> body) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  run((n + grain - 1) / grain, [&](int64_t i) { body(i * grain, std::min(n, (i + 1) * grain)); });
}

}  // namespace dsv3::train
