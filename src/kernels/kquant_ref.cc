// Scalar references of the k-quant kernels (kernels/kquant.h): plain loops over the tile
// layout of tensor/kquant.h, the yardstick of kernels/x86/kquant.cc.
#include <cstring>
#include <string>
#include <vector>

#include "kernels/kquant.h"
#include "kernels/ref.h"
#include "tensor/dtype.h"
#include "tensor/gguf_iq_grids.h"
#include "tensor/kquant.h"
#include "util/check.h"

namespace dsv3::kernels {

namespace {

float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// The 4-bit (Q4_K) or 6-bit (Q6_K) code of column c (0..31) of row i in group g's bytes q.
int nibble(const uint8_t* q, int64_t i, int64_t c) {
  return (q[64 * ((c % 16) / 4) + 4 * i + c % 4] >> (c < 16 ? 0 : 4)) & 15;
}
int q5_code(const uint8_t* q, int64_t i, int64_t c) {
  const int high = (q[256 + 4 * i + c % 4] >> ((c % 16) / 4 + (c < 16 ? 0 : 4))) & 1;
  return nibble(q, i, c) | high << 4;
}
int q6_code(const uint8_t* q, int64_t i, int64_t c) {
  const int high = (q[256 + 64 * (c / 16) + 4 * i + c % 4] >> (2 * ((c % 16) / 4))) & 3;
  return nibble(q, i, c) | high << 4;
}

// Row i of a super-block tile times token t's activations: the super-block's part of y.
// Q4_K and Q5_K (q5: codes of 5 bits).
float q4k_block_dot(const uint8_t* block, int64_t i, const QuantizedActivations& xq,
                    int64_t g0, int64_t t, bool q5) {
  const float d = load_f16(block + 2 * i), dmin = load_f16(block + kQ4KDmin + 2 * i);
  float acc = 0;
  for (int64_t g = 0; g < 8; ++g) {
    const int64_t at = (g0 + g) * xq.n + t;
    const int8_t* x = xq.q + at * kQuantGroup;
    const uint8_t* q = block + kQ4KQuants + (q5 ? kQ5KGroupBytes : kQ4KGroupBytes) * g;
    int32_t dot = 0;
    for (int64_t c = 0; c < kQuantGroup; ++c) dot += (q5 ? q5_code(q, i, c) : nibble(q, i, c)) * x[c];
    const float dl = d * float(block[kQ4KScales + 16 * g + i]);
    const float ml = dmin * float(block[kQ4KMins + 16 * g + i]);
    acc += dl * (xq.scale[at] * float(dot)) - ml * xq.scaled_sum[at];
  }
  return acc;
}

// The 2-bit code of column c (0..31) of row i in a kQ2K group's bytes q (kQ3K: its low bits).
int q2_code(const uint8_t* q, int64_t i, int64_t c) {
  return (q[64 * (c / 16) + 4 * i + c % 4] >> (2 * ((c % 16) / 4))) & 3;
}
int q3_code(const uint8_t* q, int64_t i, int64_t c) {
  const int high = (q[128 + 4 * i + c % 4] >> ((c % 16) / 4 + (c < 16 ? 0 : 4))) & 1;
  return q2_code(q, i, c) | high << 2;
}

// Q2_K, Q3_K and Q6_K: scales per half group h (16 columns), half_sums[2 at + h] = sx sum_h(xq).
float q2k_block_dot(const uint8_t* block, int64_t i, const QuantizedActivations& xq,
                    const float* half_sums, int64_t g0, int64_t t) {
  const float d = load_f16(block + 2 * i), dmin = load_f16(block + kQ2KDmin + 2 * i);
  float acc = 0;
  for (int64_t g = 0; g < 8; ++g) {
    const int64_t at = (g0 + g) * xq.n + t;
    const int8_t* x = xq.q + at * kQuantGroup;
    const uint8_t* q = block + kQ2KQuants + kQ2KGroupBytes * g;
    for (int64_t h = 0; h < 2; ++h) {
      int32_t dot = 0;
      for (int64_t c = 16 * h; c < 16 * h + 16; ++c) dot += q2_code(q, i, c) * x[c];
      const uint8_t sm = block[kQ2KScales + 16 * (2 * g + h) + i];
      const float dl = d * float(sm & 15), ml = dmin * float(sm >> 4);
      acc += dl * (xq.scale[at] * float(dot)) - ml * half_sums[2 * at + h];
    }
  }
  return acc;
}

// Q3_K and Q6_K: a signed scale per 16 columns, codes stored with `bias` added (4 or 32) and
// read by `code` from group g's bytes at quants + g * group_bytes.
float signed_kquant_block_dot(const uint8_t* block, int64_t i, const QuantizedActivations& xq,
                              const float* half_sums, int64_t g0, int64_t t, int64_t scales,
                              int64_t quants, int64_t group_bytes,
                              int (*code)(const uint8_t*, int64_t, int64_t), float bias) {
  const float d = load_f16(block + 2 * i);
  float acc = 0;
  for (int64_t g = 0; g < 8; ++g) {
    const int64_t at = (g0 + g) * xq.n + t;
    const int8_t* x = xq.q + at * kQuantGroup;
    const uint8_t* q = block + quants + group_bytes * g;
    for (int64_t h = 0; h < 2; ++h) {
      int32_t dot = 0;
      for (int64_t c = 16 * h; c < 16 * h + 16; ++c) dot += code(q, i, c) * x[c];
      const float dl = d * float(int8_t(block[scales + 16 * (2 * g + h) + i]));
      acc += dl * (xq.scale[at] * float(dot) - bias * half_sums[2 * at + h]);
    }
  }
  return acc;
}

// The i-quants' shared shape: per group g of the super-block row, the integer dot of the
// codes' values value(g, c) with the int8 activations, turned into floats by term(g, at, dot).
template <typename Value, typename Term>
float grouped_block_dot(const QuantizedActivations& xq, int64_t g0, int64_t t, Value value,
                        Term term) {
  float acc = 0;
  for (int64_t g = 0; g < 8; ++g) {
    const int64_t at = (g0 + g) * xq.n + t;
    const int8_t* x = xq.q + at * kQuantGroup;
    int32_t dot = 0;
    for (int64_t c = 0; c < kQuantGroup; ++c) dot += value(g, c) * x[c];
    acc += term(g, at, dot);
  }
  return acc;
}

// IQ4_XS: the codes' levels, a signed scale per group.
float iq4xs_block_dot(const uint8_t* block, int64_t i, const QuantizedActivations& xq, int64_t g0,
                      int64_t t) {
  const float d = load_f16(block + 2 * i);
  return grouped_block_dot(
      xq, g0, t,
      [&](int64_t g, int64_t c) {
        return int(kIq4nlValues[nibble(block + kIQ4XSQuants + kIQ4XSGroupBytes * g, i, c)]);
      },
      [&](int64_t g, int64_t at, int32_t dot) {
        const float dl = d * float(int8_t(block[kIQ4XSScales + 16 * g + i]));
        return dl * (xq.scale[at] * float(dot));
      });
}

// IQ2_XXS: grid values with their signs (small integers), a scale per group.
int iq2xxs_value(const uint8_t* q, int64_t i, int64_t c) {
  const int64_t bit = 64 * (c / 4) + 4 * i + c % 4;
  const int value = iq_tables::kIq2xxsGrid[q[16 * (c / 8) + i]][c % 8];
  return (q[kIQ2XXSSigns + bit / 8] >> (bit % 8)) & 1 ? -value : value;
}

float iq2xxs_block_dot(const uint8_t* block, int64_t i, const QuantizedActivations& xq,
                       int64_t g0, int64_t t) {
  const float d = load_f16(block + 2 * i);
  return grouped_block_dot(
      xq, g0, t,
      [&](int64_t g, int64_t c) {
        return iq2xxs_value(block + kIQ2XXSQuants + kIQ2XXSGroupBytes * g, i, c);
      },
      [&](int64_t g, int64_t at, int32_t dot) {
        const float db = d * (0.5f + float(block[kIQ2XXSScales + 16 * g + i])) * 0.25f;
        return db * (xq.scale[at] * float(dot));
      });
}

// IQ1_S: grid values -1, 0, 1 and a delta of +-1/8 per group: dl (sx dot + delta sx sum(xq)).
int iq1s_value(const uint8_t* q, int64_t i, int64_t c) {
  const int64_t l = c / 8;
  const int index =
      q[16 * l + i] | (((q[kIQ1SHigh + 16 * (l / 2) + i] >> (4 * (l % 2))) & 7) << 8);
  return iq_tables::kIq1sGrid[index][c % 8];
}

float iq1s_block_dot(const uint8_t* block, int64_t i, const QuantizedActivations& xq,
                     int64_t g0, int64_t t) {
  const float d = load_f16(block + 2 * i);
  return grouped_block_dot(
      xq, g0, t,
      [&](int64_t g, int64_t c) {
        return iq1s_value(block + kIQ1SQuants + kIQ1SGroupBytes * g, i, c);
      },
      [&](int64_t g, int64_t at, int32_t dot) {
        const uint8_t sd = block[kIQ1SScales + 16 * g + i];
        const float dl = d * float(2 * (sd & 7) + 1), delta = sd & 8 ? -0.125f : 0.125f;
        return dl * (xq.scale[at] * float(dot) + delta * xq.scaled_sum[at]);
      });
}

float block_dot(WeightFormat f, const uint8_t* block, int64_t i, const QuantizedActivations& xq,
                const float* half_sums, int64_t g0, int64_t t) {
  switch (f) {
    case WeightFormat::kQ2K: return q2k_block_dot(block, i, xq, half_sums, g0, t);
    case WeightFormat::kQ3K:
      return signed_kquant_block_dot(block, i, xq, half_sums, g0, t, kQ3KScales, kQ3KQuants,
                                     kQ3KGroupBytes, q3_code, 4.0f);
    case WeightFormat::kQ6K:
      return signed_kquant_block_dot(block, i, xq, half_sums, g0, t, kQ6KScales, kQ6KQuants,
                                     kQ6KGroupBytes, q6_code, 32.0f);
    case WeightFormat::kQ4K:
    case WeightFormat::kQ5K: return q4k_block_dot(block, i, xq, g0, t, f == WeightFormat::kQ5K);
    case WeightFormat::kIQ4XS: return iq4xs_block_dot(block, i, xq, g0, t);
    case WeightFormat::kIQ2XXS: return iq2xxs_block_dot(block, i, xq, g0, t);
    case WeightFormat::kIQ1S: return iq1s_block_dot(block, i, xq, g0, t);
    default: break;
  }
  DSV3_CHECK(false, "k-quant block product of %s, which is not a k-quant format",
             std::string(format_name(f)).c_str());
  return 0;
}

// Float32 activations: rows decoded, then dot products / axpys (any table).
void fallback_rows(const Matrix& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  float* row = detail::thread_scratch(0, size_t(w.cols));
  for (int64_t r = r0; r < r1; ++r) {
    decode_kquant_row(w, r, row);
    for (int64_t t = 0; t < n; ++t) {
      const float* xt = x + t * w.cols;
      float s = 0;
      for (int64_t c = 0; c < w.cols; ++c) s += row[c] * xt[c];
      y[t * w.rows + r] = s;
    }
  }
}

void fallback_cols(const Matrix& w, const float* x, int64_t n, float* y, int64_t c0, int64_t c1) {
  float* row = detail::thread_scratch(0, size_t(w.cols));
  for (int64_t t = 0; t < n; ++t) std::fill(y + t * w.cols + c0, y + t * w.cols + c1, 0.0f);
  for (int64_t r = 0; r < w.rows; ++r) {
    decode_kquant_row(w, r, row);
    for (int64_t t = 0; t < n; ++t) {
      const float a = x[t * w.rows + r];
      float* yt = y + t * w.cols;
      for (int64_t c = c0; c < c1; ++c) yt[c] += a * row[c];
    }
  }
}

}  // namespace

void detail::kquant_half_sums(const QuantizedActivations& xq, int64_t t0, int64_t t1,
                              float* half_sums) {
  for (int64_t g = 0; g < xq.groups; ++g) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t at = g * xq.n + t;
      const int8_t* x = xq.q + at * kQuantGroup;
      for (int64_t h = 0; h < 2; ++h) {
        int32_t sum = 0;
        for (int64_t c = 16 * h; c < 16 * h + 16; ++c) sum += x[c];
        half_sums[2 * at + h] = xq.scale[at] * float(sum);
      }
    }
  }
}

void ref::kquant_matmul_int8_rows(const Matrix& w, const QuantizedActivations& xq, float* y,
                                  int64_t r0, int64_t r1) {
  DSV3_CHECK(is_kquant(w.format) && xq.cols == w.cols && w.cols % kKQuantSuperBlock == 0);
  std::vector<float> half_sums(size_t(2 * xq.groups * xq.n));
  detail::kquant_half_sums(xq, 0, xq.n, half_sums.data());
  const int64_t blocks = w.cols / kKQuantSuperBlock, block_bytes = kquant_block_bytes(w.format);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* tile = w.data + (r / kQuantTileRows) * blocks * block_bytes;
    const int64_t i = r % kQuantTileRows;
    for (int64_t t = 0; t < xq.n; ++t) {
      float acc = 0;
      for (int64_t s = 0; s < blocks; ++s) {
        const uint8_t* block = tile + s * block_bytes;
        acc += block_dot(w.format, block, i, xq, half_sums.data(), 8 * s, t);
      }
      y[t * w.rows + r] = acc;
    }
  }
}

void ref::kquant_matmul_int8(const Matrix& w, const float* x, int64_t n, float* y) {
  const int64_t groups = (w.cols + kQuantGroup - 1) / kQuantGroup;
  std::vector<int8_t> q(size_t(n * groups * kQuantGroup));
  std::vector<float> scale(size_t(n * groups)), ssum(scale.size()), offset(scale.size());
  const QuantizedActivations xq{.n = n, .cols = w.cols, .groups = groups, .q = q.data(),
                                .scale = scale.data(), .scaled_sum = ssum.data(),
                                .q8_offset = offset.data()};
  ref::quantize_activations(x, 0, n, xq);
  kquant_matmul_int8_rows(w, xq, y, 0, w.rows);
}

void detail::fill_kquant_fallback(KernelTable& t, bool with_ref_int8) {
  for (WeightFormat f : kKQuantFormats) {
    FormatKernels& k = t.formats[int(f)];
    k = {.matmul_rows = &fallback_rows, .matmul_cols = &fallback_cols,
         .dequantize_row = &decode_kquant_row};
    if (with_ref_int8) k.matmul_int8 = &ref::kquant_matmul_int8_rows;
  }
}

}  // namespace dsv3::kernels
