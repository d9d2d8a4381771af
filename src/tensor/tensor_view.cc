#include "tensor/tensor_view.h"

namespace dsv3 {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string TensorView::shape_string() const { return dsv3::shape_string(shape); }

}  // namespace dsv3
