// A typed, shaped view of bytes that live elsewhere (usually a mapped checkpoint file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace dsv3 {

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // where it came from, for error messages

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  // "[2048, 256]"
  std::string shape_string() const;
};

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace dsv3
