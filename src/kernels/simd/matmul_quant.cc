// Highway translation unit of the float-activation path of our q8 / q4 formats (used where the
// CPU has no integer dot products, or when MatmulOptions::int8_activations is off): the tiles
// are decoded to float32 panels and go through the same blocked product as the other formats.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/matmul_quant.cc"
#include "kernels/simd/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/simd/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace dsv3::kernels::HWY_NAMESPACE {

inline float LoadF16(const uint8_t* p) { return f16_to_f32(uint16_t(p[0] | p[1] << 8)); }

// One (row, group) of a tile block as 32 floats; layouts in tensor/matrix.h. A row's bytes sit
// in runs of 4 consecutive columns (one per 64-byte column quad), so the work is done up to 4
// lanes at a time: a 4-byte load, widened, converted, scaled and stored as 4 floats.
template <bool kQ8>
HWY_INLINE void DecodeGroup(const uint8_t* block, int64_t i, float* out) {
  const hn::CappedTag<float, 4> d4;
  const hn::Rebind<int32_t, decltype(d4)> di;
  const hn::Rebind<uint8_t, decltype(d4)> d8;
  const int64_t N = int64_t(hn::Lanes(d4));
  const auto scale = hn::Set(d4, LoadF16(block + 2 * i));
  if constexpr (kQ8) {
    const uint8_t* q = block + 2 * kQuantTileRows + 4 * i;
    const auto zero = hn::Set(d4, 128.0f);
    for (int64_t k = 0; k < 8; ++k) {
      for (int64_t j = 0; j < 4; j += N) {
        const auto v = hn::ConvertTo(d4, hn::PromoteTo(di, hn::LoadU(d8, q + 64 * k + j)));
        hn::StoreU(hn::Mul(hn::Sub(v, zero), scale), d4, out + 4 * k + j);
      }
    }
  } else {
    const auto offset = hn::Set(d4, LoadF16(block + 2 * kQuantTileRows + 2 * i));
    const uint8_t* q = block + 4 * kQuantTileRows + 4 * i;
    const auto low4 = hn::Set(di, 15);
    for (int64_t k = 0; k < 4; ++k) {
      for (int64_t j = 0; j < 4; j += N) {
        const auto bytes = hn::PromoteTo(di, hn::LoadU(d8, q + 64 * k + j));
        const auto lo = hn::ConvertTo(d4, hn::And(bytes, low4));
        const auto hi = hn::ConvertTo(d4, hn::ShiftRight<4>(bytes));
        hn::StoreU(hn::MulAdd(lo, scale, offset), d4, out + 4 * k + j);
        hn::StoreU(hn::MulAdd(hi, scale, offset), d4, out + 16 + 4 * k + j);
      }
    }
  }
}

// c0 is a multiple of the group (32).
template <bool kQ8>
void DecodePanelQuant(const Matrix& w, int64_t r0, int64_t nr, int64_t c0, int64_t nc,
                      float* panel, int64_t ld) {
  const int64_t tile_bytes = kQuantTileRows * format_row_bytes(w.format, w.cols);
  const int64_t block_bytes = quant_block_bytes(w.format);
  float group[kQuantGroup];
  for (int64_t i = 0; i < nr; ++i) {
    const int64_t r = r0 + i;
    const uint8_t* tile = w.data + (r / kQuantTileRows) * tile_bytes;
    for (int64_t c = c0; c < c0 + nc; c += kQuantGroup) {
      DecodeGroup<kQ8>(tile + (c / kQuantGroup) * block_bytes, r % kQuantTileRows, group);
      std::copy_n(group, std::min(kQuantGroup, c0 + nc - c), panel + i * ld + (c - c0));
    }
  }
}

template <bool kQ8>
void MatmulRowsQuant(const Matrix& w, const float* x, int64_t n, float* y, int64_t r0,
                     int64_t r1) {
  if (n > kDotMaxTokens) return GemmRows(w, x, n, y, r0, r1, &DecodePanelQuant<kQ8>);
  PanelDotRows(w, x, n, y, r0, r1, &DecodePanelQuant<kQ8>);
}

template <bool kQ8>
detail::FormatKernels QuantFormatKernels() {
  return {.matmul_rows = &MatmulRowsQuant<kQ8>,
          .gemm_rows = &GemmRowsFor<&DecodePanelQuant<kQ8>>,
          .matmul_cols = &MatmulCols<&DecodePanelQuant<kQ8>>,
          .gemm_cols = &GemmColsFor<&DecodePanelQuant<kQ8>>,
          .dequantize_row = &DequantizeRow<&DecodePanelQuant<kQ8>>};
}

void FillMatmulQuant(detail::KernelTable& t) {
  t.formats[int(WeightFormat::kQ8)] = QuantFormatKernels<true>();
  t.formats[int(WeightFormat::kQ4)] = QuantFormatKernels<false>();
}

}  // namespace dsv3::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv3::kernels {
HWY_EXPORT(FillMatmulQuant);
void detail::fill_simd_matmul_quant(detail::KernelTable& t) {
  HWY_DYNAMIC_DISPATCH(FillMatmulQuant)(t);
}
}  // namespace dsv3::kernels
#endif
