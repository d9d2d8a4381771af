// Matrix products of the training code on OpenBLAS (cblas_sgemm / cblas_dgemm, Debian's
// libopenblas), split over our own thread pool: OpenBLAS runs single-threaded inside each task,
// so one pool owns both cores in every phase (products, per-expert work, element-wise loops).
// The double instantiation exists for the gradient checks.
#pragma once

#include <cstdint>
#include <string>

#include "util/thread_pool.h"

namespace dsv3::train {

// Must run before the first product (the training entry points call it): one OpenBLAS thread
// per call, and its AVX-512 kernels where its CPU detection fails. OpenBLAS 0.3.21 does not know
// newer Xeons (family 6 model 207 here) and falls back to its Prescott SSE3 kernels, 4x slower;
// we re-run its dispatch with OPENBLAS_CORETYPE set from the CPU's features. An
// OPENBLAS_CORETYPE from the environment is respected.
void init_blas();
// OpenBLAS's kernel family in use ("SkylakeX", "Haswell", ...).
std::string blas_core_name();

// Thread CPU seconds and flops of every product since the last reset, all threads together
// (counted only while enabled: the profile of `dsv3 train --profile`).
struct GemmStats {
  double seconds = 0, flops = 0;
  int64_t calls = 0;
};
void enable_gemm_stats(bool on);
GemmStats gemm_stats();
void reset_gemm_stats();

// C[m, n] = alpha * op(A) op(B) + beta * C, row-major. op(A) is [m, k]: A is stored [m, k]
// with row stride lda, or [k, m] when ta. op(B) is [k, n]: B is stored [k, n], or [n, k] when tb.
template <typename T>
struct Gemm {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  T alpha = 1;
  const T* a = nullptr;
  int64_t lda = 0;
  const T* b = nullptr;
  int64_t ldb = 0;
  T beta = 0;
  T* c = nullptr;
  int64_t ldc = 0;
};

// On the calling thread.
void gemm(const Gemm<float>& g);
void gemm(const Gemm<double>& g);

// Split over the pool along the larger of m and n into parts that depend on the shape only
// (each one single-threaded call), so the result does not depend on the thread count. With a
// null pool: one call on this thread.
template <typename T>
void gemm(ThreadPool* pool, const Gemm<T>& g);

}  // namespace dsv3::train
