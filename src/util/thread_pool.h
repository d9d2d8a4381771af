// A persistent pool of worker threads for data-parallel loops (matrix products, per-expert
// work). Workers are started once; a parallel call costs a few atomic operations, not a
// thread creation. Idle workers spin briefly (decode issues matrix products back to back),
// then sleep on a condition variable so an idle engine uses no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace dsv3 {

// A non-owning reference to a callable: passing a lambda to the pool allocates nothing.
// The callable must outlive the call it is passed to.
template <class Sig>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT(google-explicit-constructor): used like std::function
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* obj, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(obj))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

class ThreadPool {
 public:
  // num_threads counts the calling thread: a pool of 2 starts one worker.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return int(workers_.size()) + 1; }
  // Whether the calling thread is running a task of some pool (where a parallel call would
  // run serially).
  static bool inside_task();

  // Runs task(i) for every i in [0, num_tasks) and returns when all have finished. The caller
  // and the workers take tasks in order from a shared counter, so a slow thread (another
  // process on its core) delays only its own task. A call made from inside a task, or while
  // another thread is using the pool, runs serially on the calling thread.
  void run(int64_t num_tasks, FunctionRef<void(int64_t)> task);

  // body(begin, end) over [0, n) in chunks of `grain` elements (the last one may be shorter).
  void parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> body);

 private:
  void worker_loop(uint32_t seen);
  void run_tasks();
  void sleep_until_job_after(uint32_t seen);
  void wake_sleepers();

  std::vector<std::thread> workers_;
  std::mutex busy_;  // one parallel call at a time
  // The job being run; written by the caller before `epoch_` is bumped.
  FunctionRef<void(int64_t)>* task_ = nullptr;
  int64_t num_tasks_ = 0;
  uint32_t last_job_ = 0;  // id of the latest job (ids start at 1)
  alignas(64) std::atomic<int64_t> next_task_{0};
  // (id of the open job) << 32 | (workers that joined it); 0 when no job is open.
  alignas(64) std::atomic<uint64_t> job_{0};
  alignas(64) std::atomic<int> finished_workers_{0};
  alignas(64) std::atomic<uint32_t> epoch_{0};  // the latest job id
  std::atomic<int> sleeping_{0};  // workers asleep on wake_
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
};

}  // namespace dsv3
