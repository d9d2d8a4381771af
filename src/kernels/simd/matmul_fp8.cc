// Highway translation unit of the fp8 matrix products (one per weight format keeps builds
// fast): compiled once per target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/matmul_fp8.cc"
#include "kernels/simd/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/simd/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace dsv3::kernels::HWY_NAMESPACE {

void FillMatmulFP8(detail::KernelTable& t) {
  t.formats[int(WeightFormat::kFP8Block)] = RowFormatKernels<FP8Dec>();
}

}  // namespace dsv3::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv3::kernels {
HWY_EXPORT(FillMatmulFP8);
void detail::fill_simd_matmul_fp8(detail::KernelTable& t) {
  HWY_DYNAMIC_DISPATCH(FillMatmulFP8)(t);
}
}  // namespace dsv3::kernels
#endif
