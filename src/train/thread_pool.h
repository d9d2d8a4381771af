// The training code's persistent worker threads. (src/util/thread_pool.h has the same shape;
// its workers can hang on shutdown once they have gone to sleep, GCC 12's atomic wait, so the
// trainer keeps this mutex/condition-variable one until that is settled.)
// Idle workers spin briefly for the next job (training issues hundreds of parallel regions
// per step), then sleep on a condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace dsv3::train {

// A non-owning reference to a callable (no allocation per parallel call).
template <class Sig>
class CallRef;

template <class R, class... Args>
class CallRef<R(Args...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, CallRef>>>
  CallRef(F&& f)  // NOLINT(google-explicit-constructor)
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

  // task(i) for every i in [0, num_tasks), handed out in order from a shared counter; returns
  // when all are done. Called from inside a task, it runs serially on the calling thread.
  void run(int64_t num_tasks, CallRef<void(int64_t)> task);

  // body(begin, end) over [0, n) in chunks of `grain` (the last one may be shorter).
  void parallel_for(int64_t n, int64_t grain, CallRef<void(int64_t, int64_t)> body);

 private:
  void worker_loop();
  void take_tasks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  int sleeping_ = 0;   // guarded by mutex_
  bool stop_ = false;  // guarded by mutex_
  CallRef<void(int64_t)>* task_ = nullptr;
  int64_t num_tasks_ = 0;
  alignas(64) std::atomic<uint64_t> generation_{0};  // bumped (under mutex_) once per job
  alignas(64) std::atomic<int64_t> next_task_{0};
  alignas(64) std::atomic<int> unfinished_workers_{0};
};

}  // namespace dsv3::train
