#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "util/check.h"

namespace dsv3 {

namespace {

// Set while a thread executes pool tasks, so nested parallel calls run inline instead of
// deadlocking on the pool they are already part of.
thread_local bool t_inside_task = false;

// How long an idle worker polls before sleeping. Decode issues a matrix product every few
// tens of microseconds; a futex wake costs about as much as a small product. After the first
// kPauseTime it polls with yields, so on a machine with more threads than cores the one it
// waits for (often the caller) gets the core.
constexpr auto kSpinTime = std::chrono::microseconds(200);
constexpr auto kPauseTime = std::chrono::microseconds(20);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  DSV3_CHECK(num_threads >= 1, "thread pool of %d threads", num_threads);
  workers_.reserve(num_threads - 1);
  // Workers start from epoch 0, not from whatever epoch they see once running: a job posted
  // before a worker got going must still count it in.
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(0); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  epoch_.store(++last_job_);
  wake_sleepers();
  for (auto& w : workers_) w.join();
}

void ThreadPool::wake_sleepers() {
  std::lock_guard<std::mutex> lock(sleep_mutex_);
  wake_.notify_all();
}

void ThreadPool::sleep_until_job_after(uint32_t seen) {
  // Handshake with run(): it stores the epoch, then reads sleeping_; we raise sleeping_, then
  // read the epoch (all seq_cst). Either run() sees a sleeper and notifies under the mutex, or
  // our predicate sees the new epoch, so no wake-up is lost. (A mutex and condition variable
  // rather than std::atomic::wait: GCC 12's atomic wait could miss the final notify and hang
  // the destructor's join.)
  std::unique_lock<std::mutex> lock(sleep_mutex_);
  sleeping_.fetch_add(1);
  wake_.wait(lock, [&] { return epoch_.load() != seen; });
  sleeping_.fetch_sub(1);
}

void ThreadPool::run_tasks() {
  t_inside_task = true;
  for (int64_t i; (i = next_task_.fetch_add(1, std::memory_order_relaxed)) < num_tasks_;) {
    (*task_)(i);
  }
  t_inside_task = false;
}

void ThreadPool::worker_loop(uint32_t seen) {
  for (;;) {
    // Spin first: the next job usually arrives within microseconds.
    const auto start = std::chrono::steady_clock::now();
    bool yielding = false;
    for (int polls = 0; epoch_.load(std::memory_order_acquire) == seen; ++polls) {
      if (yielding) {
        std::this_thread::yield();
      } else {
        cpu_relax();
      }
      if ((polls & 63) != 63) continue;
      const auto waited = std::chrono::steady_clock::now() - start;
      yielding = waited > kPauseTime;
      if (waited > kSpinTime) sleep_until_job_after(seen);
    }
    seen = epoch_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    // Join the job only while it is open: a worker that wakes after the caller has finished
    // every task and closed the job must not touch it (its task may be gone).
    uint64_t job = job_.load(std::memory_order_acquire);
    bool joined = false;
    while (uint32_t(job >> 32) == seen && !joined) {
      joined = job_.compare_exchange_weak(job, job + 1, std::memory_order_acq_rel);
    }
    if (!joined) continue;
    run_tasks();
    finished_workers_.fetch_add(1, std::memory_order_release);
  }
}

bool ThreadPool::inside_task() { return t_inside_task; }

void ThreadPool::run(int64_t num_tasks, FunctionRef<void(int64_t)> task) {
  if (num_tasks <= 0) return;
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (workers_.empty() || num_tasks == 1 || t_inside_task || !lock.owns_lock()) {
    const bool outer = t_inside_task;
    t_inside_task = true;
    for (int64_t i = 0; i < num_tasks; ++i) task(i);
    t_inside_task = outer;
    return;
  }
  if (++last_job_ == 0) ++last_job_;  // 0 marks "no job open"
  const uint32_t id = last_job_;
  task_ = &task;
  num_tasks_ = num_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  finished_workers_.store(0, std::memory_order_relaxed);
  job_.store(uint64_t(id) << 32, std::memory_order_release);  // open, nobody joined yet
  epoch_.store(id);  // seq_cst: pairs with the sleepers' handshake
  if (sleeping_.load() > 0) wake_sleepers();
  run_tasks();
  // Close the job; only the workers that joined it are waited for, so a worker that another
  // process keeps off its core does not hold up the caller once all tasks are done.
  const uint32_t joined = uint32_t(job_.exchange(0, std::memory_order_acq_rel));
  for (int polls = 0; finished_workers_.load(std::memory_order_acquire) != int(joined); ++polls) {
    if (polls < 1024) {
      cpu_relax();
    } else {
      std::this_thread::yield();  // the worker may have lost its core to another process
    }
  }
  task_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> body) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  run((n + grain - 1) / grain, [&](int64_t i) { body(i * grain, std::min(n, (i + 1) * grain)); });
}

}  // namespace dsv3
