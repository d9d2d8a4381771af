// The persistent thread pool the kernels split their work over.
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace dsv3 {
namespace {

TEST(ThreadPool, EveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 2, 7, 100, 1001}) {
      for (int64_t grain : {1, 3, 64}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          EXPECT_LE(e - b, grain);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
      }
    }
  }
}

TEST(ThreadPool, ManyCallsInARow) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int call = 0; call < 2000; ++call) {
    pool.run(4, [&](int64_t i) { sum.fetch_add(i + 1); });
  }
  EXPECT_EQ(sum.load(), 2000 * 10);
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.run(4, [&](int64_t) { pool.run(3, [&](int64_t) { inner.fetch_add(1); }); });
  EXPECT_EQ(inner.load(), 12);
}

// Idle workers go to sleep after ~200 us. Waking them for a job, and waking them to shut down,
// must never be missed: a lost wake-up hung the destructor's join() once.
void sleep_wake_and_shut_down(int rounds) {
  using std::chrono::milliseconds;
  for (int round = 0; round < rounds; ++round) {
    ThreadPool pool(2 + round % 2);
    std::this_thread::sleep_for(milliseconds(2));  // workers asleep
    std::mutex mutex;
    std::set<std::thread::id> helpers;
    pool.run(50, [&](int64_t) {
      std::this_thread::sleep_for(milliseconds(1));
      std::lock_guard<std::mutex> lock(mutex);
      helpers.insert(std::this_thread::get_id());
    });
    EXPECT_GT(helpers.size(), 1u) << "no sleeping worker woke up for the job, round " << round;
    std::this_thread::sleep_for(milliseconds(1 + round % 3));  // asleep again before shutdown
  }
}

TEST(ThreadPool, SleepingWorkersWakeForJobsAndForShutdown) {
  auto done = std::async(std::launch::async, [] { sleep_wake_and_shut_down(60); });
  if (done.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    std::fprintf(stderr, "thread pool hung: a sleeping worker missed its wake-up\n");
    std::abort();  // a hung thread cannot be joined; fail loudly instead of hanging ctest
  }
  done.get();
}

}  // namespace
}  // namespace dsv3
