// Highway translation unit of the bf16 matrix products (one per weight format keeps builds
// fast): compiled once per target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/matmul_bf16.cc"
#include "kernels/simd/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/simd/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace dsv3::kernels::HWY_NAMESPACE {

void FillMatmulBF16(detail::KernelTable& t) {
  t.formats[int(WeightFormat::kBF16)] = RowFormatKernels<BF16Dec>();
}

}  // namespace dsv3::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv3::kernels {
HWY_EXPORT(FillMatmulBF16);
void detail::fill_simd_matmul_bf16(detail::KernelTable& t) {
  HWY_DYNAMIC_DISPATCH(FillMatmulBF16)(t);
}
}  // namespace dsv3::kernels
#endif
