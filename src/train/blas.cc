#include "train/blas.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <cstdlib>
#include <mutex>

#include "util/check.h"

// OpenBLAS's runtime dispatch (exported by its DYNAMIC_ARCH builds, as Debian's).
extern "C" void gotoblas_dynamic_init(void);
extern "C" void gotoblas_dynamic_quit(void);

namespace dsv3::train {

namespace {

// The OpenBLAS kernel family this CPU can run, from its features, or null.
const char* core_for_this_cpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

// Families OpenBLAS falls back to when it does not recognise a CPU.
bool is_fallback_core(const std::string& name) {
  return name == "Prescott" || name == "Core2" || name == "Nehalem" || name == "Penryn" ||
         name == "Dunnington" || name == "Atom" || name == "Katmai" || name == "Banias";
}

}  // namespace

void init_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* core = core_for_this_cpu();
    if (!std::getenv("OPENBLAS_CORETYPE") && core && is_fallback_core(blas_core_name())) {
      setenv("OPENBLAS_CORETYPE", core, 1);
      gotoblas_dynamic_quit();
      gotoblas_dynamic_init();
    }
    openblas_set_num_threads(1);
  });
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

namespace {

std::atomic<bool> g_stats_on{false};
std::mutex g_stats_mutex;
GemmStats g_stats;

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Times one product when stats are on.
class StatsScope {
 public:
  StatsScope(int64_t m, int64_t n, int64_t k)
      : on_(g_stats_on.load(std::memory_order_relaxed)),
        flops_(2.0 * double(m) * double(n) * double(k)),
        start_(on_ ? thread_cpu_seconds() : 0) {}
  ~StatsScope() {
    if (!on_) return;
    const double s = thread_cpu_seconds() - start_;
    std::lock_guard<std::mutex> lock(g_stats_mutex);
    g_stats.seconds += s;
    g_stats.flops += flops_;
    ++g_stats.calls;
  }

 private:
  bool on_;
  double flops_, start_;
};

}  // namespace

void enable_gemm_stats(bool on) { g_stats_on.store(on); }
GemmStats gemm_stats() {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  return g_stats;
}
void reset_gemm_stats() {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  g_stats = {};
}

void gemm(const Gemm<float>& g) {
  if (g.m == 0 || g.n == 0) return;
  StatsScope stats(g.m, g.n, g.k);
  cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans,
              int(g.m), int(g.n), int(g.k), g.alpha, g.a, int(g.lda), g.b, int(g.ldb), g.beta, g.c,
              int(g.ldc));
}

void gemm(const Gemm<double>& g) {
  if (g.m == 0 || g.n == 0) return;
  cblas_dgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans,
              int(g.m), int(g.n), int(g.k), g.alpha, g.a, int(g.lda), g.b, int(g.ldb), g.beta, g.c,
              int(g.ldc));
}

template <typename T>
void gemm(ThreadPool* pool, const Gemm<T>& g) {
  const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
  if (!pool || flops < 1 << 18 || std::max(g.m, g.n) < 32) return gemm(g);
  // About 8 parts of a multiple of 16 rows or columns (full micro-kernel tiles), chosen from
  // the shape alone: OpenBLAS picks its kernels by size, so parts that depended on the thread
  // count would change the rounding with it.
  const bool split_m = g.m >= g.n;
  const int64_t extent = split_m ? g.m : g.n;
  const int64_t part = std::max<int64_t>(64, (extent / 8 + 15) / 16 * 16);
  const int64_t parts = (extent + part - 1) / part;
  pool->run(parts, [&](int64_t p) {
    const int64_t begin = p * part, count = std::min(part, extent - begin);
    Gemm<T> s = g;
    if (split_m) {
      s.m = count;
      s.a = g.ta ? g.a + begin : g.a + begin * g.lda;
      s.c = g.c + begin * g.ldc;
    } else {
      s.n = count;
      s.b = g.tb ? g.b + begin * g.ldb : g.b + begin;
      s.c = g.c + begin;
    }
    gemm(s);
  });
}

template void gemm<float>(ThreadPool*, const Gemm<float>&);
template void gemm<double>(ThreadPool*, const Gemm<double>&);

}  // namespace dsv3::train
