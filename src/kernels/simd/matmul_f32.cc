// Highway translation unit of the f32 matrix products (one per weight format keeps builds
// fast): compiled once per target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/matmul_f32.cc"
#include "kernels/simd/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/simd/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace dsv3::kernels::HWY_NAMESPACE {

void FillMatmulF32(detail::KernelTable& t) {
  t.formats[int(WeightFormat::kF32)] = RowFormatKernels<F32Dec>();
  FillGemmTokens(t);
}

}  // namespace dsv3::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv3::kernels {
HWY_EXPORT(FillMatmulF32);
void detail::fill_simd_matmul_f32(detail::KernelTable& t) {
  HWY_DYNAMIC_DISPATCH(FillMatmulF32)(t);
}
}  // namespace dsv3::kernels
#endif
