// Kernels of the GGUF k-quant formats kQ2K .. kQ6K and of kIQ4XS, kIQ2XXS, kIQ1S
// (tensor/kquant.h): the scalar references (kernels/kquant_ref.cc) and the table fillers (the
// float fallback every table gets, the AVX-512 VNNI kernels of kernels/x86/kquant.cc).
//
// The int8 product is the one of our q4 (kernels.h, QuantizedActivations): activations
// quantized per group of 32, an integer dot product per group (Q2_K, Q3_K, Q6_K: per half
// group, their scales cover 16 columns), the block's own scales applied per group:
//   Q4_K, Q5_K: y += (d sc) (sx dot) - (dmin m) (sx sum(xq))
//   Q2_K: y += (d sc_h) (sx dot_h) - (dmin m_h) (sx sum_h(xq))
//   Q3_K: y += (d sc_h) (sx dot_h - 4 sx sum_h(xq))     (dot of the codes u = value + 4)
//   Q6_K: y += (d sc_h) (sx dot_h - 32 sx sum_h(xq))   for both halves h of the group
//   IQ4_XS: y += (d sc) (sx dot)                          (dot of the levels, not the codes)
//   IQ2_XXS: y += (d (0.5 + ls) 0.25) (sx dot)            (dot of the signed grid values)
//   IQ1_S: y += (d (2 s + 1)) (sx dot + delta sx sum(xq)) (dot of the grid values -1, 0, 1)
#pragma once

#include <cstdint>
#include <string>

#include "kernels/dispatch.h"

namespace dsv3::kernels {

namespace ref {
// Rows [r0, r1) of y[xq.n, w.rows] for k-quant weights.
void kquant_matmul_int8_rows(const Matrix& w, const QuantizedActivations& xq, float* y,
                             int64_t r0, int64_t r1);
// The whole product: activations quantized by ref::quantize_activations (allocates; tests).
void kquant_matmul_int8(const Matrix& w, const float* x, int64_t n, float* y);
}  // namespace ref

namespace detail {
// sx sum(xq) of each half group: half_sums[(g * xq.n + t) * 2 + h] for tokens [t0, t1) (what
// the Q2_K mins and the Q3_K / Q6_K zero points multiply, as scaled_sum is q4's).
void kquant_half_sums(const QuantizedActivations& xq, int64_t t0, int64_t t1, float* half_sums);
// Float32-activation kernels of the k-quants (decode a row, then dot products), so every table
// runs them; the ref table also gets the scalar int8 product.
void fill_kquant_fallback(KernelTable& t, bool with_ref_int8);
// The AVX-512 VNNI int8 products of the k-quants (kernels/x86/kquant.cc).
std::string fill_x86_kquant(KernelTable& t);
}  // namespace detail

}  // namespace dsv3::kernels
