// Highway translation unit of the elementwise kernels: compiled once per target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/ops.cc"
#include "kernels/simd/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/dispatch.h"
#include "kernels/simd/ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace dsv3::kernels::HWY_NAMESPACE {

void FillOps(detail::KernelTable& t) {
  t.rmsnorm = &RmsNorm;
  t.softmax = &Softmax;
  t.silu_mul = &SiluMul;
  t.rope_interleaved = &RopeInterleaved;
  t.dot = &Dot;
  t.sum = &Sum;
  t.axpy = &Axpy;
  t.topk = &TopK;
}

}  // namespace dsv3::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv3::kernels {
HWY_EXPORT(FillOps);
void detail::fill_simd_ops(detail::KernelTable& t) { HWY_DYNAMIC_DISPATCH(FillOps)(t); }
}  // namespace dsv3::kernels
#endif
