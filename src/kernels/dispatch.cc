// Builds the kernel tables: one per target (the scalar reference, each Highway target the CPU
// runs, plus the AVX-512 intrinsics kernels on AVX-512 targets), each built once, on first use.
#include "kernels/dispatch.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "kernels/simd/hwy_config.h"
// clang-format off
#include "hwy/highway.h"
#include "hwy/targets.h"
// clang-format on
#include "kernels/kquant.h"
#include "kernels/ref.h"

namespace dsv3::kernels {

namespace {

using detail::KernelTable;

// The reference kernels on a range of rows / columns, so threads split them like the others.
void ref_matmul_rows(const Matrix& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  float* row = detail::thread_scratch(0, size_t(w.cols));
  for (int64_t r = r0; r < r1; ++r) {
    ref::dequantize_row(w, r, row);
    for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = ref::dot(row, x + t * w.cols, w.cols);
  }
}

void ref_matmul_cols(const Matrix& w, const float* x, int64_t n, float* y, int64_t c0, int64_t c1) {
  float* row = detail::thread_scratch(0, size_t(w.cols));
  for (int64_t t = 0; t < n; ++t) std::fill(y + t * w.cols + c0, y + t * w.cols + c1, 0.0f);
  for (int64_t r = 0; r < w.rows; ++r) {
    ref::dequantize_row(w, r, row);
    for (int64_t t = 0; t < n; ++t) {
      ref::axpy(x[t * w.rows + r], row + c0, y + t * w.cols + c0, c1 - c0);
    }
  }
}

void ref_latent_attention(const Matrix& keys, detail::DequantizeRowFn, const float* q,
                          int64_t tokens, int64_t heads, float scale, int64_t value_cols,
                          int64_t s0, int64_t s1, int64_t visible,
                          const detail::LatentAttentionPart* out) {
  for (int64_t t = 0; t < tokens; ++t) {
    ref::latent_attention_part(keys, q + t * heads * keys.cols, heads, scale, value_cols, s0, s1,
                               visible + t, out[t].max, out[t].sum, out[t].o);
  }
}

std::unique_ptr<KernelTable> build_ref_table() {
  auto t = std::make_unique<KernelTable>();
  t->name = "ref";
  for (auto& f : t->formats) {
    f = {.matmul_rows = &ref_matmul_rows, .matmul_cols = &ref_matmul_cols,
         .dequantize_row = &ref::dequantize_row};
  }
  t->matmul_int8 = {&ref::matmul_int8_rows, &ref::matmul_int8_rows};
  detail::fill_kquant_fallback(*t, /*with_ref_int8=*/true);
  t->quantize_activations = &ref::quantize_activations;
  t->rmsnorm = &ref::rmsnorm;
  t->softmax = &ref::softmax;
  t->silu_mul = &ref::silu_mul;
  t->rope_interleaved = &ref::rope_interleaved;
  t->dot = &ref::dot;
  t->sum = &ref::sum;
  t->axpy = &ref::axpy;
  t->topk = &ref::topk;
  t->latent_attention = &ref_latent_attention;
  return t;
}

std::unique_ptr<KernelTable> build_simd_table(int64_t target) {
  auto t = std::make_unique<KernelTable>();
  t->name = hwy::TargetName(target);
  // Highway's dynamic dispatch follows the supported-target mask: narrow it to `target` while
  // the fillers pick their function pointers, then restore it.
  hwy::SetSupportedTargetsForTest(target);
  detail::fill_simd_ops(*t);
  detail::fill_simd_latent_attention(*t);
  detail::fill_simd_matmul_f32(*t);
  detail::fill_simd_matmul_f16(*t);
  detail::fill_simd_matmul_bf16(*t);
  detail::fill_simd_matmul_fp8(*t);
  detail::fill_simd_matmul_quant(*t);
  detail::fill_kquant_fallback(*t, /*with_ref_int8=*/false);
  hwy::SetSupportedTargetsForTest(0);
  if (target == HWY_AVX3 || target == HWY_AVX3_DL) {
    t->name += detail::fill_x86_vnni(*t);
    t->name += detail::fill_x86_fp8(*t);
    t->name += detail::fill_x86_quant_cols(*t);
    t->name += detail::fill_x86_quant_rows(*t);
    t->name += detail::fill_x86_amx(*t);
    t->name += detail::fill_x86_indexer(*t);
    t->name += detail::fill_x86_kquant(*t);
  }
  return t;
}

std::vector<int64_t> highway_targets() { return hwy::SupportedAndGeneratedTargets(); }

struct Registry {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<KernelTable>> tables;  // kept: pointers stay valid
  std::atomic<const KernelTable*> active{nullptr};

  // Builds (once) and returns the table of target `name`, or null if there is no such target.
  const KernelTable* get(std::string_view name) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = tables.find(std::string(name));
    if (it != tables.end()) return it->second.get();
    std::unique_ptr<KernelTable> t;
    if (name == "ref") {
      t = build_ref_table();
    } else {
      for (int64_t target : highway_targets()) {
        if (name == hwy::TargetName(target)) t = build_simd_table(target);
      }
    }
    if (!t) return nullptr;
    return tables.emplace(std::string(name), std::move(t)).first->second.get();
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string best_target() {
  const auto targets = highway_targets();
  return targets.empty() ? "ref" : hwy::TargetName(targets.front());
}

}  // namespace

std::vector<std::string> available_targets() {
  std::vector<std::string> names;
  for (int64_t target : highway_targets()) names.emplace_back(hwy::TargetName(target));
  names.emplace_back("ref");
  return names;
}

bool force_target(std::string_view name) {
  const KernelTable* t = registry().get(name.empty() ? best_target() : name);
  if (t) registry().active.store(t, std::memory_order_release);
  return t != nullptr;
}

std::string active_target() { return detail::active_table().name; }

namespace detail {

const KernelTable& active_table() {
  const KernelTable* t = registry().active.load(std::memory_order_acquire);
  if (t) [[likely]] return *t;
  force_target("");
  return *registry().active.load(std::memory_order_acquire);
}

float* thread_scratch(int slot, size_t n) {
  thread_local std::vector<float> slots[4];
  std::vector<float>& v = slots[slot];
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace detail
}  // namespace dsv3::kernels
