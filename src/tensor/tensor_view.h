// A typed, shaped view of bytes that live elsewhere (usually a mapped checkpoint file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/matrix.h"

namespace dsv3 {

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // where it came from, for error messages
  // U8 bytes already in a tiled weight format (GGUF blocks repacked at load); unset for dsv3
  // q8 / q4 checkpoints, whose format config.json names.
  std::optional<WeightFormat> packed_format;

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
