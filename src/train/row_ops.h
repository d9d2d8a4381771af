// Row helpers for the templated layers: the float instantiation (training) goes to the SIMD
// loops of vec.h, the double one (gradient checks) stays plain.
#pragma once

#include <cstdint>
#include <type_traits>

#include "train/vec.h"

namespace dsv3::train {

// y[n] += a * x[n]
template <typename T>
void axpy(T a, const T* x, T* y, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    vec::axpy(a, x, y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
  }
}

template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    return vec::dot(a, b, n);
  } else {
    T s = 0;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
  }
}

}  // namespace dsv3::train
