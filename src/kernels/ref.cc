// Scalar reference kernels: plain loops, written to be obviously right. They are the fallback
// and the yardstick for every optimised kernel.
#include "kernels/ref.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/weight_codec.h"
#include "util/check.h"

namespace dsv3::kernels::ref {

void dequantize_row(const Matrix& w, int64_t r, float* out) { decode_row(w, r, out); }

void matmul(const Matrix& w, const float* x, int64_t n, float* y) {
  std::vector<float> row(w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row(w, r, row.data());
    for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = dot(row.data(), x + t * w.cols, w.cols);
  }
}

void matmul_transposed(const Matrix& w, const float* x, int64_t n, float* y) {
  std::fill_n(y, n * w.cols, 0.0f);
  std::vector<float> row(w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row(w, r, row.data());
    for (int64_t t = 0; t < n; ++t) axpy(x[t * w.rows + r], row.data(), y + t * w.cols, w.cols);
  }
}

void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const float inv = float(1.0 / std::sqrt(ss / double(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

void softmax(float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void rope_interleaved(float* x, const float* cos_sin, int64_t dim) {
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

float sum(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return float(s);
}

void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void topk(const float* x, int64_t n, int64_t k, int32_t* indices) {
  std::vector<int32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [x](int32_t a, int32_t b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  });
  std::copy_n(idx.begin(), k, indices);
}

void latent_attention(const Matrix& keys, const float* q, int64_t tokens, int64_t heads,
                      float scale, int64_t value_cols, int64_t visible, float* o) {
  const int64_t width = keys.cols;
  std::vector<float> rows(keys.rows * width), p(keys.rows);
  for (int64_t s = 0; s < keys.rows; ++s) dequantize_row(keys, s, rows.data() + s * width);
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t positions = visible + t;
    for (int64_t h = 0; h < heads; ++h) {
      const float* qh = q + (t * heads + h) * width;
      for (int64_t s = 0; s < positions; ++s) {
        p[s] = scale * dot(qh, rows.data() + s * width, width);
      }
      softmax(p.data(), positions);
      float* oh = o + (t * heads + h) * value_cols;
      std::fill_n(oh, value_cols, 0.0f);
      for (int64_t s = 0; s < positions; ++s) axpy(p[s], rows.data() + s * width, oh, value_cols);
    }
  }
}

void latent_attention_rows(const Matrix& keys, std::span<const int32_t> ids, const float* q,
                           int64_t heads, float scale, int64_t value_cols, float* o) {
  const int64_t n = int64_t(ids.size()), width = keys.cols;
  std::vector<float> rows(n * width);
  for (int64_t i = 0; i < n; ++i) dequantize_row(keys, ids[i], rows.data() + i * width);
  const Matrix gathered = matrix_view(WeightFormat::kF32, n, width,
                                      reinterpret_cast<const uint8_t*>(rows.data()));
  latent_attention(gathered, q, 1, heads, scale, value_cols, n, o);
}

void latent_attention_part(const Matrix& keys, const float* q, int64_t heads, float scale,
                           int64_t value_cols, int64_t s0, int64_t s1, int64_t visible,
                           float* max, float* sum, float* o) {
  const int64_t width = keys.cols, n = std::max<int64_t>(0, std::min(s1, visible) - s0);
  std::vector<float> rows(n * width), p(n);
  for (int64_t s = 0; s < n; ++s) dequantize_row(keys, s0 + s, rows.data() + s * width);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t s = 0; s < n; ++s) p[s] = scale * dot(q + h * width, rows.data() + s * width, width);
    // No visible row: the partial is empty (its weight in the merge is exp(-1e30 - max) = 0).
    max[h] = n > 0 ? *std::max_element(p.begin(), p.end()) : -1e30f;
    sum[h] = 0;
    float* oh = o + h * value_cols;
    std::fill_n(oh, value_cols, 0.0f);
    for (int64_t s = 0; s < n; ++s) {
      const float e = std::exp(p[s] - max[h]);
      sum[h] += e;
      axpy(e, rows.data() + s * width, oh, value_cols);
    }
  }
}

void quantize_activations(const float* x, int64_t t0, int64_t t1, const QuantizedActivations& out) {
  DSV3_CHECK(out.groups * kQuantGroup >= out.cols && t1 <= out.n);
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t g = 0; g < out.groups; ++g) {
      const int64_t c0 = g * kQuantGroup, len = std::min(kQuantGroup, out.cols - c0);
      const float* xg = x + t * out.cols + c0;
      const int64_t at = g * out.n + t;
      int8_t* q = out.q + at * kQuantGroup;
      float amax = 0;
      for (int64_t c = 0; c < len; ++c) amax = std::max(amax, std::fabs(xg[c]));
      // Multiply by the inverse and round to nearest even, exactly as the SIMD versions do,
      // so every target produces the same int8 values.
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      int sum = 0;
      for (int64_t c = 0; c < kQuantGroup; ++c) {
        q[c] = c < len ? int8_t(std::nearbyint(xg[c] * inv)) : 0;
        sum += q[c];
      }
      out.scale[at] = amax / 127.0f;
      out.scaled_sum[at] = amax / 127.0f * float(sum);
      out.q8_offset[at] = -128.0f * out.scaled_sum[at];
    }
  }
}

namespace {

template <typename Codec>
void int8_rows(const Matrix& w, const QuantizedActivations& xq, float* y, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t i = r % kQuantTileRows;
    for (int64_t t = 0; t < xq.n; ++t) {
      float acc = 0;
      for (int64_t g = 0; g < xq.groups; ++g) {
        const int64_t at = g * xq.n + t;
        const Int8Group x{.q = xq.q + at * kQuantGroup, .scale = xq.scale[at],
                          .scaled_sum = xq.scaled_sum[at], .q8_offset = xq.q8_offset[at]};
        acc += Codec::int8_dot(Codec::block(w.data, w.cols, r, g), i, x);
      }
      y[t * w.rows + r] = acc;
    }
  }
}

}  // namespace

void matmul_int8_rows(const Matrix& w, const QuantizedActivations& xq, float* y, int64_t r0,
                      int64_t r1) {
  DSV3_CHECK(xq.cols == w.cols);
  visit_format(w.format, [&]<typename Codec>(Codec) {
    if constexpr (Codec::kGroupQuantized) {
      int8_rows<Codec>(w, xq, y, r0, r1);
    } else {
      DSV3_CHECK(false, "int8 activations with %s weights", Codec::kName.data());
    }
  });
}

void matmul_int8(const Matrix& w, const float* x, int64_t n, float* y) {
  const int64_t groups = (w.cols + kQuantGroup - 1) / kQuantGroup;
  std::vector<int8_t> q(n * groups * kQuantGroup);
  std::vector<float> scale(n * groups), ssum(n * groups), offset(n * groups);
  const QuantizedActivations xq{.n = n, .cols = w.cols, .groups = groups, .q = q.data(),
                                .scale = scale.data(), .scaled_sum = ssum.data(),
                                .q8_offset = offset.data()};
  quantize_activations(x, 0, n, xq);
  matmul_int8_rows(w, xq, y, 0, w.rows);
}

}  // namespace dsv3::kernels::ref

namespace dsv3::kernels::ref {

void index_scores(const IndexScoreArgs& a) {
  const Matrix& keys = *a.keys;
  const int64_t dim = keys.cols;
  std::vector<float> key(dim);
  for (int64_t s = 0; s < keys.rows; ++s) {
    // Unit block scales: the row is the e4m3 values themselves.
    dequantize_row(keys, s, key.data());
    for (int64_t t = 0; t < a.queries; ++t) {
      double total = 0;
      for (int64_t h = 0; h < a.heads; ++h) {
        const float* q = a.q + (t * a.heads + h) * dim;
        double d = 0;  // exact: products of e4m3 values need 8 bits, their sum < 2^53
        for (int64_t i = 0; i < dim; ++i) d += double(q[i]) * double(key[i]);
        total += double(a.weights[t * a.heads + h]) * double(std::max(float(d), 0.0f));
      }
      a.scores[t * keys.rows + s] = float(total) * a.key_scales[s];
    }
  }
  if (a.visible > 0) {
    for (int64_t t = 0; t < a.queries; ++t) {
      const int64_t visible = std::min(keys.rows, a.visible + t);
      std::fill(a.scores + t * keys.rows + visible, a.scores + (t + 1) * keys.rows,
                -std::numeric_limits<float>::infinity());
    }
  }
}

void select_top_positions(const float* scores, int64_t n, int64_t k, int32_t* ids) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  auto better = [scores](int32_t a, int32_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  };
  std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), better);
  std::copy_n(order.begin(), k, ids);
  std::sort(ids, ids + k);
}

void hadamard_rotate(float* x, int64_t n) {
  std::vector<double> y(n, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < n; ++i) {
      y[j] += (std::popcount(uint64_t(i & j)) % 2 ? -1.0 : 1.0) * double(x[i]);
    }
  }
  const double scale = 1.0 / std::sqrt(double(n));
  for (int64_t j = 0; j < n; ++j) x[j] = float(y[j] * scale);
}

uint8_t fp8_e4m3_code(float f) { return f32_to_fp8_e4m3(f); }

}  // namespace dsv3::kernels::ref
